"""What stands beside one discrepancy on its page: the record our reference names, the
party's lines, the payment order's history, the ledger and the audit trail.

Every related record is read through the viewer's own visibility, so a department-scoped
user never sees another department's order or shipment through a discrepancy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.models import PaymentAttempt, PaymentOrder, Refund
from billing.selectors import visible_orders
from core.auth import Principal
from core.models import AuditRecord
from core.pii import mask_name
from ledger.models import LedgerPosting
from logistics.models import Shipment
from logistics.selectors import visible_shipments
from reconciliation.models import (
    Clearing,
    Discrepancy,
    PartyKind,
    StatementFile,
    StatementLine,
)
from reconciliation.selectors import visible_clearing

# A reference can repeat in a file (a duplicate); a page shows the first few lines of it.
LINES_SHOWN = 20
AUDIT_SHOWN = 200


@dataclass(frozen=True)
class OurRecord:
    """The record our reference names, in the few facts both sides are compared on."""

    label: str
    ref: str
    amount: int | None
    status: str
    status_label: str
    at: datetime | None


@dataclass
class Related:
    ours: OurRecord | None = None
    statement: StatementFile | None = None
    their_lines: list[StatementLine] = field(default_factory=list)
    order: PaymentOrder | None = None
    payer_name: str = ""  # masked
    attempts: list[PaymentAttempt] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    shipment: Shipment | None = None
    postings: list[LedgerPosting] = field(default_factory=list)
    audit: list[AuditRecord] = field(default_factory=list)


def related_records(item: Discrepancy, principal: Principal) -> Related:
    related = Related()
    _our_side(item, principal, related)
    if related.order is not None:
        related.payer_name = mask_name(related.order.payer_name)
        related.attempts = list(
            related.order.attempts.prefetch_related("notifications").order_by("created_at", "id")
        )
        related.refunds = list(related.order.refunds.order_by("created_at", "id"))
    related.statement = item.run.statement
    related.their_lines = _their_lines(item)
    related.postings = _postings(item, related)
    related.audit = _audit(item, related)
    return related


def _our_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    """Fill in our record, its order and shipment; leg by leg, as matching named them."""
    kind = item.run.party_kind
    if kind == PartyKind.PROCESSOR:
        _processor_side(item, principal, related)
    elif kind == PartyKind.REVENUE:
        order = visible_orders(principal).filter(payment_code=item.our_ref).first()
        if order is not None:
            related.order = order
            related.ours = OurRecord(
                _("Payment order"),
                order.payment_code,
                order.amount,
                order.status,
                order.get_status_display(),
                order.paid_at,
            )
    elif kind == PartyKind.COURIER:
        _courier_side(item, principal, related)
    else:
        clearing = _clearing(item, principal)
        if clearing is not None:
            related.ours = OurRecord(
                _("Clearing"),
                f"{clearing.processor} · {clearing.department.code} · {clearing.business_date}"
                f" → {clearing.settlement_date}",
                clearing.net_amount,
                clearing.arrival,
                clearing.get_arrival_display(),
                None,
            )


def _processor_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    orders = visible_orders(principal)
    if item.kind == "refund":
        refund = Refund.objects.filter(public_id=item.our_ref, order__in=orders).first()
        if refund is not None:
            related.order = refund.order
            related.ours = OurRecord(
                _("Refund"),
                refund.public_id,
                refund.amount,
                refund.status,
                refund.get_status_display(),
                refund.refunded_at,
            )
        return
    attempt = PaymentAttempt.objects.filter(public_id=item.our_ref, order__in=orders).first()
    if attempt is not None:
        related.order = attempt.order
        related.ours = OurRecord(
            _("Payment attempt"),
            attempt.public_id,
            attempt.received_amount or attempt.amount,
            attempt.status,
            attempt.get_status_display(),
            attempt.paid_at,
        )


def _courier_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    by_ref = Q(public_id=item.our_ref) if item.our_ref else Q(pk__in=[])
    if item.their_ref:
        by_ref |= Q(waybill_no=item.their_ref)
    shipment = visible_shipments(principal).filter(by_ref).first()
    if shipment is None:
        return
    related.shipment = shipment
    related.ours = OurRecord(
        _("Shipment"),
        f"{shipment.public_id} · {shipment.waybill_no}",
        shipment.freight_amount,
        shipment.status,
        shipment.get_status_display(),
        shipment.booked_at,
    )
    if shipment.freight_order_id:
        related.order = visible_orders(principal).filter(pk=shipment.freight_order_id).first()


def _clearing(item: Discrepancy, principal: Principal) -> Clearing | None:
    """A bank item's our_ref is ``processor:department:settlement date``."""
    processor, _, rest = item.our_ref.partition(":")
    department, _, day = rest.partition(":")
    try:
        settlement_date = date.fromisoformat(day)
    except ValueError:
        return None  # a credit nobody expected: there is no clearing of ours
    return (
        visible_clearing(principal)
        .filter(processor=processor, department__code=department, settlement_date=settlement_date)
        .first()
    )


def _their_lines(item: Discrepancy) -> list[StatementLine]:
    """The lines of the run's file with our reference or one of theirs (a bank's are joined)."""
    if item.run.statement_id is None:
        return []
    their_refs = [ref for ref in item.their_ref.split(",") if ref]
    wanted = Q(ref=item.our_ref) if item.our_ref else Q(pk__in=[])
    if their_refs:
        wanted |= Q(their_ref__in=their_refs)
    lines = StatementLine.objects.filter(wanted, statement_id=item.run.statement_id)
    if item.kind in ("payment", "refund"):
        lines = lines.filter(kind=item.kind)  # a payment and its refund share references
    return list(lines.order_by("line_no")[:LINES_SHOWN])


def _postings(item: Discrepancy, related: Related) -> list[LedgerPosting]:
    """The order's payment and refund postings, and any adjustment resolving this item."""
    references = [f"discrepancy:{item.pk}"]
    references += [attempt.public_id for attempt in related.attempts]
    references += [refund.public_id for refund in related.refunds]
    postings = LedgerPosting.objects.filter(reference__in=references)
    return list(postings.prefetch_related("entries__account").order_by("id"))


def _audit(item: Discrepancy, related: Related) -> list[AuditRecord]:
    """Newest first: the discrepancy's steps and its order's, attempts', refunds', shipment's."""
    about = Q(object_type="Discrepancy", object_id=str(item.pk))
    objects = [("PaymentOrder", related.order), ("Shipment", related.shipment)]
    objects += [("PaymentAttempt", attempt) for attempt in related.attempts]
    objects += [("Refund", refund) for refund in related.refunds]
    for object_type, obj in objects:
        if obj is not None:
            about |= Q(object_type=object_type, object_id=obj.public_id)
    return list(AuditRecord.objects.filter(about).order_by("-at", "-id")[:AUDIT_SHOWN])
