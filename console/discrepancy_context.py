"""What stands beside one discrepancy on its page: the record our reference names, its
department, the party's lines, the payment order's history, the ledger and the audit trail.

Every related record is read through the viewer's own visibility, so a department-scoped
user never sees another department's order, shipment or remittance through a discrepancy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.models import (
    Department,
    PaymentAttempt,
    PaymentOrder,
    Receipt,
    ReceiptKind,
    Refund,
)
from billing.selectors import visible_orders
from closing.models import Remittance
from closing.selectors import visible_reports
from console.names import channel_name
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
    clearing: Clearing | None = None
    receipt: Receipt | None = None
    remittance: Remittance | None = None
    department: Department | None = None
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
    related.department = _department(item, related)
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
            related.ours = _order_record(order, order.payment_code)
    elif kind == PartyKind.COURIER:
        _courier_side(item, principal, related)
    elif kind == PartyKind.RECEIPT:
        _receipt_side(item, principal, related)
    elif kind == PartyKind.REMITTANCE:
        _remittance_side(item, principal, related)
    else:
        clearing = _clearing(item, principal)
        if clearing is not None:
            related.clearing = clearing
            related.ours = OurRecord(
                _("Clearing"),
                f"{channel_name(clearing.processor)} · {clearing.department.code}"
                f" · {clearing.business_date}"
                f" → {clearing.settlement_date}",
                clearing.net_amount,
                clearing.arrival,
                clearing.get_arrival_display(),
                None,
            )


def _department(item: Discrepancy, related: Related) -> Department | None:
    """The item's own department; else that of the order, shipment, clearing or remittance
    it is about (matching leaves it empty when the party's line alone could not name one)."""
    if item.department is not None:
        return item.department
    for record in (related.order, related.shipment, related.clearing, related.remittance):
        if record is not None:
            return record.department
    return None


def _processor_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    orders = visible_orders(principal)
    if item.kind == "refund":
        refund = Refund.objects.filter(public_id=item.our_ref, order__in=orders).first()
        if refund is not None:
            related.order = refund.order
            related.ours = _refund_record(refund)
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


def _order_record(order: PaymentOrder, ref: str) -> OurRecord:
    return OurRecord(
        _("Payment order"),
        ref,
        order.amount,
        order.status,
        order.get_status_display(),
        order.paid_at,
    )


def _refund_record(refund: Refund) -> OurRecord:
    return OurRecord(
        _("Refund"),
        refund.public_id,
        refund.amount,
        refund.status,
        refund.get_status_display(),
        refund.refunded_at,
    )


def _receipt_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    """A receipt item's our_ref is the business id its receipt is owed for: the order's
    (a normal receipt) or the refund's (a red-letter one). A numbering item (kind
    ``number``) is about the platform's numbers alone, which its their_ref names."""
    orders = visible_orders(principal)
    if item.kind == ReceiptKind.NORMAL:
        order = orders.filter(public_id=item.our_ref).first()
        if order is None:
            return
        related.order = order
        related.receipt = order.receipts.filter(kind=ReceiptKind.NORMAL).first()
        owed_for = _order_record(order, order.public_id)
    elif item.kind == ReceiptKind.RED:
        refund = Refund.objects.filter(public_id=item.our_ref, order__in=orders).first()
        if refund is None:
            return
        related.order = refund.order
        related.receipt = refund.receipts.filter(kind=ReceiptKind.RED).first()
        owed_for = _refund_record(refund)
    else:
        return
    receipt = related.receipt
    if receipt is None:
        related.ours = owed_for  # no receipt asked for: what one is owed for
        return
    related.ours = OurRecord(
        _("Fiscal receipt"),
        f"{receipt.code}_{receipt.number}" if receipt.number else receipt.public_id,
        receipt.amount,
        receipt.status,
        receipt.get_status_display(),
        receipt.issued_at,
    )


def _remittance_side(item: Discrepancy, principal: Principal, related: Related) -> None:
    """A remittance item's our_ref is the EndToEndId of the remittance (empty for a debit
    no remittance of ours ordered)."""
    if not item.our_ref:
        return
    remittance = (
        Remittance.objects.filter(
            end_to_end_id=item.our_ref, report__in=visible_reports(principal.user)
        )
        .select_related("report__department", "department")
        .first()
    )
    if remittance is None:
        return
    related.remittance = remittance
    related.ours = OurRecord(
        _("Remittance"),
        remittance.end_to_end_id,
        remittance.amount,
        remittance.status,
        remittance.get_status_display(),
        remittance.created_at,
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
    """Newest first: the discrepancy's steps and its order's, attempts', refunds', shipment's,
    receipt's, remittance's and its settlement report's."""
    about = Q(object_type="Discrepancy", object_id=str(item.pk))
    objects = [("PaymentOrder", related.order), ("Shipment", related.shipment)]
    objects += [("Receipt", related.receipt), ("Remittance", related.remittance)]
    if related.remittance is not None:
        objects.append(("SettlementReport", related.remittance.report))
    objects += [("PaymentAttempt", attempt) for attempt in related.attempts]
    objects += [("Refund", refund) for refund in related.refunds]
    for object_type, obj in objects:
        if obj is not None:
            about |= Q(object_type=object_type, object_id=obj.public_id)
    return list(AuditRecord.objects.filter(about).order_by("-at", "-id")[:AUDIT_SHOWN])
