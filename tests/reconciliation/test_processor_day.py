"""A processor whose day turns before 24:00: UnionPay's settlement date D runs from 23:00 on
D-1 to 23:00 on D, and our side of its leg is selected by the same bounds, so a payment
made at 23:30 is on both sides of D+1 and on neither of D."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import requests
import time_machine

from billing.models import PaymentAttempt
from core.business_days import add_business_days
from core.money import BEIJING
from reconciliation import ours
from reconciliation.models import Clearing, Discrepancy, RunStatus
from sandboxes import state
from tests.billing.conftest import create_order
from tests.billing.test_processor_flows import licensed_processors  # noqa: F401
from tests.integrations.helpers import today_in_beijing
from tests.reconciliation.conftest import run_of
from tests.reconciliation.test_day_without_bill import paid_at
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
PARTY = "unionpay"


def test_our_unionpay_side_of_a_date_runs_from_23_00_the_day_before_to_23_00(portal, fixed_fee):
    day = today_in_beijing() - timedelta(days=3)
    before = day - timedelta(days=1)
    at = {
        "turn_before": datetime.combine(before, time(23), BEIJING),
        "evening_before": datetime.combine(before, time(23, 30), BEIJING),
        "last_second": datetime.combine(day, time(22, 59, 59), BEIJING),
        "turn": datetime.combine(day, time(23), BEIJING),
    }
    refs = {name: paid_at(portal, PARTY, moment).public_id for name, moment in at.items()}
    paid_at(portal, "alipay", at["evening_before"])  # another processor's day ends at 24:00

    def held(business_date, channel=PARTY) -> set[str]:
        return set(ours.transactions(channel, business_date)["ref"])

    assert held(day) == {refs["turn_before"], refs["evening_before"], refs["last_second"]}
    assert held(day + timedelta(days=1)) == {refs["turn"]}
    assert len(held(before, "alipay")) == 1


def test_a_unionpay_payment_at_23_30_reconciles_on_the_next_date_with_nothing_open(
    live_service,
    portal,
    fixed_fee,
    department,
    licensed_processors,  # noqa: F811
):
    state.reset_all()
    department.accepted_channels = [PARTY]
    department.save()
    day = today_in_beijing() + timedelta(days=1)
    after = day + timedelta(days=1)

    with time_machine.travel(datetime.combine(day, time(23, 30), BEIJING)):
        order = create_order(portal)
        started = portal.post(
            f"/api/v1/payment-orders/{order['id']}/payments", {"channel": PARTY}, format="json"
        )
        assert started.status_code == 201, started.content
        attempt = started.json()
        assert requests.post(attempt["pay_url"], json={"result": "success"}, timeout=5).ok
        eventually(lambda: PaymentAttempt.objects.get(public_id=attempt["id"]).paid_at)
    assert (
        PaymentAttempt.objects.get(public_id=attempt["id"]).paid_at.astimezone(BEIJING).date()
        == day
    )  # on our calendar, the day before UnionPay's date

    with time_machine.travel(datetime.combine(after + timedelta(days=1), time(13), BEIJING)):
        on_day = run_of(PARTY, day)
        next_day = run_of(PARTY, after)

    assert on_day.status == RunStatus.SUCCEEDED, on_day.error
    assert on_day.totals["ours"]["count"] == on_day.totals["theirs"]["count"] == 0
    assert next_day.status == RunStatus.SUCCEEDED, next_day.error
    assert {side: next_day.totals[side]["count"] for side in ("ours", "theirs", "matched")} == {
        "ours": 1,
        "theirs": 1,
        "matched": 1,
    }
    assert not Discrepancy.objects.filter(party=PARTY).exists()
    [clearing] = Clearing.objects.filter(processor=PARTY)
    assert (clearing.business_date, clearing.settlement_date, clearing.payments_count) == (
        after,
        add_business_days(after, 1),
        1,
    )
