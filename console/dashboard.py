"""The figures of the morning view: one business date's reconciliation, and the 30 days to it.

``departments`` is the list of department ids the reader may see, or None for all of them.
A run covers every department, so a department-scoped reader gets each party's status but
its figures from their own departments: matched payments from the clearing (processors
only; the clearing is kept per department) and their departments' discrepancies. Their
side's lines are not kept per department either, so a scoped reader's discrepancy rate
counts the clearing's matched payments plus the discrepancies that have a line on their
side. The fiscal receipts of the date are those of its payments and refunds, of the reader's
departments.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, fields
from datetime import date, timedelta

from django.db.models import BigIntegerField, Count, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Abs, Coalesce

from billing.models import Department, ReceiptStatus
from console.lookup import receipts_of_business_date, visible_receipts
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
)
from reconciliation.parties import Party, all_parties

TREND_DAYS = 30
RESOLVED = (DiscrepancyStatus.RESOLVED, DiscrepancyStatus.AUTO_RESOLVED)
SIDES = ("ours", "theirs", "matched")  # of run.totals


@dataclass(frozen=True)
class Figure:
    count: int
    amount: int  # fen

    @classmethod
    def of(cls, side: dict | None) -> Figure | None:
        """A side of ``run.totals`` ({"count", "amount"}), or None when the run has none."""
        return cls(int(side["count"]), int(side["amount"])) if side else None


@dataclass(frozen=True)
class PartyLine:
    party: Party
    run: ReconciliationRun | None
    ours: Figure | None
    theirs: Figure | None
    matched: Figure | None
    open_discrepancies: int
    discrepancies: int

    @property
    def figures(self) -> tuple[Figure | None, Figure | None, Figure | None]:
        return self.ours, self.theirs, self.matched


@dataclass(frozen=True)
class TypeLine:
    type: str
    count: int
    difference: int  # fen: the sum of |ours − theirs|, a missing side counting as zero

    @property
    def label(self) -> str:
        return DiscrepancyType(self.type).label


@dataclass(frozen=True)
class TypeBreakdown:
    lines: list[TypeLine]
    count: int
    difference: int


@dataclass(frozen=True)
class ClearingSums:
    payments_count: int
    payments_amount: int
    refunds_amount: int
    fees_amount: int
    net_amount: int

    @classmethod
    def of(cls, rows: list[Clearing]) -> ClearingSums:
        return cls(**{f.name: sum(getattr(row, f.name) for row in rows) for f in fields(cls)})


@dataclass(frozen=True)
class DepartmentClearing:
    department: Department
    rows: list[Clearing]
    subtotal: ClearingSums


@dataclass(frozen=True)
class ClearingSummary:
    departments: list[DepartmentClearing]
    total: ClearingSums


@dataclass(frozen=True)
class Rate:
    processor: str
    discrepancies: int
    lines: int  # on the processor's side

    @property
    def value(self) -> float | None:
        return self.discrepancies / self.lines if self.lines else None


def default_business_date(today: date) -> date:
    """The latest date that has runs (normally yesterday), else yesterday."""
    latest = ReconciliationRun.objects.filter(business_date__lte=today).aggregate(
        latest=Max("business_date")
    )["latest"]
    return latest or today - timedelta(days=1)


def trend_dates(day: date) -> list[date]:
    """The days the charts cover: the 30 days up to and including ``day``."""
    return [day - timedelta(days=back) for back in range(TREND_DAYS - 1, -1, -1)]


def party_lines(day: date, departments: list[int] | None) -> list[PartyLine]:
    """Every party we reconcile, with its run of the date if there is one."""
    runs = {run.party: run for run in ReconciliationRun.objects.filter(business_date=day)}
    parties = all_parties()
    listed = {party.code for party in parties}
    # A run of a party no longer configured still belongs to the date.
    parties += [
        Party(code, run.party_kind, code)
        for code, run in sorted(runs.items())
        if code not in listed
    ]
    counted = (
        _discrepancies(day, day, departments)
        .values("party")
        .annotate(total=Count("id"), open=Count("id", filter=~Q(status__in=RESOLVED)))
        .order_by()
    )
    counts = {row["party"]: row for row in counted}
    cleared = _cleared_payments(day, departments) if departments is not None else {}
    lines = []
    for party in parties:
        run = runs.get(party.code)
        totals = (run.totals if run else None) or {}
        found = counts.get(party.code, {})
        if departments is None:
            ours, theirs, matched = (Figure.of(totals.get(side)) for side in SIDES)
        else:
            ours = theirs = None
            matched = cleared.get(party.name) if party.kind == PartyKind.PROCESSOR else None
        lines.append(
            PartyLine(
                party=party,
                run=run,
                ours=ours,
                theirs=theirs,
                matched=matched,
                open_discrepancies=found.get("open", 0),
                discrepancies=found.get("total", 0),
            )
        )
    return lines


def discrepancies_by_type(day: date, departments: list[int] | None) -> TypeBreakdown:
    zero = Value(0, output_field=BigIntegerField())
    difference = Abs(Coalesce("our_amount", zero) - Coalesce("their_amount", zero))
    rows = (
        _discrepancies(day, day, departments)
        .values("type")
        .annotate(count=Count("id"), difference=Sum(difference))
        .order_by("type")
    )
    lines = [TypeLine(row["type"], row["count"], row["difference"]) for row in rows]
    return TypeBreakdown(
        lines=lines,
        count=sum(line.count for line in lines),
        difference=sum(line.difference for line in lines),
    )


def clearing_summary(day: date, departments: list[int] | None) -> ClearingSummary:
    """The date's clearing per department, each with its subtotal, and the grand total."""
    rows = list(
        _clearing(day, day, departments)
        .select_related("department")
        .order_by("department__code", "processor")
    )
    groups = []
    for _, group in itertools.groupby(rows, key=lambda row: row.department_id):
        members = list(group)
        groups.append(DepartmentClearing(members[0].department, members, ClearingSums.of(members)))
    return ClearingSummary(departments=groups, total=ClearingSums.of(rows))


def daily_payments(day: date, departments: list[int] | None) -> list[tuple[date, int]]:
    """Payments cleared (matched payments, in fen) per business date of the 30 days."""
    days = trend_dates(day)
    sums = dict(
        _clearing(days[0], day, departments)
        .values_list("business_date")
        .annotate(total=Sum("payments_amount"))
        .order_by()
    )
    return [(each, sums.get(each, 0)) for each in days]


def discrepancy_rates(day: date, departments: list[int] | None) -> list[Rate]:
    """Per processor over the 30 days: discrepancies found, and the lines of its bills."""
    first = trend_dates(day)[0]
    processors = [party.code for party in all_parties() if party.kind == PartyKind.PROCESSOR]
    found = _discrepancies(first, day, departments).filter(party__in=processors)
    counts = dict(found.values_list("party").annotate(count=Count("id")).order_by())
    if departments is None:
        lines = _bill_lines(first, day, processors)
    else:
        lines = _bill_lines_of_departments(first, day, departments, processors, found)
    return [Rate(code, counts.get(code, 0), lines.get(code, 0)) for code in processors]


def _bill_lines(first: date, last: date, processors: list[str]) -> Counter:
    lines: Counter = Counter()
    runs = ReconciliationRun.objects.filter(
        business_date__range=(first, last), party__in=processors
    )
    for party, totals in runs.values_list("party", "totals"):
        lines[party] += int(((totals or {}).get("theirs") or {}).get("count", 0))
    return lines


def _bill_lines_of_departments(
    first: date,
    last: date,
    departments: list[int],
    processors: list[str],
    found: QuerySet[Discrepancy],
) -> Counter:
    matched = (
        _clearing(first, last, departments)
        .filter(processor__in=processors)
        .values_list("processor")
        .annotate(lines=Sum("payments_count"))
        .order_by()
    )
    unmatched = (
        found.filter(their_amount__isnull=False)
        .values_list("party")
        .annotate(lines=Count("id"))
        .order_by()
    )
    return Counter(dict(matched)) + Counter(dict(unmatched))


def receipt_figures(day: date, departments: list[int] | None) -> list[tuple[ReceiptStatus, Figure]]:
    """The date's receipts issued, still requested and failed: (status, count and amount)."""
    receipts = receipts_of_business_date(visible_receipts(departments), day)
    rows = receipts.values_list("status").annotate(count=Count("id"), amount=Sum("amount"))
    found = {status: Figure(count, amount) for status, count, amount in rows.order_by()}
    return [
        (ReceiptStatus(status), found.get(status, Figure(0, 0)))
        for status in (ReceiptStatus.ISSUED, ReceiptStatus.REQUESTED, ReceiptStatus.FAILED)
    ]


def _cleared_payments(day: date, departments: list[int] | None) -> dict[str, Figure]:
    rows = (
        _clearing(day, day, departments)
        .values_list("processor")
        .annotate(count=Sum("payments_count"), amount=Sum("payments_amount"))
        .order_by()
    )
    return {processor: Figure(count, amount) for processor, count, amount in rows}


def _discrepancies(first: date, last: date, departments: list[int] | None) -> QuerySet:
    rows = Discrepancy.objects.filter(business_date__range=(first, last))
    return rows if departments is None else rows.filter(department_id__in=departments)


def _clearing(first: date, last: date, departments: list[int] | None) -> QuerySet:
    rows = Clearing.objects.filter(business_date__range=(first, last))
    return rows if departments is None else rows.filter(department_id__in=departments)
