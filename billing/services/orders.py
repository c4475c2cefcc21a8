"""Payment orders: creation against the fee catalogue, cancel, expiry and status moves."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from billing import events, states
from billing.models import (
    Department,
    FeeItem,
    FeeKind,
    OrderStatus,
    PaymentOrder,
    PaymentOrderLine,
)
from billing.payment_codes import payment_code_format
from billing.services.pricing import (
    LineInput,
    fee_items_named,
    priced_lines,
    service_item_charging,
)
from billing.webhooks import webhook_event_emit
from core import pii, reference_data
from core.audit import audit_entry, audit_record, audit_records
from core.errors import InvalidRequest, NotFound
from core.idempotency import DrawAgain
from core.models import ApiClient, AuditRecord

VERIFICATION_CODE_DIGITS = 6
PAYMENT_CODE_CONSTRAINT = "billing_paymentorder_payment_code_key"


@dataclass(frozen=True)
class PayerInput:
    type: str
    name: str
    id_number: str
    phone: str = ""


@dataclass(frozen=True)
class CreatedOrder:
    order: PaymentOrder
    verification_code: str


def verification_code_hash(code: str) -> str:
    return hmac.new(settings.PII_HASH_KEY, f"verify:{code}".encode(), hashlib.sha256).hexdigest()


def payment_order_create(
    *,
    client: ApiClient | None,
    case_number: str,
    service_item_code: str,
    department_code: str,
    region_code: str,
    payer: PayerInput,
    lines: list[LineInput],
    stage: str = "",
    expires_at: datetime | None = None,
) -> CreatedOrder:
    """Create an unpaid order, or a waived one when waivers leave nothing to pay; runs inside
    the caller's (idempotent) transaction, which runs it again if the payment code drawn is
    taken (``DrawAgain``).

    A fee order's lines must be fees of the service item, at one stage of its case (the one
    named, if any). A freight order is the courier's charge, not a fee of a service item:
    its service item code is recorded unchecked."""
    if not lines:
        raise InvalidRequest("An order needs at least one line.", fields={"lines": ["Empty."]})
    catalogue = fee_items_named(line.fee_item for line in lines)
    department = _department(department_code, catalogue)
    charged = priced_lines(department, catalogue, lines)
    purpose = _purpose_of(charged)
    service_item, stage = (
        service_item_charging(service_item_code, stage, charged)
        if purpose == FeeKind.FEE
        else (None, "")
    )
    total = sum(line.amount for line in charged)
    waivers = [line for line in charged if line.waiver_rule is not None]
    if total == 0 and not waivers:
        raise InvalidRequest(
            "The fee items total zero: the service is free and needs no payment order.",
            code="zero_amount",
        )
    now = timezone.now()
    expires_at = expires_at or now + settings.PAYMENT_ORDER_TTL
    if expires_at <= now:
        raise InvalidRequest(
            "expires_at must be in the future.", fields={"expires_at": ["In the past."]}
        )
    verification_code = str(secrets.randbelow(10**VERIFICATION_CODE_DIGITS)).zfill(
        VERIFICATION_CODE_DIGITS
    )
    order = _insert_with_unique_payment_code(
        PaymentOrder(
            verification_code_hash=verification_code_hash(verification_code),
            case_number=case_number,
            service_item_code=service_item_code,
            service_item=service_item,
            stage=stage,
            department=department,
            region_code=region_code,
            purpose=purpose,
            payer_type=payer.type,
            payer_name=payer.name,
            payer_id_number_encrypted=pii.encrypt(payer.id_number, column="order.payer_id_number"),
            payer_id_number_index=pii.blind_index(payer.id_number, purpose="id_number"),
            payer_id_number_masked=pii.mask_id_number(payer.id_number),
            payer_phone_encrypted=pii.encrypt(payer.phone, column="order.payer_phone")
            if payer.phone
            else "",
            payer_phone_index=pii.blind_index(payer.phone, purpose="phone") if payer.phone else "",
            amount=total,
            # Waived to nothing: settled now, with no channel, money, receipt nor revenue.
            status=OrderStatus.WAIVED if total == 0 else OrderStatus.UNPAID,
            expires_at=expires_at,
            created_by=client,
        )
    )
    for line in charged:
        line.order = order
    PaymentOrderLine.objects.bulk_create(charged)
    # The lines as written, with their fee items: what the answer shows, without reading
    # them back.
    order._prefetched_objects_cache = {"lines": charged}
    audit_record(
        actor=f"client:{client.name}" if client else "system",
        action="payment_order.created",
        obj=order,
        to_status=order.status,
        data={
            "amount": total,
            "case_number": case_number,
            **({"waivers": [_waiver_audited(line) for line in waivers]} if waivers else {}),
        },
    )
    return CreatedOrder(order=order, verification_code=verification_code)


def _department(code: str, catalogue: dict[str, FeeItem]) -> Department:
    """The active department of that code: read with its fee items, or on its own when none
    of the lines names one of its items (the lines are then refused one by one)."""
    department = next(
        (item.department for item in catalogue.values() if item.department.code == code), None
    )
    if department is None or not department.active:
        department = reference_data.cached(
            ("department", code), lambda: Department.objects.filter(code=code, active=True).first()
        )
    if department is None:
        raise InvalidRequest(
            "Unknown or inactive department.", fields={"department": ["No such department."]}
        )
    return department


def _purpose_of(lines: list[PaymentOrderLine]) -> str:
    kinds = {line.fee_item.kind for line in lines}
    if len(kinds) > 1:
        raise InvalidRequest(
            "Freight and public fees go on separate orders: they are owed to different parties.",
            code="mixed_purposes",
            fields={"lines": ["Mixes freight and fee items."]},
        )
    return kinds.pop()


def _waiver_audited(line: PaymentOrderLine) -> dict:
    return {
        "fee_item": line.fee_item.code,
        "waiver_reason": line.waiver_reason,
        "standard_unit_amount": line.standard_unit_amount,
        "unit_amount": line.unit_amount,
        "approved_by": line.waiver_approved_by,
        "approval_ref": line.waiver_approval_ref,
    }


def _insert_with_unique_payment_code(order: PaymentOrder) -> PaymentOrder:
    """Insert with a freshly drawn payment code; a taken one means drawing again.

    No savepoint guards the insert (it would cost two statements on every order for a
    collision of 13 random digits): the caller's whole transaction is run again.
    """
    order.payment_code = payment_code_format().generate(region_code=order.region_code)
    try:
        order.save(force_insert=True)
    except IntegrityError as exc:
        if getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") == (
            PAYMENT_CODE_CONSTRAINT
        ):
            raise DrawAgain from exc
        raise
    return order


def lock_order(order_id: int) -> PaymentOrder:
    """The order's row locked; its department is read with it but not locked, or every
    payment of a department would wait on the others' notifications."""
    return (
        PaymentOrder.objects.select_for_update(of=("self",))
        .select_related("department")
        .get(pk=order_id)
    )


def payment_order_transition(
    *,
    order: PaymentOrder,
    to: str,
    actor: str,
    reason: str = "",
    audited_with: Iterable[AuditRecord] = (),
) -> None:
    """Move a locked order to a new status, with its audit row and outbox event.

    ``audited_with``: audit rows of the same change, not yet written; they are written
    before the order's, in the same statement."""
    states.check_transition(
        states.ORDER_TRANSITIONS, kind="payment order", current=order.status, new=to
    )
    previous = order.status
    order.status = to
    order.save(update_fields=["status", "paid_at", "updated_at"])
    audit_records(
        *audited_with,
        audit_entry(
            actor=actor,
            action=f"payment_order.{to}",
            obj=order,
            from_status=previous,
            to_status=to,
            reason=reason,
        ),
    )
    if to in (OrderStatus.PAID, OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        webhook_event_emit(
            event_type=f"payment_order.{to}",
            payload=order_event_payload(order),
            owner_id=order.created_by_id,
        )
    events.payment_order_status_changed(order, previous=previous)


def order_event_payload(order: PaymentOrder) -> dict:
    """What the portal is told about an order: no personal data."""
    return {
        "id": order.public_id,
        "payment_code": order.payment_code,
        "case_number": order.case_number,
        "department": order.department.code,
        "purpose": order.purpose,
        "status": order.status,
        "amount": order.amount,
        "currency": order.currency,
        "paid_at": order.paid_at.isoformat() if order.paid_at else None,
    }


def get_order(public_id: str) -> PaymentOrder:
    order = PaymentOrder.objects.filter(public_id=public_id).first()
    if order is None:
        raise NotFound("No such payment order.")
    return order
