"""Finding orders, refunds, receipts and shipments for the console, and everything recorded
about one.

Callers pass querysets already limited to what the person may see (``visible_orders``,
``visible_shipments``); nothing here widens them. Payer ID numbers are found through the
blind index, never by decrypting rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing import selectors
from billing.api.serializers import normalize_id_number
from billing.id_numbers import is_valid_credit_code, is_valid_resident_id
from billing.models import (
    Department,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    Receipt,
    ReceiptKind,
    ReceiptStatus,
    Refund,
    RevenueRecord,
    WebhookEvent,
)
from core.models import AuditRecord
from core.money import BEIJING
from ledger.models import LedgerPosting
from logistics import selectors as shipment_selectors
from logistics.models import Shipment

TIME_LIMIT_FLAG_LABELS = {
    "at_risk": _("at risk"),
    "overdue": _("overdue"),
    "stale": _("stale"),
}
TIME_LIMIT_FLAGS = tuple(TIME_LIMIT_FLAG_LABELS)
# The platform issues a receipt when it is asked, and the first retries come within minutes:
# one still requested after this is for a person to look at.
RECEIPT_OVERDUE_AFTER = timedelta(minutes=10)


def visible_departments(department_ids: list[int] | None) -> QuerySet[Department]:
    departments = Department.objects.order_by("code")
    return departments if department_ids is None else departments.filter(pk__in=department_ids)


def valid_payer_id(raw: str) -> str | None:
    """The ID number as orders store it, or None when it is neither a resident ID nor a USCC.

    A search names no payer type, so either check digit scheme may apply.
    """
    number = normalize_id_number(raw)
    return number if is_valid_resident_id(number) or is_valid_credit_code(number) else None


@dataclass(frozen=True)
class OrderFilters:
    q: str = ""
    payer_id: str = ""  # already validated and normalised
    status: str = ""
    department: str = ""
    channel: str = ""
    created_from: date | None = None
    created_to: date | None = None


def with_channel(orders: QuerySet[PaymentOrder]) -> QuerySet[PaymentOrder]:
    """Annotate ``channel``: the one that paid the order, else the one tried last."""
    attempts = PaymentAttempt.objects.filter(order=OuterRef("pk"))
    return orders.annotate(
        channel=Coalesce(
            Subquery(attempts.filter(settles_order=True).values("channel")[:1]),
            Subquery(attempts.order_by("-created_at", "-id").values("channel")[:1]),
        )
    )


def find_orders(orders: QuerySet[PaymentOrder], filters: OrderFilters) -> QuerySet[PaymentOrder]:
    """``q`` is a case number, payment code, order id or attempt id (our out-trade number);
    ``channel`` keeps the orders tried or paid through it."""
    orders = selectors.filter_orders(
        with_channel(orders),
        status=filters.status,
        department=filters.department,
        payer_id_number=filters.payer_id,
        created_from=filters.created_from,
        created_to=filters.created_to,
    )
    if filters.q:
        # The attempt's order looked up first: an OR over a subquery would keep PostgreSQL
        # from using each column's index, and scan every order (2.6 s at a million).
        by_attempt = list(
            PaymentAttempt.objects.filter(public_id=filters.q).values_list("order_id", flat=True)
        )
        orders = orders.filter(
            Q(case_number=filters.q)
            | Q(payment_code=filters.q)
            | Q(public_id=filters.q)
            | Q(pk__in=by_attempt)
        )
    if filters.channel:
        # Tried or paid through the channel. Filtering on the annotated channel instead
        # evaluated its two subqueries for every order (2 s at a million).
        tried = PaymentAttempt.objects.filter(order=OuterRef("pk"), channel=filters.channel)
        orders = orders.filter(Exists(tried))
    return orders


@dataclass(frozen=True)
class RefundFilters:
    q: str = ""
    status: str = ""
    created_from: date | None = None
    created_to: date | None = None


def find_refunds(departments: list[int] | None, filters: RefundFilters) -> QuerySet[Refund]:
    """Refunds of the departments' orders (all when None); ``q`` is a refund id, an order
    id or a case number. Scoped by the order's department directly, not through a
    subquery of the visible orders, which made PostgreSQL hash every order (0.15–0.37 s at
    a million)."""
    refunds = Refund.objects.select_related("order__department")
    if departments is not None:
        refunds = refunds.filter(order__department__in=departments)
    if filters.q:
        refunds = refunds.filter(
            Q(public_id=filters.q) | Q(order__public_id=filters.q) | Q(order__case_number=filters.q)
        )
    if filters.status:
        refunds = refunds.filter(status=filters.status)
    if filters.created_from:
        refunds = refunds.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        refunds = refunds.filter(created_at__date__lte=filters.created_to)
    return refunds.order_by("-created_at", "-id")


@dataclass(frozen=True)
class ShipmentFilters:
    q: str = ""
    status: str = ""
    courier: str = ""
    flag: str = ""  # one of TIME_LIMIT_FLAGS
    department: str = ""


def find_shipments(visible: QuerySet[Shipment], filters: ShipmentFilters) -> QuerySet[Shipment]:
    """``q`` is a waybill number, a case number or a shipment id."""
    shipments = shipment_selectors.filter_shipments(
        visible,
        status=filters.status,
        courier=filters.courier,
        **({filters.flag: True} if filters.flag else {}),
    )
    if filters.q:
        shipments = shipments.filter(
            Q(waybill_no=filters.q) | Q(case_number=filters.q) | Q(public_id=filters.q)
        )
    if filters.department:
        shipments = shipments.filter(department__code=filters.department)
    return shipments


def _shown(receipts: QuerySet[Receipt]) -> QuerySet[Receipt]:
    """Receipts as the console lists them: with the refund and the receipt a red-letter one
    is for, without the signed file, and ``overdue`` when still requested
    ``RECEIPT_OVERDUE_AFTER`` after they were asked for."""
    asked_before = timezone.now() - RECEIPT_OVERDUE_AFTER
    overdue = Q(status=ReceiptStatus.REQUESTED, created_at__lt=asked_before)
    return (
        receipts.select_related("refund", "related")
        .defer("xml", "request", "related__xml", "related__request")
        .annotate(overdue=ExpressionWrapper(overdue, output_field=BooleanField()))
    )


def visible_receipts(department_ids: list[int] | None) -> QuerySet[Receipt]:
    """Receipts of the departments' orders (all when None)."""
    receipts = Receipt.objects.select_related("order__department")
    if department_ids is not None:
        receipts = receipts.filter(order__department__in=department_ids)
    return _shown(receipts)


def receipts_of_business_date(receipts: QuerySet[Receipt], day: date) -> QuerySet[Receipt]:
    """A receipt belongs to the business date of the payment or the refund it is for.

    Each kind is found through its own date's index; one condition over both dates would
    read every receipt.
    """
    start = datetime.combine(day, time.min, tzinfo=BEIJING)
    end = start + timedelta(days=1)
    of_payments = Receipt.objects.filter(
        kind=ReceiptKind.NORMAL, order__paid_at__gte=start, order__paid_at__lt=end
    )
    of_refunds = Receipt.objects.filter(
        kind=ReceiptKind.RED, refund__refunded_at__gte=start, refund__refunded_at__lt=end
    )
    ids = of_payments.order_by().values("pk").union(of_refunds.order_by().values("pk"), all=True)
    return receipts.filter(pk__in=ids)


@dataclass(frozen=True)
class ReceiptFilters:
    q: str = ""
    status: str = ""
    kind: str = ""
    business_date: date | None = None


def find_receipts(receipts: QuerySet[Receipt], filters: ReceiptFilters) -> QuerySet[Receipt]:
    """``q`` is a receipt number, a receipt id, an order id or a case number; the newest first."""
    if filters.q:
        receipts = receipts.filter(
            Q(number=filters.q)
            | Q(public_id=filters.q)
            | Q(order__public_id=filters.q)
            | Q(order__case_number=filters.q)
        )
    if filters.status:
        receipts = receipts.filter(status=filters.status)
    if filters.kind:
        receipts = receipts.filter(kind=filters.kind)
    if filters.business_date:
        receipts = receipts_of_business_date(receipts, filters.business_date)
    return receipts.order_by("-created_at", "-id")


def audit_trail(**object_ids: list[str]) -> QuerySet[AuditRecord]:
    """Audit rows of the named objects, newest first: ``audit_trail(Refund=[ids], ...)``."""
    wanted = Q(pk__in=[])
    for object_type, ids in object_ids.items():
        wanted |= Q(object_type=object_type, object_id__in=ids)
    return AuditRecord.objects.filter(wanted).order_by("-at", "-id")


@dataclass(frozen=True)
class OrderHistory:
    """Everything recorded about one order, each part in its own order of events."""

    attempts: list[PaymentAttempt]
    notifications: list[PaymentNotification]
    refunds: list[Refund]
    postings: list[LedgerPosting]
    revenue_records: list[RevenueRecord]
    receipts: list[Receipt]
    webhook_events: list[WebhookEvent]
    shipments: list[Shipment]
    audit: list[AuditRecord]


def order_history(order: PaymentOrder, visible_shipments: QuerySet[Shipment]) -> OrderHistory:
    attempts = list(order.attempts.order_by("created_at", "id"))
    refunds = list(order.refunds.select_related("attempt").order_by("created_at", "id"))
    revenue_records = list(
        order.revenue_records.select_related("revenue_system", "refund").order_by("sequence")
    )
    receipts = list(_shown(order.receipts.all()).order_by("created_at", "id"))
    attempt_ids = [attempt.public_id for attempt in attempts]
    refund_ids = [refund.public_id for refund in refunds]
    return OrderHistory(
        attempts=attempts,
        # Money for a trade we could not tie to an attempt is still this order's if the
        # out-trade number is one of its attempts'.
        notifications=list(
            PaymentNotification.objects.filter(
                Q(attempt__order=order) | Q(out_trade_no__in=attempt_ids)
            )
            .select_related("attempt")
            .order_by("-received_at", "-id")
        ),
        refunds=refunds,
        postings=list(
            LedgerPosting.objects.filter(reference__in=attempt_ids + refund_ids)
            .prefetch_related("entries__account")
            .order_by("created_at", "id")
        ),
        revenue_records=revenue_records,
        receipts=receipts,
        webhook_events=list(
            WebhookEvent.objects.filter(
                Q(type__startswith="payment_order.", payload__id=order.public_id)
                | Q(type__startswith="refund.", payload__order=order.public_id)
            )
            .prefetch_related("deliveries")
            .order_by("-created_at", "-id")
        ),
        shipments=list(
            visible_shipments.filter(Q(case_number=order.case_number) | Q(freight_order=order))
        ),
        audit=list(
            audit_trail(
                PaymentOrder=[order.public_id],
                PaymentAttempt=attempt_ids,
                Refund=refund_ids,
                RevenueRecord=[record.public_id for record in revenue_records],
                Receipt=[receipt.public_id for receipt in receipts],
            )
        ),
    )
