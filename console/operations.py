"""What the operations pages read: the channels with their licence and circuit breaker, the
revenue pushes, webhook deliveries and fiscal receipt requests still waiting, and the
automatic refunds given up to finance staff, each within the viewer's departments.

Reads only: the breaker is looked at, never taken half-open (``channel_in_rotation``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Case, CharField, Count, OuterRef, QuerySet, Subquery, Sum, When
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from billing.health import channel_in_rotation
from billing.models import (
    AttemptStatus,
    ChannelHealth,
    DeliveryStatus,
    Department,
    PaymentAttempt,
    PaymentOrder,
    Processor,
    Receipt,
    ReceiptKind,
    ReceiptStatus,
    RevenueRecord,
    RevenueRecordStatus,
    UnsettledPayment,
    UnsettledPaymentStatus,
    WebhookDelivery,
)
from billing.models.processors import LICENCE_WARNING_DAYS
from billing.webhooks import WEBHOOK_DELIVERIES
from console.lookup import visible_receipts
from core.models import AuditRecord
from core.money import BEIJING, business_date_of
from logistics.models import Shipment
from outbox.kinds import Kind

REVENUE_BACKLOG_STATUSES = (RevenueRecordStatus.PENDING, RevenueRecordStatus.FAILED)
WEBHOOK_BACKLOG_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
# The page's status filter names every kind's open rows "pending": a receipt's are requested.
RECEIPT_BACKLOG_STATUSES = {
    RevenueRecordStatus.PENDING: ReceiptStatus.REQUESTED,
    RevenueRecordStatus.FAILED: ReceiptStatus.FAILED,
}


# Processors


@dataclass(frozen=True)
class Licence:
    tone: str  # badge class: good, warn, bad; "" when the channel needs no licence
    days_left: int | None


@dataclass(frozen=True)
class Breaker:
    state: str  # closed, open, half_open
    open_until: datetime | None
    in_rotation: bool
    consecutive_failures: int
    last_failure_at: datetime | None
    last_change: AuditRecord | None  # the breaker's last move, with its reason


@dataclass(frozen=True)
class ChannelRow:
    processor: Processor
    licence: Licence
    breaker: Breaker
    departments: list[Department]
    payments_today: int
    received_today: int


def licence_standing(processor: Processor, today: date) -> Licence:
    """The admin's rule: a warning from LICENCE_WARNING_DAYS before expiry; a revoked
    processor is as bad as an expired licence."""
    days_left = processor.licence_days_left(on=today)
    if days_left is None:
        bad = processor.status == Processor.Status.REVOKED
        return Licence(tone="bad" if bad else "", days_left=None)
    if days_left < 0 or processor.status == Processor.Status.REVOKED:
        return Licence(tone="bad", days_left=days_left)
    return Licence(
        tone="warn" if days_left <= LICENCE_WARNING_DAYS else "good", days_left=days_left
    )


def channel_rows(departments: list[int] | None) -> list[ChannelRow]:
    now = timezone.now()
    today = business_date_of(now)
    health = {h.channel: h for h in ChannelHealth.objects.all()}
    last_changes = _last_breaker_changes(health.values())
    accepting = _departments_by_channel(departments)
    payments = _payments_on(today, departments)
    rows = []
    for processor in Processor.objects.all():
        count, received = payments.get(processor.code, (0, 0))
        rows.append(
            ChannelRow(
                processor=processor,
                licence=licence_standing(processor, today),
                breaker=_breaker(processor.code, health.get(processor.code), last_changes, now),
                departments=accepting.get(processor.code, []),
                payments_today=count,
                received_today=received,
            )
        )
    return rows


def _breaker(
    channel: str, health: ChannelHealth | None, last_changes: dict, now: datetime
) -> Breaker:
    if health is None:
        return Breaker(ChannelHealth.State.CLOSED, None, True, 0, None, None)
    # Every failure saves the row, so while failures count up (and the breaker is not
    # half-open, whose move also saves it) its last save is the last failure.
    failing = health.consecutive_failures and health.state != ChannelHealth.State.HALF_OPEN
    return Breaker(
        state=health.state,
        open_until=health.open_until if health.state != ChannelHealth.State.CLOSED else None,
        in_rotation=channel_in_rotation(channel, now=now),
        consecutive_failures=health.consecutive_failures,
        last_failure_at=health.updated_at if failing else None,
        last_change=last_changes.get(str(health.pk)),
    )


def _last_breaker_changes(healths) -> dict[str, AuditRecord]:
    changes = AuditRecord.objects.filter(
        object_type=ChannelHealth.__name__, object_id__in=[str(h.pk) for h in healths]
    ).order_by("object_id", "-at", "-id")
    latest: dict[str, AuditRecord] = {}
    for change in changes:
        latest.setdefault(change.object_id, change)
    return latest


def _departments_by_channel(departments: list[int] | None) -> dict[str, list[Department]]:
    visible = Department.objects.all()
    if departments is not None:
        visible = visible.filter(pk__in=departments)
    by_channel: dict[str, list[Department]] = defaultdict(list)
    for department in visible:
        for channel in department.accepted_channels:
            by_channel[channel].append(department)
    return by_channel


def _payments_on(day: date, departments: list[int] | None) -> dict[str, tuple[int, int]]:
    start = datetime.combine(day, time.min, tzinfo=BEIJING)
    attempts = PaymentAttempt.objects.filter(
        status=AttemptStatus.SUCCEEDED, paid_at__gte=start, paid_at__lt=start + timedelta(days=1)
    )
    if departments is not None:
        attempts = attempts.filter(order__department__in=departments)
    totals = attempts.values("channel").annotate(count=Count("id"), received=Sum("received_amount"))
    return {row["channel"]: (row["count"], row["received"] or 0) for row in totals}


# Backlogs


def revenue_records(departments: list[int] | None) -> QuerySet[RevenueRecord]:
    """Every revenue record the viewer may see, through its order's department."""
    records = RevenueRecord.objects.select_related("order__department", "revenue_system")
    if departments is not None:
        records = records.filter(order__department__in=departments)
    return records


def revenue_backlog(departments: list[int] | None) -> QuerySet[RevenueRecord]:
    """Records not yet accepted by their revenue system, oldest first."""
    return (
        revenue_records(departments)
        .filter(status__in=REVENUE_BACKLOG_STATUSES)
        .order_by("created_at", "id")
    )


def webhook_deliveries(departments: list[int] | None) -> QuerySet[WebhookDelivery]:
    """Every delivery the viewer may see, annotated with the order or shipment its event is
    about and that object's department. An event about neither is seen only by unscoped staff.
    """
    deliveries = WebhookDelivery.objects.select_related("event", "endpoint__client").annotate(
        order_public_id=_event_subject(("payment_order.", "id"), ("refund.", "order")),
        shipment_public_id=_event_subject(("shipment.", "id")),
    )
    deliveries = deliveries.annotate(
        department_id=Coalesce(
            Subquery(
                PaymentOrder.objects.filter(public_id=OuterRef("order_public_id")).values(
                    "department_id"
                )[:1]
            ),
            Subquery(
                Shipment.objects.filter(public_id=OuterRef("shipment_public_id")).values(
                    "department_id"
                )[:1]
            ),
        )
    )
    if departments is not None:
        deliveries = deliveries.filter(department_id__in=departments)
    return deliveries


def _event_subject(*type_and_key: tuple[str, str]) -> Case:
    """The payload key naming the event's subject, chosen by the event type's prefix."""
    return Case(
        *(
            When(event__type__startswith=prefix, then=KeyTextTransform(key, "event__payload"))
            for prefix, key in type_and_key
        ),
        output_field=CharField(),
    )


def webhook_backlog(departments: list[int] | None) -> QuerySet[WebhookDelivery]:
    """Deliveries not yet accepted by their endpoint, oldest first."""
    return (
        webhook_deliveries(departments)
        .filter(status__in=WEBHOOK_BACKLOG_STATUSES)
        .order_by("created_at", "id")
    )


def receipt_backlog(departments: list[int] | None) -> QuerySet[Receipt]:
    """Receipts the platform has not issued, oldest first."""
    return (
        visible_receipts(departments)
        .filter(status__in=RECEIPT_BACKLOG_STATUSES.values())
        .order_by("created_at", "id")
    )


def unsettled_payments(departments: list[int] | None) -> QuerySet[UnsettledPayment]:
    """All money owed back to payers that the viewer may see, through its order's department."""
    owed = UnsettledPayment.objects.select_related("attempt__order__department")
    if departments is not None:
        owed = owed.filter(attempt__order__department__in=departments)
    return owed


def refunds_needing_a_person(departments: list[int] | None) -> QuerySet[UnsettledPayment]:
    """Money owed back whose automatic refund was given up, longest waiting first."""
    return (
        unsettled_payments(departments)
        .filter(status=UnsettledPaymentStatus.NEEDS_ATTENTION)
        .order_by("updated_at", "id")
    )


def department_names(ids) -> dict[int, Department]:
    return Department.objects.in_bulk({i for i in ids if i is not None})


@dataclass(frozen=True)
class StatusCounts:
    """Rows per status, overall and per group (a revenue system, an endpoint)."""

    total: Counter
    by_group: list[tuple[str, str, Counter]]  # (filter value, label, counts)


def revenue_counts(backlog: QuerySet[RevenueRecord]) -> StatusCounts:
    rows = (
        backlog.order_by()
        .values("revenue_system__code", "revenue_system__name", "status")
        .annotate(n=Count("id"))
    )
    return _status_counts(
        (
            row["revenue_system__code"] or "",
            row["revenue_system__name"] or "",
            row["status"],
            row["n"],
        )
        for row in rows
    )


def webhook_counts(backlog: QuerySet[WebhookDelivery]) -> StatusCounts:
    rows = (
        backlog.order_by()
        .values("endpoint__public_id", "endpoint__url", "status")
        .annotate(n=Count("id"))
    )
    return _status_counts(
        (row["endpoint__public_id"], row["endpoint__url"], row["status"], row["n"]) for row in rows
    )


def receipt_counts(backlog: QuerySet[Receipt]) -> StatusCounts:
    shown_as = {receipt: page for page, receipt in RECEIPT_BACKLOG_STATUSES.items()}
    rows = backlog.order_by().values("kind", "status").annotate(n=Count("id"))
    return _status_counts(
        (row["kind"], ReceiptKind(row["kind"]).label, shown_as[row["status"]], row["n"])
        for row in rows
    )


def _status_counts(rows) -> StatusCounts:
    total: Counter = Counter()
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for key, label, status, n in rows:
        total[status] += n
        groups[(key, label)][status] += n
    return StatusCounts(
        total=total,
        by_group=[(key, label, counts) for (key, label), counts in sorted(groups.items())],
    )


def failed_ids(kind: Kind, backlog: QuerySet, ids: list[int]) -> list[int]:
    """Of ``ids``, those of failed rows in the viewer's backlog of ``kind``."""
    return list(backlog.filter(pk__in=ids, status=kind.failed_status).values_list("pk", flat=True))


def failed_webhook_ids(backlog: QuerySet[WebhookDelivery], ids: list[int]) -> list[int]:
    """Of ``ids``, those of failed deliveries in the viewer's backlog whose endpoint is on."""
    return failed_ids(WEBHOOK_DELIVERIES, backlog.filter(endpoint__active=True), ids)
