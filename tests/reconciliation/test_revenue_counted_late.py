"""A record the revenue system counted a day late (it was down; our push was retried until
it took it) settles the earlier day's item that found it missing, and nothing else does."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.models import AuditRecord
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    PartyKind,
    ReconciliationRun,
)
from reconciliation.services.auto import run_auto_resolve
from tests.conftest import make_department

PARTY = "revenue:hz-fiscal"
DOWN = date(2026, 11, 19)
BACK = DOWN + timedelta(days=1)
CODE = "33010004139328673514"

pytestmark = pytest.mark.django_db


@pytest.fixture
def department():
    return make_department("SCJG01", "市市场监督管理局")


def run(day: date) -> ReconciliationRun:
    return ReconciliationRun.objects.get_or_create(
        business_date=day, party=PARTY, defaults={"party_kind": PartyKind.REVENUE}
    )[0]


def item(day: date, department, *, ours=None, theirs=None, code=CODE, kind="payment"):
    return Discrepancy.objects.create(
        run=run(day),
        business_date=day,
        party=PARTY,
        type="revenue_mismatch",
        key=f"revenue_mismatch:{kind}:{code}",
        kind=kind,
        department=department,
        our_ref=code,
        their_ref="rv_late" if theirs is not None else "",
        our_amount=ours,
        their_amount=theirs,
        owner="finance",
    )


def statuses(*items: Discrepancy) -> list[str]:
    return [Discrepancy.objects.get(pk=one.pk).status for one in items]


def test_the_late_record_and_the_days_missing_one_settle_each_other(department):
    missing = item(DOWN, department, ours=16500)
    counted = item(BACK, department, theirs=16500)

    assert run_auto_resolve(run_id=counted.run_id) == 2

    assert statuses(missing, counted) == [DiscrepancyStatus.AUTO_RESOLVED] * 2
    resolution = Discrepancy.objects.get(pk=missing.pk).resolution
    assert resolution == f"counted late by the revenue system: {DOWN} → {BACK}"
    assert AuditRecord.objects.filter(action="discrepancy.auto_resolved").count() == 2


def test_a_refund_counted_late_settles_its_own_kind_only(department):
    payment_missing = item(DOWN, department, ours=16500)
    refund_missing = item(DOWN, department, ours=6500, kind="refund")
    refund_counted = item(BACK, department, theirs=6500, kind="refund")

    assert run_auto_resolve(run_id=refund_counted.run_id) == 2

    assert statuses(payment_missing, refund_missing, refund_counted) == [
        DiscrepancyStatus.OPEN,
        DiscrepancyStatus.AUTO_RESOLVED,
        DiscrepancyStatus.AUTO_RESOLVED,
    ]


@pytest.mark.parametrize(
    "difference",
    ["amount", "department", "payment_code", "counted_before", "beyond_the_carry_over"],
)
def test_a_record_that_is_not_the_missing_one_leaves_both_to_a_person(department, difference):
    other_department = make_department("RSJ01", "市人力资源和社会保障局")
    missing = item(DOWN, department, ours=16500)
    day = {
        "counted_before": DOWN - timedelta(days=1),
        "beyond_the_carry_over": DOWN + timedelta(days=4),
    }.get(difference, BACK)
    counted = item(
        day,
        other_department if difference == "department" else department,
        theirs=16400 if difference == "amount" else 16500,
        code="33010004139328670000" if difference == "payment_code" else CODE,
    )

    assert run_auto_resolve(run_id=counted.run_id) == 0

    assert statuses(missing, counted) == [DiscrepancyStatus.OPEN] * 2


def test_a_missing_record_settled_once_is_not_settled_again_by_a_second_copy(department):
    missing = item(DOWN, department, ours=16500)
    item(BACK, department, theirs=16500)
    again = item(BACK + timedelta(days=1), department, theirs=16500)

    run_auto_resolve(run_id=run(BACK).pk)

    assert run_auto_resolve(run_id=again.run_id) == 0
    assert statuses(missing, again) == [DiscrepancyStatus.AUTO_RESOLVED, DiscrepancyStatus.OPEN]
