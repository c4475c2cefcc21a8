"""A payment is reconciled on the business date of its time in Beijing, whatever the UTC date.

Payments made at 00:30, 07:59, 08:00 and 23:59 Beijing time on DAY were made at 16:30 and
23:59 UTC on the day before, and at 00:00 and 15:59 UTC on DAY. Each is on our side of
DAY's leg at the platform, matches its line in the platform's bill of DAY, and is on our
side of neither the day before nor the day after. Comparing the day's bounds with UTC
timestamps as text, as the embedded default once did on another engine, put the first two
on the day before.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from billing.models import PaymentAttempt, PaymentOrder
from billing.services.attempts import payment_attempt_apply_result
from integrations.payments.base import TradeResult, TradeStatus
from ledger.models import LedgerPosting
from reconciliation import ours
from reconciliation.models import Discrepancy, RunStatus
from sandboxes import common
from sandboxes.public_platform.views import render_statement
from tests.billing.conftest import create_order
from tests.reconciliation.conftest import run_on_statement

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
BEIJING = ZoneInfo("Asia/Shanghai")
PARTY = "public_platform"
DAY = date(2026, 11, 18)
BEFORE, AFTER = DAY - timedelta(days=1), DAY + timedelta(days=1)
TIMES = (time(0, 30), time(7, 59), time(8, 0), time(23, 59))
BILL_EXTRA_COLUMNS = ("out_trade_no", "payment_code", "department_code")


def paid_at(portal, moment: datetime) -> PaymentAttempt:
    """An order paid at the platform, applied as the platform reports it: paid at ``moment``.

    The attempt is opened as payment_attempt_start opens it (before the channel is called),
    and the platform's answer goes through the service that applies every answer: the
    attempt succeeds, the order is paid and the ledger posts the payment.
    """
    order = PaymentOrder.objects.get(public_id=create_order(portal)["id"])
    attempt = PaymentAttempt.objects.create(order=order, channel=PARTY, amount=order.amount)
    outcome = payment_attempt_apply_result(
        result=TradeResult(
            out_trade_no=attempt.out_trade_no,
            status=TradeStatus.SUCCEEDED,
            amount=order.amount,
            provider_trade_no=f"2026{attempt.pk:024d}",
            paid_at=moment,
        ),
        actor=f"channel:{PARTY}",
    )
    assert outcome == "applied"
    attempt.refresh_from_db()
    assert attempt.paid_at == moment
    return attempt


def platform_bill(attempts: list[PaymentAttempt]) -> bytes:
    """The platform's daily bill holding these payments, as its sandbox renders one."""
    records = [
        {
            "kind": "payment",
            "ref": attempt.out_trade_no,
            "provider_ref": attempt.provider_trade_no,
            "amount": attempt.received_amount,
            "fee": 0,
            "occurred_at": attempt.paid_at,
            "out_trade_no": attempt.out_trade_no,
            "payment_code": attempt.order.payment_code,
            "department_code": attempt.order.department.code,
        }
        for attempt in attempts
    ]
    return render_statement(common.bill_frame(records, BILL_EXTRA_COLUMNS))


def test_payments_at_any_time_of_a_beijing_day_are_reconciled_on_that_day(portal, fixed_fee):
    moments = {moment.strftime("%H:%M"): datetime.combine(DAY, moment, BEIJING) for moment in TIMES}
    # The early two are on the UTC date before: exactly where a UTC comparison goes wrong.
    assert [moment.astimezone(UTC).date() for moment in moments.values()] == [
        BEFORE,
        BEFORE,
        DAY,
        DAY,
    ]
    attempts = {label: paid_at(portal, moment) for label, moment in moments.items()}

    our_sides = {day: set(ours.transactions(PARTY, day)["ref"]) for day in (BEFORE, DAY, AFTER)}
    found_on = {
        label: [day for day, refs in our_sides.items() if attempt.out_trade_no in refs]
        for label, attempt in attempts.items()
    }
    assert found_on == {label: [DAY] for label in moments}
    posted_on = {
        label: LedgerPosting.objects.get(kind="payment", reference=attempt.public_id).business_date
        for label, attempt in attempts.items()
    }
    assert posted_on == dict.fromkeys(moments, DAY)

    run = run_on_statement(PARTY, DAY, platform_bill(list(attempts.values())))
    neighbours = [run_on_statement(PARTY, day, platform_bill([])) for day in (BEFORE, AFTER)]

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert {side: run.totals[side]["count"] for side in ("ours", "theirs", "matched")} == {
        "ours": 4,
        "theirs": 4,
        "matched": 4,
    }
    for other in neighbours:
        assert other.status == RunStatus.SUCCEEDED, other.error
        assert (other.totals["ours"]["count"], other.totals["matched"]["count"]) == (0, 0)
    assert list(Discrepancy.objects.values_list("business_date", "type", "our_ref")) == []
