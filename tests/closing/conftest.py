"""Closing tests: a day's orders, refunds and waivers as rows, and where the day is remitted."""

from __future__ import annotations

import itertools
from datetime import date, datetime, time, timedelta

import pytest

from billing.models import (
    AttemptStatus,
    Department,
    FeeItem,
    FeeKind,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
    PaymentOrderLine,
    Refund,
    RefundStatus,
    WaiverKind,
    WaiverRule,
)
from core import pii
from core.money import BEIJING
from tests.billing.conftest import NATURAL_ID
from tests.conftest import make_department
from tests.console.conftest import approver, auditor, clerk, logged_in, make_staff  # noqa: F401
from tests.reconciliation.conftest import in_process_runs  # noqa: F401

DAY = date(2026, 11, 25)
SETTLEMENT_ACCOUNT = "1202020209000012345"  # kept by icbc in the sandbox bank's settings
TREASURY = {
    "kind": "treasury",
    "account": "270101040000000002",
    "name": "国家金库杭州市中心支库",
    "bank": "001331000016",
    "bank_name": "中国人民银行杭州中心支行",
}
_codes = itertools.count(20_000_000_000_000_000_000)


def at(day: date, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    """A moment of the day in Beijing."""
    return datetime.combine(day, time(hour, minute, second), tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def remitted_to_the_treasury(settings):
    settings.CLOSING = {
        **settings.CLOSING,
        "destinations": {"regions": {"3301": TREASURY}, "departments": {}},
        "remittance_window_days": 1,
    }


@pytest.fixture
def department(db) -> Department:
    return make_department(
        "SCJG01",
        "市市场监督管理局",
        settlement_account_name="市市场监督管理局非税收入专户",
        settlement_account_number=SETTLEMENT_ACCOUNT,
        settlement_bank="中国工商银行杭州分行",
    )


def fee_item(department: Department, code: str, standard: int | None, **fields) -> FeeItem:
    defaults = {"name": f"{code} 工本费", "legal_basis": "发改价格规〔2018〕988号"}
    if standard is None:
        defaults.update(min_amount=100, max_amount=100_000)
    return FeeItem.objects.create(
        code=code, department=department, standard_amount=standard, **{**defaults, **fields}
    )


def waiver(item: FeeItem, kind: str) -> WaiverRule:
    return WaiverRule.objects.create(fee_item=item, code=f"{kind}-rule", label=kind, kind=kind)


def order(
    department: Department,
    *lines: tuple,
    paid_at: datetime | None,
    purpose: str = FeeKind.FEE,
    created_at: datetime | None = None,
) -> PaymentOrder:
    """An order of ``lines`` — (fee item, quantity, unit amount[, waiver rule, standard]) —
    paid at ``paid_at`` (not paid when None: waived to nothing)."""
    amount = sum(line[1] * line[2] for line in lines)
    made = PaymentOrder.objects.create(
        payment_code=str(next(_codes)),
        verification_code_hash="0" * 64,
        case_number="ZJ-2026-000777",
        service_item_code="11330100MB0000000X-001",
        department=department,
        region_code=department.region_code,
        purpose=purpose,
        payer_type="natural",
        payer_name="张三",
        payer_id_number_encrypted=pii.encrypt(NATURAL_ID, column="payment_order.payer_id_number"),
        payer_id_number_index=pii.blind_index(NATURAL_ID, purpose="id_number"),
        payer_id_number_masked=pii.mask_id_number(NATURAL_ID),
        amount=amount,
        status=OrderStatus.PAID if paid_at else OrderStatus.WAIVED,
        expires_at=(paid_at or created_at or at(DAY)) + timedelta(days=3),
        paid_at=paid_at,
    )
    if created_at:
        PaymentOrder.objects.filter(pk=made.pk).update(created_at=created_at)
    for item, quantity, unit, *waived in lines:
        rule, standard = waived if waived else (None, unit)
        PaymentOrderLine.objects.create(
            order=made,
            fee_item=item,
            quantity=quantity,
            unit_amount=unit,
            amount=quantity * unit,
            standard_unit_amount=standard,
            waiver_rule=rule,
            waiver_reason=rule.code if rule else "",
        )
    if paid_at:
        PaymentAttempt.objects.create(
            order=made,
            channel="public_platform",
            status=AttemptStatus.SUCCEEDED,
            amount=amount,
            received_amount=amount,
            provider_trade_no=f"2026{made.payment_code}",
            paid_at=paid_at,
            settles_order=True,
        )
    return made


def refund(
    paid: PaymentOrder, amount: int, refunded_at: datetime, kind: str = Refund.Kind.REQUESTED
) -> Refund:
    return Refund.objects.create(
        order=paid,
        attempt=paid.attempts.get(),
        kind=kind,
        amount=amount,
        reason="申请人撤回",
        status=RefundStatus.SUCCEEDED,
        refunded_at=refunded_at,
    )


@pytest.fixture
def day_of_fees(department):
    """A day of three fee items: what each one's figures must be is in EXPECTED."""
    fixed = fee_item(department, "FEE-A", 1500)
    ranged = fee_item(department, "FEE-B", None)
    other = fee_item(department, "FEE-C", 2000)
    half, exempt = waiver(fixed, WaiverKind.HALF), waiver(fixed, WaiverKind.EXEMPT)
    freight = fee_item(department, "FREIGHT", 2300, kind=FeeKind.FREIGHT)

    both = order(department, (fixed, 2, 1500), (ranged, 1, 800), paid_at=at(DAY, 9))
    order(department, (fixed, 1, 750, half, 1500), (other, 1, 2000), paid_at=at(DAY, 23, 59, 59))
    order(department, (fixed, 1, 0, exempt, 1500), paid_at=None, created_at=at(DAY, 11))
    yesterday = order(
        department, (fixed, 1, 1500), (other, 1, 2000), paid_at=at(DAY, 0) - timedelta(seconds=1)
    )
    order(department, (freight, 1, 2300), paid_at=at(DAY, 12), purpose=FeeKind.FREIGHT)
    order(department, (other, 1, 2000), paid_at=at(DAY + timedelta(days=1), 0))
    refund(both, 600, at(DAY, 15))  # 474 of FEE-A, 126 of FEE-B
    refund(yesterday, 1000, at(DAY, 16))  # 429 of FEE-A, 571 of FEE-C
    refund(yesterday, 500, at(DAY, 17), kind=Refund.Kind.UNSETTLED_PAYMENT)  # not revenue
    return department


# fee item code: (payments, collected, refunds, refunded, waivers, waived, net), in fen
EXPECTED = {
    "FEE-A": (2, 3750, 2, 903, 2, 2250, 2847),
    "FEE-B": (1, 800, 1, 126, 0, 0, 674),
    "FEE-C": (1, 2000, 1, 571, 0, 0, 1429),
}
EXPECTED_TOTAL = {
    "payments_count": 2,
    "collected": 6550,
    "refunds_count": 2,
    "refunded": 1600,
    "waivers_count": 2,
    "waived": 2250,
    "net": 4950,
}
