"""Leg 2 through a run: the settlement account's camt.053 against the clearing it is owed."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from reconciliation.models import Clearing, Discrepancy, RunStatus, StatementFile
from reconciliation.parties import parse_party
from reconciliation.services import runs
from reconciliation.statements import statement_store
from sandboxes.banks.camt053 import render_camt053

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
DAY = date(2026, 11, 25)
PLATFORM_ACCOUNT = "33001616727053000099"


@pytest.fixture
def owed(department, settings) -> Clearing:
    settings.RECONCILIATION = {
        **settings.RECONCILIATION,
        "processor_accounts": {PLATFORM_ACCOUNT: "public_platform"},
    }
    return Clearing.objects.create(
        business_date=date(2026, 11, 24),
        processor="public_platform",
        department=department,
        settlement_date=DAY,
        payments_count=2,
        payments_amount=6000,
        refunds_amount=1000,
        fees_amount=0,
        net_amount=5000,
    )


def bank_run(account: str, *credits: int):
    entries = pd.DataFrame(
        {
            "amount": list(credits),
            "value_date": [pd.Timestamp(DAY)] * len(credits),
            "bank_ref": [f"CR{n}" for n in range(len(credits))],
            "counterparty_account": [PLATFORM_ACCOUNT] * len(credits),
            "counterparty_name": ["统一公共支付平台"] * len(credits),
            "description": ["清算款"] * len(credits),
        }
    )
    party = parse_party(f"bank:icbc:{account}")
    statement_store(
        party=party,
        business_date=DAY,
        content=render_camt053(entries, account, DAY),
        source=StatementFile.Source.UPLOADED,
    )
    run = runs.run_request(business_date=DAY, party_code=party.code, actor="user:test")
    return runs.run_execute(run_id=run.pk)


def test_a_clearing_credited_in_full_is_marked_arrived(owed):
    run = bank_run(owed.department.settlement_account_number, 3000, 2000)

    assert run.status == RunStatus.SUCCEEDED, run.error
    owed.refresh_from_db()
    assert (owed.arrival, owed.credited_amount) == (Clearing.Arrival.ARRIVED, 5000)
    assert sorted(owed.bank_refs) == ["CR0", "CR1"]
    assert not Discrepancy.objects.exists()


def test_a_short_credit_is_a_settlement_mismatch(owed):
    run = bank_run(owed.department.settlement_account_number, 4900)

    assert run.status == RunStatus.SUCCEEDED, run.error
    [item] = Discrepancy.objects.all()
    assert (item.type, item.our_amount, item.their_amount) == ("settlement_mismatch", 5000, 4900)
    assert item.owner == "treasury"
    owed.refresh_from_db()
    assert (owed.arrival, owed.credited_amount) == (Clearing.Arrival.MISMATCH, 4900)
