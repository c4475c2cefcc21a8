"""An order paid twice, the second time through Alipay, whose sandbox bills both payments and
the refund of the second: the run reports the second payment as a duplicate, yet Alipay
collected it and transfers it with the rest, so the clearing counts it and the transfer
drains clearing:alipay."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from django.db.models import Sum
from django.utils import timezone

from billing.models import Refund, RefundStatus
from core.money import business_date_of
from demo.settlement import paying_accounts
from ledger.models import LedgerAccount
from ledger.selectors import account_balance
from reconciliation.models import Clearing, Discrepancy, RunStatus
from reconciliation.services import runs
from sandboxes import state
from sandboxes.banks.camt053 import render_camt053
from tests.billing.conftest import create_order
from tests.billing.test_processor_flows import (  # noqa: F401 (fixtures)
    licensed_processors,
    portal_http,
    start,
    wait_until_paid,
)
from tests.reconciliation.conftest import run_on_statement
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
ALIPAY = "alipay"


def pay(attempt: dict) -> None:
    assert requests.post(attempt["pay_url"], json={"result": "success"}, timeout=5).ok


def alipay_transfer(account: str, day, amount: int) -> bytes:
    """The settlement account's statement of the day: Alipay's credit to it."""
    entries = pd.DataFrame(
        {
            "amount": [amount],
            "value_date": [pd.Timestamp(day)],
            "bank_ref": ["CR1"],
            "counterparty_account": [paying_accounts()[ALIPAY]],
            "counterparty_name": ["支付宝（中国）网络技术有限公司"],
            "description": ["清算款"],
        }
    )
    return render_camt053(entries, account, day)


def test_a_second_payment_refunded_counts_in_the_clearing_and_the_transfer_drains_it(
    portal_http,  # noqa: F811
    department,
    task_worker,
):
    state.reset_all()  # the sandboxes' trades of earlier tests: today's bill holds these
    once, twice = create_order(portal_http.portal), create_order(portal_http.portal)
    pay(start(portal_http, once, ALIPAY).json())
    first, second = (
        start(portal_http, twice, "public_platform").json(),
        start(portal_http, twice, ALIPAY).json(),
    )
    pay(first)
    wait_until_paid(portal_http, once)
    wait_until_paid(portal_http, twice)
    pay(second)
    eventually(  # the worker gives the second payment back
        lambda: Refund.objects.filter(
            attempt__public_id=second["id"], status=RefundStatus.SUCCEEDED
        ).exists()
    )

    run = runs.run_execute(
        run_id=runs.run_request(
            business_date=business_date_of(timezone.now()), party_code=ALIPAY, actor="user:test"
        ).pk
    )

    assert run.status == RunStatus.SUCCEEDED, run.error
    [duplicate] = Discrepancy.objects.filter(run=run)
    assert (duplicate.type, duplicate.our_ref) == ("duplicate", second["id"])
    bill = {
        kind: run.statement.lines.filter(kind=kind).aggregate(amount=Sum("amount"), fee=Sum("fee"))
        for kind in ("payment", "refund")
    }
    assert run.statement.lines.filter(kind="payment").count() == 2
    transferred = (
        bill["payment"]["amount"]
        - bill["refund"]["amount"]
        - bill["payment"]["fee"]
        - bill["refund"]["fee"]
    )
    cleared = Clearing.objects.get(processor=ALIPAY)
    assert (cleared.payments_count, cleared.net_amount) == (2, transferred)

    bank = run_on_statement(
        f"bank:icbc:{department.settlement_account_number}",
        cleared.settlement_date,
        alipay_transfer(department.settlement_account_number, cleared.settlement_date, transferred),
    )

    assert bank.status == RunStatus.SUCCEEDED, bank.error
    cleared.refresh_from_db()
    assert cleared.arrival == Clearing.Arrival.ARRIVED
    drained = account_balance(
        LedgerAccount.objects.get(code=f"clearing:{ALIPAY}"), bank.business_date
    )
    assert drained["balance"] == 0
