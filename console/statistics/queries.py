"""The statistics' figures: SQL aggregates of one kind of row, grouped one way.

Each ``Dataset`` is a kind of row (payments, fee lines, waived lines, refunds, clearings,
shipments), the date that puts a row in a period, what is summed per group, and the ways it
can be grouped. Rows are kept to the filters' business dates, departments (the reader's
scope, or the one department chosen within it) and channel or courier before anything is
summed, so a group never holds a row the reader may not see.

Business dates follow the reconciliation's: a payment's is that of its ``paid_at``, a
refund's of its ``refunded_at``, a shipment's of its booking, in Beijing time; a clearing
has its own business date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Expression,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.models import (
    FeeKind,
    OrderStatus,
    PaymentAttempt,
    PaymentOrderLine,
    Refund,
    RefundStatus,
)
from console.statistics.periods import period_of_date, period_of_moment, span
from logistics.models import Shipment, ShipmentStatus
from reconciliation.models import Clearing

PERIOD = "period"  # the dimension every dataset has
# Orders once paid, whatever was refunded since: what they collected stays collected.
PAID_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)
SENT_BACK = (ShipmentStatus.RETURNING, ShipmentStatus.RETURNED)
DEPARTMENT = ("department__code", "department__name")


@dataclass(frozen=True)
class Filters:
    granularity: str  # one of periods.GRANULARITIES
    first: date
    last: date
    departments: list[int] | None  # None: every department
    channel: str = ""  # a payment channel (a clearing's processor); "" for every one
    courier: str = ""


@dataclass(frozen=True)
class Group:
    key: tuple  # the dimension's fields: (period start,), (code, name), (channel,)
    values: dict[str, int]


@dataclass(frozen=True)
class Dataset:
    rows: Callable[[Filters], QuerySet]
    period: Callable[[str], Expression]  # granularity -> the period a row falls in
    measures: Callable[[], dict]  # name -> aggregate, made afresh for each query
    dimensions: dict[str, tuple[str, ...]]  # name -> the fields naming a group


def groups(dataset: Dataset, filters: Filters, by: str) -> list[Group]:
    """The dataset's measures per group of ``by`` (PERIOD or one of its dimensions)."""
    rows = dataset.rows(filters)
    if by == PERIOD:
        fields = (PERIOD,)
        rows = rows.annotate(period=dataset.period(filters.granularity))
    else:
        fields = dataset.dimensions[by]
    summed = rows.values(*fields).annotate(**dataset.measures()).order_by(*fields)
    return [
        Group(
            key=tuple(row.pop(field) for field in fields),
            values=row,
        )
        for row in summed
    ]


def total(dataset: Dataset, filters: Filters) -> dict[str, int]:
    """The measures over every row, summed once (a count of distinct orders stays one)."""
    found = dataset.rows(filters).aggregate(**dataset.measures())
    return {name: value or 0 for name, value in found.items()}


def _departments(rows: QuerySet, filters: Filters, path: str) -> QuerySet:
    if filters.departments is None:
        return rows
    return rows.filter(**{f"{path}__in": filters.departments})


def _moments(column: str, filters: Filters) -> dict:
    start, end = span(filters.first, filters.last)
    return {f"{column}__gte": start, f"{column}__lt": end}


# Payments: public revenue (非税收入) collected, one row per paid order.


def _settling_attempts(filters: Filters) -> QuerySet[PaymentAttempt]:
    """The attempt that paid each order of public revenue paid in the dates: one per order,
    with the channel that took the money."""
    attempts = PaymentAttempt.objects.filter(
        settles_order=True,
        order__status__in=PAID_STATUSES,
        order__purpose=FeeKind.FEE,
        **_moments("order__paid_at", filters),
    )
    if filters.channel:
        attempts = attempts.filter(channel=filters.channel)
    return _departments(attempts, filters, "order__department")


PAYMENTS = Dataset(
    rows=_settling_attempts,
    period=partial(period_of_moment, "order__paid_at"),
    measures=lambda: {"count": Count("id"), "money": Sum("order__amount")},
    dimensions={
        "department": ("order__department__code", "order__department__name"),
        "region": ("order__department__region_code",),
        "channel": ("channel",),
    },
)


def _paid_lines(filters: Filters) -> QuerySet[PaymentOrderLine]:
    paid = _settling_attempts(filters).values("order_id")
    return PaymentOrderLine.objects.filter(order__in=paid)


FEE_LINES = Dataset(
    rows=_paid_lines,
    period=partial(period_of_moment, "order__paid_at"),
    measures=lambda: {"count": Count("order", distinct=True), "money": Sum("amount")},
    dimensions={"fee_item": ("fee_item__code", "fee_item__name")},
)


# Waivers (减免): the lines charged under a waiver rule, of orders paid on the dates or
# waived to nothing (settled when made, so dated by their making).

# What the line would have cost at the standard it was charged against, less what it was
# charged; a line made before the standard was kept with it adds nothing here.
WAIVED_AMOUNT = Case(
    When(
        standard_unit_amount__isnull=False,
        then=ExpressionWrapper(
            F("quantity") * F("standard_unit_amount") - F("amount"),
            output_field=BigIntegerField(),
        ),
    ),
    default=Value(0),
    output_field=BigIntegerField(),
)


def _waived_lines(filters: Filters) -> QuerySet[PaymentOrderLine]:
    orders = Q(order__in=_settling_attempts(filters).values("order_id"))
    if not filters.channel:  # an order waived to nothing went through no channel
        orders |= Q(order__status=OrderStatus.WAIVED, **_moments("order__created_at", filters))
    lines = PaymentOrderLine.objects.filter(orders, waiver_rule__isnull=False)
    return _departments(lines, filters, "order__department")


WAIVERS = Dataset(
    rows=_waived_lines,
    period=partial(period_of_moment, Coalesce("order__paid_at", "order__created_at")),
    measures=lambda: {
        "count": Count("id"),
        "waived": Sum(WAIVED_AMOUNT),
        "unpriced": Count("id", filter=Q(standard_unit_amount__isnull=True)),
    },
    dimensions={
        "reason": ("waiver_rule__label",),
        "waiver_kind": ("waiver_rule__kind",),
        "department": ("order__department__code", "order__department__name"),
    },
)


# Refunds (退付) that reached the payer.


def _refunds(filters: Filters) -> QuerySet[Refund]:
    refunds = Refund.objects.filter(
        status=RefundStatus.SUCCEEDED, **_moments("refunded_at", filters)
    )
    if filters.channel:
        refunds = refunds.filter(attempt__channel=filters.channel)
    return _departments(refunds, filters, "order__department")


REFUNDS = Dataset(
    rows=_refunds,
    period=partial(period_of_moment, "refunded_at"),
    measures=lambda: {"count": Count("id"), "money": Sum("amount")},
    dimensions={
        "department": ("order__department__code", "order__department__name"),
        "channel": ("attempt__channel",),
        "kind": ("kind",),
    },
)


# Settlement: the clearing (清分) each processor owes each department for a business date.


def _clearings(filters: Filters) -> QuerySet[Clearing]:
    clearings = Clearing.objects.filter(business_date__range=(filters.first, filters.last))
    if filters.channel:
        clearings = clearings.filter(processor=filters.channel)
    return _departments(clearings, filters, "department")


def _settlement_measures() -> dict:
    """Fees, and each clearing's transfer: arrived in full by its settlement date or after
    it, arrived with another amount, not seen after its settlement date, or not yet due (its
    settlement date is today or later)."""
    pending = Q(arrival=Clearing.Arrival.PENDING)
    due = Q(settlement_date__lt=timezone.localdate())
    return {
        "count": Count("id"),
        "payments": Sum("payments_amount"),
        "fees": Sum("fees_amount"),
        "on_time": Count("id", filter=Q(arrival=Clearing.Arrival.ARRIVED)),
        "late": Count("id", filter=Q(arrival=Clearing.Arrival.LATE)),
        "mismatch": Count("id", filter=Q(arrival=Clearing.Arrival.MISMATCH)),
        "overdue": Count("id", filter=pending & due),
        "not_due": Count("id", filter=pending & ~due),
        "due": Count("id", filter=~(pending & ~due)),
    }


CLEARINGS = Dataset(
    rows=_clearings,
    period=partial(period_of_date, "business_date"),
    measures=_settlement_measures,
    dimensions={"processor": ("processor",), "department": DEPARTMENT},
)


# Delivery: shipments booked with a courier, against the time limit each was booked with.


def _booked_shipments(filters: Filters) -> QuerySet[Shipment]:
    shipments = Shipment.objects.filter(**_moments("booked_at", filters)).exclude(
        status=ShipmentStatus.CANCELLED
    )
    if filters.courier:
        shipments = shipments.filter(courier=filters.courier)
    return _departments(shipments, filters, "department")


def _delivery_measures() -> dict:
    """Delivered by its ``deliver_by`` or after it; judged (delivered, or past its time
    limit undelivered); undeliverable (the undeliverable rule applied, or sent back without
    being delivered)."""
    delivered = Q(delivered_at__isnull=False)
    undeliverable = Q(undeliverable_at__isnull=False) | Q(
        status__in=SENT_BACK, delivered_at__isnull=True
    )
    return {
        "count": Count("id"),
        "delivered": Count("id", filter=delivered),
        "on_time": Count("id", filter=Q(delivered_at__lte=F("deliver_by"))),
        "judged": Count("id", filter=delivered | Q(deliver_by__lt=timezone.now())),
        "undeliverable": Count("id", filter=undeliverable),
    }


SHIPMENTS = Dataset(
    rows=_booked_shipments,
    period=partial(period_of_moment, "booked_at"),
    measures=_delivery_measures,
    dimensions={"courier": ("courier",), "department": DEPARTMENT},
)
