"""Leg 6 through a run: the remittances from a settlement account against the debits of its
statement, and each remittance as the statement showed it."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
from django.utils import timezone

from closing.models import (
    Remittance,
    RemittanceStatus,
    ReportStatus,
    SettlementReport,
)
from closing.services.remittances import remittances_record_statement
from reconciliation.models import Discrepancy, DiscrepancyStatus, RunStatus, StatementFile
from reconciliation.parties import all_parties, parse_party
from reconciliation.services import runs
from reconciliation.statements import statement_store
from sandboxes.banks.camt053 import render_camt053
from tests.closing.conftest import DAY, SETTLEMENT_ACCOUNT, TREASURY

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
PARTY = f"remittance:icbc:{SETTLEMENT_ACCOUNT}"
NEXT = DAY + timedelta(days=1)


def remitted(department, amount: int = 4950) -> Remittance:
    """An approved report of DAY and the remittance it ordered for execution on DAY."""
    report = SettlementReport.objects.create(
        department=department,
        business_date=DAY - timedelta(days=1),
        status=ReportStatus.APPROVED,
        collected=amount,
        net=amount,
        generated_at=timezone.now(),
        prepared_by="user:clerk",
        approved_by="user:approver",
    )
    return Remittance.objects.create(
        report=report,
        department=department,
        business_date=report.business_date,
        amount=amount,
        debtor_bank="icbc",
        debtor_account=SETTLEMENT_ACCOUNT,
        creditor_kind="treasury",
        creditor_account=TREASURY["account"],
        creditor_name=TREASURY["name"],
        execution_date=DAY,
    )


def statement(day, *debits: tuple[int, str]) -> None:
    """The account's statement of ``day`` with these debits (fen, description), each paid to
    the treasury, stored as the bank party's file."""
    entries = pd.DataFrame(
        {
            "amount": [-fen for fen, _ in debits],
            "value_date": [pd.Timestamp(day)] * len(debits),
            "bank_ref": [f"DR{day:%d}{n}" for n in range(len(debits))],
            "counterparty_account": [TREASURY["account"]] * len(debits),
            "counterparty_name": [TREASURY["name"]] * len(debits),
            "description": [text for _, text in debits],
        }
    )
    statement_store(
        party=parse_party(f"bank:icbc:{SETTLEMENT_ACCOUNT}"),
        business_date=day,
        content=render_camt053(entries, SETTLEMENT_ACCOUNT, day),
        source=StatementFile.Source.UPLOADED,
    )


def reconciled(day):
    run = runs.run_request(business_date=day, party_code=PARTY, actor="user:test")
    run = runs.run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    remittances_record_statement(run_id=run.pk)
    return run


def found(**filters) -> list[tuple]:
    return list(
        Discrepancy.objects.filter(party=PARTY, **filters)
        .order_by("id")
        .values_list("type", "our_ref", "our_amount", "their_amount", "status")
    )


def test_a_remittance_on_its_days_statement_is_seen(department):
    ours = remitted(department)
    statement(DAY, (4950, f"{ours.end_to_end_id} 缴库 SCJG01"))

    run = reconciled(DAY)

    assert PARTY in {party.code for party in all_parties()}
    assert found() == []
    assert run.totals["matched"] == {"count": 1, "amount": 4950}
    ours.refresh_from_db()
    assert (ours.status, ours.seen_on, ours.seen_amount, ours.bank_ref) == (
        RemittanceStatus.SEEN,
        DAY,
        4950,
        "DR250",
    )


def test_a_remittance_missing_past_its_window_is_overdue_until_it_arrives(department):
    ours = remitted(department)
    statement(DAY)
    statement(NEXT)
    statement(NEXT + timedelta(days=1), (4950, f"缴库 {ours.end_to_end_id.lower()}"))

    reconciled(DAY)
    ours.refresh_from_db()
    assert ours.status == RemittanceStatus.INSTRUCTED and found() == []  # on its way

    reconciled(NEXT)
    ours.refresh_from_db()
    assert (ours.status, ours.overdue_on) == (RemittanceStatus.OVERDUE, NEXT)
    assert found() == [("missing_in_channel", ours.end_to_end_id, 4950, None, "open")]
    reconciled(NEXT)  # the date again: the same finding, kept
    assert len(found()) == 1

    reconciled(NEXT + timedelta(days=1))
    ours.refresh_from_db()
    assert (ours.status, ours.seen_on) == (RemittanceStatus.SEEN, NEXT + timedelta(days=1))
    assert found() == [
        ("missing_in_channel", ours.end_to_end_id, 4950, None, DiscrepancyStatus.AUTO_RESOLVED)
    ]


def test_a_remittance_debited_with_another_amount_is_a_mismatch(department):
    ours = remitted(department)
    statement(DAY, (4900, ours.end_to_end_id))

    reconciled(DAY)

    assert found() == [("amount_mismatch", ours.end_to_end_id, 4950, 4900, "open")]
    ours.refresh_from_db()
    assert (ours.status, ours.seen_amount) == (RemittanceStatus.MISMATCH, 4900)


def test_a_corrected_statement_of_the_bank_is_read_when_the_date_is_run_again(department):
    ours = remitted(department)
    statement(DAY, (4900, ours.end_to_end_id))
    reconciled(DAY)
    statement(DAY, (4950, ours.end_to_end_id))  # the bank sends its statement again

    reconciled(DAY)

    assert found() == [
        ("amount_mismatch", ours.end_to_end_id, 4950, 4900, DiscrepancyStatus.AUTO_RESOLVED)
    ]
    ours.refresh_from_db()
    assert (ours.status, ours.seen_amount) == (RemittanceStatus.SEEN, 4950)


def test_a_debit_to_the_treasury_we_did_not_order_is_found(department):
    ours = remitted(department)
    statement(DAY, (4950, ours.end_to_end_id), (1200, "缴库"))

    reconciled(DAY)

    [item] = Discrepancy.objects.filter(party=PARTY)
    assert (item.type, item.their_ref, item.their_amount, item.department) == (
        "missing_in_ledger",
        "DR251",
        1200,
        department,
    )
