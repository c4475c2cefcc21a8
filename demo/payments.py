"""The demo portal's payment orders: fee items of every department, paid through every channel.

Orders and refunds go through the billing services as the portal's API calls them; the
payer pays at the channel's cashier in its sandbox, and the channel's notification comes
back over HTTP to /notify/<channel>, as it does for a real payment.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone
from stdnum.cn import ric

from billing.models import OrderStatus, PaymentAttempt, PaymentOrder, Refund, RefundStatus
from billing.services import closing, orders, refunds
from billing.services.attempts import payment_attempt_start
from core.models import ApiClient
from demo import sandboxes
from demo.waiting import wait_until

EXPIRES_IN = timedelta(seconds=3)  # the time limit of the orders left to expire
_NAMES = (
    *("王小明", "李秀英", "张伟", "刘洋", "陈静", "杨帆"),
    *("赵丽", "黄磊", "周敏", "吴强", "徐婷", "孙浩"),
)


@dataclass(frozen=True)
class Waiver:
    """A fee item charged under one of its waiver rules, and who at the agency approved it."""

    fee_item: str
    rule: str  # the waiver rule's code
    approved_by: str
    approval_ref: str


@dataclass(frozen=True)
class Fee:
    """What a case owes: its department and fee items, each (code, amount in fen charged),
    one of them perhaps under a waiver."""

    department: str
    items: tuple[tuple[str, int], ...]
    waiver: Waiver | None = None

    @property
    def amount(self) -> int:
        return sum(amount for _, amount in self.items)

    def lines(self) -> list[orders.LineInput]:
        return [
            orders.LineInput(fee_item=code, quantity=1, amount=amount, **self._waived(code))
            for code, amount in self.items
        ]

    def _waived(self, code: str) -> dict[str, str]:
        if self.waiver is None or self.waiver.fee_item != code:
            return {}
        return {
            "waiver_reason": self.waiver.rule,
            "waiver_approved_by": self.waiver.approved_by,
            "waiver_approval_ref": self.waiver.approval_ref,
        }


PASSPORT = Fee("330100-GACRJ", (("CRJ-PTHZ", 12000),))
HK_MACAO_PERMIT = Fee("330100-GACRJ", (("CRJ-GATXZ", 6000), ("CRJ-GAQZ", 1500)))
HOME_REGISTRATION = Fee("330100-ZRZY", (("BDC-ZZDJ", 8000), ("BDC-ZSGBF", 1000)))
OFFICE_REGISTRATION = Fee("330100-ZRZY", (("BDC-FZZDJ", 55000),))
BOILER_INSPECTION = Fee("330100-SCJG", (("TZSB-JYJC", 86000),))
SKILLS_TEST = Fee("330100-RSJ", (("ZYJN-JD", 15000),))
METER_CALIBRATION = Fee("330106-SCJG", (("JLQJ-JD", 4800),))
LIFT_INSPECTION = Fee("330106-SCJG", (("DT-DQJY", 45000),))
# Waived as the catalogue's rules say, with the registration centre's approval: a home
# registration of a resident on minimum living allowance (低保) at half the standard, and an
# office registration of a small business, exempt (the order is waived: nothing to pay).
WAIVER_APPROVER = "不动产登记中心 陈科长"
HOME_REGISTRATION_HALVED = Fee(
    "330100-ZRZY",
    (("BDC-ZZDJ", 4000), ("BDC-ZSGBF", 1000)),
    Waiver("BDC-ZZDJ", "LOW-INCOME-HALF", WAIVER_APPROVER, "ZRZY-JM-0031"),
)
OFFICE_REGISTRATION_EXEMPT = Fee(
    "330100-ZRZY",
    (("BDC-FZZDJ", 0),),
    Waiver("BDC-FZZDJ", "SMALL-BIZ-EXEMPT", WAIVER_APPROVER, "ZRZY-JM-0032"),
)

# The day's ordinary payments: every department through every channel, some more than once.
DAY_PAYMENTS: tuple[tuple[Fee, str], ...] = tuple(
    (fee, channel)
    for fees, channel in (
        ((PASSPORT, HOME_REGISTRATION, BOILER_INSPECTION, SKILLS_TEST, METER_CALIBRATION),
         "public_platform"),
        ((HK_MACAO_PERMIT, OFFICE_REGISTRATION, BOILER_INSPECTION, SKILLS_TEST, LIFT_INSPECTION,
          PASSPORT), "alipay"),
        ((PASSPORT, HOME_REGISTRATION, BOILER_INSPECTION, SKILLS_TEST, METER_CALIBRATION,
          HK_MACAO_PERMIT), "wechatpay"),
        ((HK_MACAO_PERMIT, HOME_REGISTRATION, BOILER_INSPECTION, SKILLS_TEST, LIFT_INSPECTION),
         "unionpay"),
    )
    for fee in fees
)  # fmt: skip


def payer(number: int) -> orders.PayerInput:
    """A made-up resident with a well-formed ID number (GB 11643 check digit)."""
    birth = date(1960, 1, 1) + timedelta(days=number * 977 % 15000)
    body = f"330106{birth:%Y%m%d}{100 + number % 900:03d}"
    return orders.PayerInput(
        type="natural",
        name=_NAMES[number % len(_NAMES)],
        id_number=body + ric.calc_check_digit(body),
        phone=f"138{57100000 + number * 7919 % 10_000_000:08d}",
    )


class Portal:
    """The demo portal: it opens orders for its cases, starts payments and asks refunds."""

    def __init__(self, client: ApiClient, business_date: date) -> None:
        self.client = client
        self.actor = f"client:{client.name}"
        self._business_date = business_date
        self._cases = itertools.count(1)

    def order(self, fee: Fee, *, expires_in: timedelta | None = None) -> PaymentOrder:
        case = next(self._cases)
        with transaction.atomic(durable=True):
            return orders.payment_order_create(
                client=self.client,
                case_number=f"ZJ{self._business_date:%Y%m%d}{case:04d}",
                service_item_code=f"{fee.department}-{fee.items[0][0]}",
                department_code=fee.department,
                region_code=fee.department[:6],
                payer=payer(case),
                lines=fee.lines(),
                expires_at=timezone.now() + expires_in if expires_in else None,
            ).order

    def start(self, order: PaymentOrder, channel: str) -> PaymentAttempt:
        return payment_attempt_start(
            order_public_id=order.public_id, channel_code=channel, actor=self.actor
        )

    def pay(self, fee: Fee, channel: str) -> PaymentOrder:
        """An order the payer pays at once through the channel (wait_paid to see it paid)."""
        order = self.order(fee)
        self.pay_order(order, channel)
        return order

    def pay_order(self, order: PaymentOrder, channel: str) -> None:
        sandboxes.pay(self.start(order, channel).pay_url)

    def refund(self, order: PaymentOrder, amount: int, reason: str) -> Refund:
        with transaction.atomic(durable=True):
            refund = refunds.refund_reserve(
                order_public_id=order.public_id,
                amount=amount,
                reason=reason,
                actor=self.actor,
                client=self.client,
            )
        return refunds.refund_submit(refund_public_id=refund.public_id, actor=self.actor)


def wait_paid(paid: list[PaymentOrder]) -> None:
    ids = [order.pk for order in paid]
    wait_until(
        lambda: PaymentOrder.objects.filter(pk__in=ids, status=OrderStatus.PAID).count()
        == len(ids),
        what=f"{len(ids)} orders to be paid",
    )


def wait_refunded(asked: list[Refund]) -> None:
    ids = [refund.pk for refund in asked]
    wait_until(
        lambda: Refund.objects.filter(pk__in=ids, status=RefundStatus.SUCCEEDED).count()
        == len(ids),
        what=f"{len(ids)} refunds to succeed",
    )


def the_days_payments(portal: Portal) -> None:
    """The ordinary payments, and a partial and a full refund of two of them."""
    paid = [portal.pay(fee, channel) for fee, channel in DAY_PAYMENTS]
    wait_paid(paid)
    permit = next(o for o in paid if o.amount == HK_MACAO_PERMIT.amount)
    home = next(o for o in paid if o.amount == HOME_REGISTRATION.amount)
    wait_refunded(
        [
            portal.refund(permit, 1500, "签注未获批准，退还签注费"),
            portal.refund(home, HOME_REGISTRATION.amount, "申请人撤回登记申请"),
        ]
    )


def waived_fees(portal: Portal) -> None:
    """A fee halved by its waiver rule and paid, and one exempt: an order waived when made."""
    wait_paid([portal.pay(HOME_REGISTRATION_HALVED, "public_platform")])
    portal.order(OFFICE_REGISTRATION_EXEMPT)


def orders_left_open(portal: Portal) -> None:
    """Orders nobody has paid yet: one with a cashier the payer opened and left."""
    portal.order(SKILLS_TEST)
    portal.start(portal.order(METER_CALIBRATION), "alipay")


def orders_to_expire(portal: Portal) -> list[PaymentOrder]:
    """Orders with a time limit of seconds; one has an open trade at the channel."""
    due = [portal.order(PASSPORT, expires_in=EXPIRES_IN) for _ in range(2)]
    portal.start(due[0], "public_platform")
    return due


def expire(due: list[PaymentOrder]) -> None:
    """Once their time has passed, expire the orders (and close their open trades) as the
    periodic job does; it may have got to them first."""
    time.sleep(max(0.0, (max(o.expires_at for o in due) - timezone.now()).total_seconds()))
    closing.payment_orders_expire_due()
    ids = [order.pk for order in due]
    wait_until(
        lambda: PaymentOrder.objects.filter(pk__in=ids, status=OrderStatus.EXPIRED).count()
        == len(ids),
        what="the orders past their time limit to expire",
    )
