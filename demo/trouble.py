"""What goes wrong on the demo day, each as it would in the field, for the console to show.

- a lost notification: the payer paid WeChat Pay, which never told us (missing_in_ledger,
  settled by the late notification, 补单, when the date is reconciled);
- a processor bill with a missing line: Alipay's bill leaves out a payment we have
  (missing_in_channel, open for a person);
- a revenue system outage: the records of the payments made while it was down are
  pending in the backlog, and missing from its daily file (revenue_mismatch);
- a duplicate payment: one order paid through two channels; the second is refunded on
  its own, and the processor's run shows it (duplicate, auto-resolved).

The late bank credit is in demo.settlement, as it follows the day's clearing.
"""

from __future__ import annotations

from billing.models import PaymentAttempt, RefundStatus, RevenueRecord, RevenueSystem
from demo import sandboxes
from demo.payments import (
    BOILER_INSPECTION,
    HK_MACAO_PERMIT,
    LIFT_INSPECTION,
    METER_CALIBRATION,
    PASSPORT,
    SKILLS_TEST,
    Portal,
    wait_paid,
)
from demo.waiting import wait_until

# The channel whose notification of a payment never comes.
NOTIFICATION_LOST_AT = "wechatpay"
# What was paid while the revenue system was down, and through which channel.
DURING_THE_OUTAGE = (
    (SKILLS_TEST, "alipay"),
    (PASSPORT, "unionpay"),
    (LIFT_INSPECTION, "wechatpay"),
)


def lost_notification(portal: Portal) -> None:
    """Paid at WeChat Pay, whose notification never comes: the attempt stays pending."""
    order = portal.order(BOILER_INSPECTION)
    attempt = portal.start(order, NOTIFICATION_LOST_AT)
    sandboxes.pay(attempt.pay_url, notify=False)


def missing_bill_line(portal: Portal, sandbox_url: str) -> None:
    """Paid through Alipay and applied here; Alipay's bill then leaves the payment out."""
    order = portal.pay(HK_MACAO_PERMIT, "alipay")
    wait_paid([order])
    attempt = PaymentAttempt.objects.get(order=order, settles_order=True)
    sandboxes.leave_out_of_alipay_bill(sandbox_url, attempt.out_trade_no)


def duplicate_payment(portal: Portal) -> None:
    """One order paid through the public platform and then Alipay; the second comes back
    (Alipay refunds at once, where WeChat Pay's refunds land a minute later)."""
    order = portal.order(METER_CALIBRATION)
    first, second = portal.start(order, "public_platform"), portal.start(order, "alipay")
    sandboxes.pay(first.pay_url)
    wait_paid([order])
    sandboxes.pay(second.pay_url)
    wait_until(
        lambda: second.refunds.filter(status=RefundStatus.SUCCEEDED).exists(),
        what="the second payment of a doubly paid order to be refunded",
    )


def revenue_outage(portal: Portal, sandbox_url: str, system: RevenueSystem) -> None:
    """The revenue system goes down while orders are paid, and comes back after its
    records were tried once: they wait in the backlog for their next try."""
    sandboxes.set_revenue_system_mode(sandbox_url, system.code, "down")
    try:
        paid = [portal.pay(fee, channel) for fee, channel in DURING_THE_OUTAGE]
        wait_paid(paid)
        wait_until(
            lambda: RevenueRecord.objects.filter(order__in=paid, attempt_count__gte=1).count()
            == len(paid),
            what="the revenue records of the outage to be tried",
        )
    finally:
        sandboxes.set_revenue_system_mode(sandbox_url, system.code, "up")
