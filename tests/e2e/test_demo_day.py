"""The demo day of `make run`, seeded against the live service on PostgreSQL with a worker.

The sandboxes are reset before the day is seeded; the database may still hold other tests'
rows, so every check here is about the demo's own orders, shipments and references.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import requests
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.test import Client, RequestFactory
from django.utils import timezone

from billing.models import (
    FeeKind,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    PaymentOrderLine,
    ReceiptKind,
    ReceiptStatus,
    Refund,
    RefundStatus,
    RevenueRecord,
    RevenueRecordStatus,
    StaffScope,
    WaiverKind,
)
from closing.models import (
    InstructionStatus,
    Remittance,
    RemittanceStatus,
    ReportStatus,
    SettlementReport,
)
from console.templatetags.console import yuan
from core.auth import AUDITOR_GROUP, FINANCE_GROUP
from demo.access import FINANCE_USERNAME, REVIEWER_USERNAME
from demo.close import AWAITING_APPROVAL
from demo.day import DEMO_USERS, SCOPED_DEPARTMENT_CODE, demo_day_seed
from demo.payments import WAIVER_APPROVER
from demo.settlement import LATE_CREDIT
from demo.shipments import RECIPIENTS
from ledger.models import LedgerAccount
from ledger.selectors import account_balance
from logistics.models import Shipment, ShipmentStatus
from notices.models import SmsMessage
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
from reconciliation.reports import yuan_text

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(600)]

T = DiscrepancyType
UNIONPAY_CUTOFF_HOUR = 23
CHANNELS = ("public_platform", "alipay", "wechatpay", "unionpay")
PAID = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


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


def test_the_demo_day_opens_on_a_reconciled_and_closed_business_day(seeded):
    service, day, started = seeded
    today = timezone.localdate()
    assert (day.business_date, day.seeded_now) == (today, True)
    demo_orders = PaymentOrder.objects.filter(created_by__name="demo-portal")
    attempts = PaymentAttempt.objects.filter(order__in=demo_orders)
    found = Discrepancy.objects.filter(business_date=today)

    # Orders paid through every channel, in every department, in the statuses of a day.
    for channel in CHANNELS:
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

    # The day closes: the clearing accounts drained, the reports approved and remitted.
    fees = demo_orders.filter(status__in=PAID).exclude(purpose=FeeKind.FREIGHT)
    clearing_accounts_drained(day, waiting, late=late, missing=missing)
    day_closed(today, fees)
    payers_told_by_sms(service, demo_orders)
    fees_waived_as_approved(demo_orders)
    console_shows_the_day(today, fees)

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


def balance(code: str, as_of) -> int:
    return account_balance(LedgerAccount.objects.get(code=code), as_of)["balance"]


def clearing_accounts_drained(day, waiting: set[str], *, late, missing) -> None:
    """By the settlement date every processor has transferred its clearings and each credit
    is posted to its settlement account: clearing:<processor> is drained but for the late
    transfer and, at Alipay, the payment its bill leaves out (open above)."""
    as_of = max(day.settlement_dates)
    owed = {
        "public_platform": 0,
        "alipay": missing.our_amount,
        "wechatpay": late.net_amount,
        "unionpay": 0,
    }
    cleared = [channel for channel in CHANNELS if channel not in waiting]
    assert {channel: balance(f"clearing:{channel}", as_of) for channel in cleared} == {
        channel: owed[channel] for channel in cleared
    }
    credited = Counter()
    arrived = Clearing.objects.filter(business_date=day.business_date).exclude(pk=late.pk)
    for clearing in arrived.select_related("department"):
        credited[clearing.department.settlement_account_number] += clearing.net_amount
    assert {account: balance(f"bank:{account}", as_of) for account in credited} == credited


def day_closed(today, fees) -> None:
    """Every department's report made from the day's figures, submitted by one person and
    approved by another (one waits for its approver), and each approved net remitted and
    seen on the statement."""
    refunds = Refund.objects.filter(
        order__in=fees, kind=Refund.Kind.REQUESTED, status=RefundStatus.SUCCEEDED
    )
    collected, refunded = Counter(), Counter()
    for order in fees.select_related("department"):
        collected[order.department.code] += order.amount
    for refund in refunds.select_related("order__department"):
        refunded[refund.order.department.code] += refund.amount
    reports = SettlementReport.objects.filter(business_date=today).select_related("department")
    assert {r.department.code: (r.version, r.collected, r.refunded, r.net) for r in reports} == {
        code: (1, amount, refunded[code], amount - refunded[code])
        for code, amount in collected.items()
    }
    preparer, approver = f"user:{FINANCE_USERNAME}", f"user:{REVIEWER_USERNAME}"
    assert {r.department.code: (r.status, r.prepared_by, r.approved_by) for r in reports} == {
        code: (ReportStatus.SUBMITTED, preparer, "")
        if code == AWAITING_APPROVAL
        else (ReportStatus.APPROVED, preparer, approver)
        for code in collected
    }
    # The fee halved and the fee exempted, on the natural resources bureau's report.
    waived = reports.get(department__code="330100-ZRZY")
    assert (waived.waivers_count, waived.waived) == (2, 8000 - 4000 + 55000)

    approved = reports.filter(status=ReportStatus.APPROVED)
    remitted = Remittance.objects.filter(business_date=today).select_related("instruction")
    assert {
        (r.report_id, r.amount, r.execution_date, r.status, r.seen_on, r.seen_amount)
        for r in remitted
    } == {
        (report.pk, report.net, today, RemittanceStatus.SEEN, today, report.net)
        for report in approved
    }
    assert {r.instruction.status for r in remitted} == {InstructionStatus.ACCEPTED}
    assert all(r.bank_ref for r in remitted)
    runs = ReconciliationRun.objects.filter(party_kind=PartyKind.REMITTANCE)
    assert {(r.party, r.status) for r in runs} == {
        (f"remittance:{r.debtor_bank}:{r.debtor_account}", RunStatus.SUCCEEDED) for r in remitted
    }
    assert not Discrepancy.objects.filter(party__startswith="remittance:").exists()


def payers_told_by_sms(service, demo_orders) -> None:
    """Every payer with a mobile number told of the payment through the SMS sandbox, and no
    message carries a name or an ID number."""
    answer = requests.get(f"{service.url}/sandbox/sms/_control/messages", timeout=5)
    answer.raise_for_status()
    journal = answer.json()["messages"]
    template = settings.SMS["templates"]["payment_received"]
    told = [message["params"] for message in journal if message["template_id"] == template]
    paid = demo_orders.filter(paid_at__isnull=False).exclude(payer_phone_encrypted="")
    assert len(told) >= paid.count() >= 30
    assert {tuple(params) for params in told} == {
        (order.payment_code[-4:], yuan_text(order.amount)) for order in paid
    }
    names = set(demo_orders.values_list("payer_name", flat=True)) | {r.name for r in RECIPIENTS}
    texts = [
        *SmsMessage.objects.values_list("text", flat=True),
        *(" ".join(message["params"]) for message in journal),
    ]
    assert SmsMessage.objects.count() >= len(told)
    for text in texts:
        assert not re.search(r"\d{17}[\dX]", text), text
        assert not any(name in text for name in names), text


def fees_waived_as_approved(demo_orders) -> None:
    """A home registration's fee halved and paid, and an office registration's exempt: its
    order waived, nothing to pay; each with who approved it."""
    waived = PaymentOrderLine.objects.filter(order__in=demo_orders, waiver_rule__isnull=False)
    assert {
        (
            line.order.status,
            line.order.amount,
            line.fee_item.code,
            line.waiver_rule.kind,
            line.standard_unit_amount,
            line.amount,
            line.waiver_approved_by,
        )
        for line in waived.select_related("order", "fee_item", "waiver_rule")
    } == {
        (OrderStatus.PAID, 5000, "BDC-ZZDJ", WaiverKind.HALF, 8000, 4000, WAIVER_APPROVER),
        (OrderStatus.WAIVED, 0, "BDC-FZZDJ", WaiverKind.EXEMPT, 55000, 0, WAIVER_APPROVER),
    }
    assert demo_orders.filter(status=OrderStatus.WAIVED).count() == 1


def console_shows_the_day(today, fees) -> None:
    """The settlement reports page lists the day's reports, approved and remitted or waiting
    for their approver; the statistics pages answer with the day's figures: revenue (gross
    collected) and the waived amount."""
    client = Client()
    client.force_login(get_user_model().objects.get(username=FINANCE_USERNAME))
    listed = client.get("/console/closing/", {"date": today.isoformat()})
    assert listed.status_code == 200
    assert Counter(re.findall(r'data-status="(\w+)"', listed.content.decode())) == {
        ReportStatus.APPROVED: 4,
        RemittanceStatus.SEEN: 4,
        ReportStatus.SUBMITTED: 1,
    }
    day = {"period": "day", "from": today.isoformat(), "to": today.isoformat()}
    revenue = sum(order.amount for order in fees)
    assert total_row(client, "revenue", "revenue-by-period", day) == [
        str(fees.count()),
        yuan(revenue),
    ]
    assert total_row(client, "waivers", "waivers-by-reason", day)[:2] == ["2", yuan(59000)]
    for page in ("refunds", "settlement", "delivery"):
        assert client.get(f"/console/statistics/{page}/", day).status_code == 200, page


def total_row(client, page: str, table: str, params: dict) -> list[str]:
    """The cells of a statistics table's total row."""
    response = client.get(f"/console/statistics/{page}/", params)
    assert response.status_code == 200, page
    html = response.content.decode()
    table_html = html[html.index(f'<table data-testid="{table}">') :]
    total = re.search(r'<tr data-group="total">(.*?)</tr>', table_html, re.S)
    return re.findall(r'<td class="money">([^<]*)</td>', total.group(1))
