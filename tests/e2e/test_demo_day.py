"""The demo day of `make run`, seeded against the live service on PostgreSQL with a worker.

The sandboxes are reset before the day is seeded; the database may still hold other tests'
rows, so every check here is about the demo's own orders, shipments and references.
"""

from __future__ import annotations

import pytest
import requests
from django.contrib.auth import authenticate
from django.test import RequestFactory
from django.utils import timezone

from billing.models import (
    FeeKind,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    ReceiptKind,
    ReceiptStatus,
    Refund,
    RefundStatus,
    RevenueRecord,
    RevenueRecordStatus,
    StaffScope,
)
from core.auth import AUDITOR_GROUP, FINANCE_GROUP
from demo.day import DEMO_USERS, SCOPED_DEPARTMENT_CODE, demo_day_seed
from demo.settlement import LATE_CREDIT
from logistics.models import Shipment, ShipmentStatus
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.parties import all_parties

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

T = DiscrepancyType
UNIONPAY_CUTOFF_HOUR = 23


@pytest.fixture
def seeded(live_service, task_worker, public_platform):
    # The sandboxes keep other tests' trades, entries and receipts in memory (the receipt
    # platform's numbers too, which the receipts leg checks): this day starts with none.
    requests.post(f"{live_service.url}/sandbox/_control/reset", timeout=5).raise_for_status()
    started = timezone.localtime()
    return live_service, demo_day_seed(sandbox_url=live_service.url), started


def sign_in_request():
    """A sign-in needs its request: the lockout counts failures per user and address."""
    return RequestFactory().post("/console/login/")


def test_the_demo_day_opens_on_a_reconciled_business_day(seeded):
    service, day, started = seeded
    today = timezone.localdate()
    assert (day.business_date, day.seeded_now) == (today, True)
    demo_orders = PaymentOrder.objects.filter(created_by__name="demo-portal")
    attempts = PaymentAttempt.objects.filter(order__in=demo_orders)
    found = Discrepancy.objects.filter(business_date=today)

    # Orders paid through every channel, in every department, in the statuses of a day.
    for channel in ("public_platform", "alipay", "wechatpay", "unionpay"):
        assert attempts.filter(channel=channel, status="succeeded").count() >= 5, channel
    assert demo_orders.filter(status=OrderStatus.PAID).values("department").distinct().count() == 5
    statuses = {status: demo_orders.filter(status=status).count() for status in OrderStatus.values}
    assert statuses[OrderStatus.PAID] >= 20
    assert statuses[OrderStatus.EXPIRED] == 2
    assert statuses[OrderStatus.REFUNDED] == statuses[OrderStatus.PARTIALLY_REFUNDED] == 1
    assert statuses[OrderStatus.UNPAID] + statuses[OrderStatus.PAYING] == 3  # one is freight

    # Shipments in every status, driven by the couriers' scans.
    shipments = Shipment.objects.filter(created_by__name="demo-portal")
    assert set(shipments.values_list("status", flat=True)) == set(ShipmentStatus.values)
    refused = shipments.get(status=ShipmentStatus.PENDING, waybill_no="")
    assert refused.booking_error.startswith("8040")
    assert shipments.filter(status=ShipmentStatus.PENDING).exclude(waybill_no="").count() == 1
    delivered = shipments.filter(status=ShipmentStatus.DELIVERED)
    assert delivered.count() == 3 and all(s.pod_signer_masked for s in delivered)

    # (1) The lost notification: found by WeChat Pay's run, settled by a late notification.
    processor_items = found.filter(our_ref__in=attempts.values("public_id"))
    lost = processor_items.get(type=T.MISSING_IN_LEDGER)
    lost_attempt = attempts.get(public_id=lost.our_ref)
    assert (lost.party, lost.status) == ("wechatpay", DiscrepancyStatus.AUTO_RESOLVED)
    assert "补单" in lost.resolution
    assert lost_attempt.status == "succeeded" and lost_attempt.order.status == OrderStatus.PAID
    assert not lost_attempt.notifications.exists()

    # (2) The payment Alipay's bill leaves out: open, for a person.
    missing = processor_items.get(type=T.MISSING_IN_CHANNEL)
    assert (missing.party, missing.status) == ("alipay", DiscrepancyStatus.OPEN)
    assert missing.pk in day.open_discrepancy_ids

    # (5) The order paid twice: the second payment refunded, the item settled.
    duplicate = processor_items.get(type=T.DUPLICATE)
    twice = attempts.get(public_id=duplicate.our_ref)
    assert (duplicate.party, duplicate.status) == ("alipay", DiscrepancyStatus.AUTO_RESOLVED)
    assert twice.refund_due and not twice.settles_order
    assert twice.refunds.get().status == RefundStatus.SUCCEEDED
    assert twice.order.attempts.get(settles_order=True).channel == "public_platform"

    # Nothing else differs on the processors' side for the demo's own payments.
    assert processor_items.count() == 3

    # (4) The revenue system's outage: three records still in the backlog, three items.
    backlog = RevenueRecord.objects.exclude(status=RevenueRecordStatus.ACKNOWLEDGED)
    assert backlog.count() == 3
    assert all(r.status == RevenueRecordStatus.PENDING and r.last_error for r in backlog)
    codes = set(backlog.values_list("order__payment_code", flat=True))
    revenue_items = found.filter(
        party="revenue:hz-fiscal", our_ref__in=demo_orders.values("payment_code")
    )
    assert set(revenue_items.values_list("our_ref", flat=True)) == codes
    assert set(revenue_items.values_list("type", "status")) == {
        (T.REVENUE_MISMATCH, DiscrepancyStatus.OPEN)
    }

    # (3) The late bank credit: that clearing is pending and a settlement item; the rest arrived.
    clearings = Clearing.objects.filter(business_date=today)
    processor, department = LATE_CREDIT
    late = clearings.get(processor=processor, department__code=department)
    assert late.arrival == Clearing.Arrival.PENDING
    assert set(clearings.exclude(pk=late.pk).values_list("arrival", flat=True)) == {"arrived"}
    [settlement] = Discrepancy.objects.filter(type=T.SETTLEMENT_MISMATCH)
    assert settlement.business_date in day.settlement_dates
    assert (settlement.our_amount, settlement.their_amount) == (late.net_amount, None)
    assert settlement.department == late.department and settlement.owner == "treasury"
    assert settlement.status == DiscrepancyStatus.OPEN

    # A fiscal receipt for every paid fee, a red-letter one for each refund, all issued and
    # numbered without a gap: the receipts leg finds nothing.
    paid = demo_orders.filter(
        status__in=(OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
    ).exclude(purpose=FeeKind.FREIGHT)
    receipts = {
        order.pk: [(r.kind, r.amount, r.status) for r in order.receipts.order_by("pk")]
        for order in paid.prefetch_related("receipts")
    }
    refunds = Refund.objects.filter(order__in=paid, kind=Refund.Kind.REQUESTED)
    reddened = {refund.order_id: -refund.amount for refund in refunds}
    assert len(reddened) == 2
    for order in paid:
        issued = [(ReceiptKind.NORMAL, order.amount, ReceiptStatus.ISSUED)]
        if order.pk in reddened:
            issued.append((ReceiptKind.RED, reddened[order.pk], ReceiptStatus.ISSUED))
        assert receipts[order.pk] == issued, order.public_id
    assert not found.filter(party="receipts").exists()

    # Every party's run of the day succeeded, and every bank's of the settlement date.
    parties = {party.code for party in all_parties()}
    banks = {party.code for party in all_parties() if party.kind == PartyKind.BANK}
    # UnionPay's settlement date turns at 23:00: later, today's payments are on tomorrow's file.
    waiting = {"unionpay"} if started.hour >= UNIONPAY_CUTOFF_HOUR else set()
    todays = ReconciliationRun.objects.filter(business_date=today)
    assert {(r.party, r.status) for r in todays} == {
        (p, RunStatus.FAILED if p in waiting else RunStatus.SUCCEEDED) for p in parties
    }
    settling = ReconciliationRun.objects.filter(business_date__in=day.settlement_dates)
    assert {(r.party, r.status) for r in settling} == {(b, RunStatus.SUCCEEDED) for b in banks}

    # The staff logins: created with their passwords, in their groups and scope.
    assert set(day.logins) == set(DEMO_USERS)
    for username, password in day.logins.items():
        user = authenticate(sign_in_request(), username=username, password=password)
        assert user is not None and user.is_staff, username
    groups = {
        name: authenticate(sign_in_request(), username=name, password=day.logins[name]).groups
        for name in DEMO_USERS
    }
    assert groups["auditor"].filter(name=AUDITOR_GROUP).exists()
    assert all(
        groups[name].filter(name=FINANCE_GROUP).exists() for name in DEMO_USERS if name != "auditor"
    )
    scoped = StaffScope.objects.get()
    assert list(scoped.departments.values_list("code", flat=True)) == [SCOPED_DEPARTMENT_CODE]

    # Seeding again adds nothing.
    counts = (PaymentOrder.objects.count(), Shipment.objects.count(), Discrepancy.objects.count())
    again = demo_day_seed(sandbox_url=service.url)
    assert (again.business_date, again.seeded_now, again.logins) == (today, False, {})
    assert again.open_discrepancy_ids == day.open_discrepancy_ids
    assert counts == (
        PaymentOrder.objects.count(),
        Shipment.objects.count(),
        Discrepancy.objects.count(),
    )
