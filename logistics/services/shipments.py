"""Creating and cancelling shipments, and the freight order that comes before pickup."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import Department, FeeItem, FeeKind, OrderStatus
from billing.services import closing, refunds
from billing.services import orders as payment_orders
from core import pii
from core.audit import audit_record
from core.commit_hooks import after_commit
from core.errors import DomainError, IllegalTransition, InvalidRequest, NotFound
from core.models import ApiClient
from core.outside import get_courier
from integrations.couriers.base import Address, ProviderDeclined
from logistics import contacts, couriers, states
from logistics.models import (
    Consolidation,
    FreightPayer,
    Shipment,
    ShipmentItem,
    ShipmentKind,
    ShipmentStatus,
)
from logistics.services.booking import enqueue_booking, parts_awaited
from logistics.services.parts import parts_record, parts_release
from logistics.services.status import lock_shipment, shipment_event_emit, shipment_transition
from notices.sms import NoticeKind, notice_request

FREIGHT_SERVICE_ITEM = "FREIGHT"
TRACKING_CODE_DIGITS = 6


@dataclass(frozen=True)
class ItemInput:
    kind: str
    title: str
    issuing_agency: str
    number: str = ""
    copies: int = 1


@dataclass(frozen=True)
class NewShipment:
    kind: str
    case_number: str
    department: str
    sender: Address
    recipient: Address
    items: list[ItemInput]
    courier: str
    service_level: str
    deliver_by: datetime
    freight_payer: str
    undeliverable_rule: str
    declared_value: int = 0
    consolidation: str = Consolidation.SINGLE
    parallel_approval_id: str = ""
    payer: payment_orders.PayerInput | None = None  # who pays an applicant's freight
    # The waybill a courier the service does not book with issued at the agency's counter.
    waybill_no: str = ""


@dataclass(frozen=True)
class CreatedShipment:
    shipment: Shipment
    freight_verification_code: str  # shown once, for the applicant to pay the freight
    tracking_code: str  # shown once, for the applicant's public tracking lookup


class WaybillTaken(DomainError):
    code = "waybill_taken"


def tracking_code_hash(shipment_public_id: str, code: str) -> str:
    """The stored form of a shipment's tracking code: a keyed hash bound to the shipment."""
    return pii.blind_index(code, purpose=f"tracking_code:{shipment_public_id}")


def shipment_create(*, client: ApiClient | None, new: NewShipment) -> CreatedShipment:
    """Record a shipment; runs inside the caller's (idempotent) transaction.

    An applicant's freight becomes a payment order, and the pickup is booked once it is
    paid; an agency's freight goes on its monthly account and the booking starts at once.
    A consolidated parcel is booked only once every agency's result is ready (parts.py); a
    courier the service does not book with brings its waybill from the counter.
    """
    department = Department.objects.filter(code=new.department, active=True).first()
    if department is None:
        raise InvalidRequest(
            "Unknown or inactive department.", fields={"department": ["No such department."]}
        )
    _check_consolidation(new)
    if new.deliver_by <= timezone.now():
        raise InvalidRequest(
            "deliver_by must be in the future.", fields={"deliver_by": ["In the past."]}
        )
    choice = couriers.choose_courier(
        requested=new.courier,
        service_level=new.service_level,
        region_code=new.recipient.region_code,
    )
    _check_waybill(new, choice.courier)
    freight = couriers.freight_quote(
        courier=choice.courier, service_level=new.service_level, declared_value=new.declared_value
    )
    created_order = None
    if new.freight_payer == FreightPayer.APPLICANT:
        created_order = _freight_order(client, department, new, freight)
    tracking_code = str(secrets.randbelow(10**TRACKING_CODE_DIGITS)).zfill(TRACKING_CODE_DIGITS)
    shipment = Shipment(
        kind=new.kind,
        case_number=new.case_number,
        department=department,
        consolidation=new.consolidation,
        parallel_approval_id=new.parallel_approval_id,
        sender_encrypted=contacts.seal(new.sender, column=contacts.SENDER),
        sender_masked=contacts.masked(new.sender),
        recipient_encrypted=contacts.seal(new.recipient, column=contacts.RECIPIENT),
        recipient_masked=contacts.masked(new.recipient),
        recipient_phone_index=contacts.phone_index(new.recipient.phone),
        recipient_region_code=new.recipient.region_code,
        courier=choice.courier,
        service_level=new.service_level,
        routing={"requested": new.courier, "chosen": choice.courier, "reason": choice.reason},
        declared_value=new.declared_value,
        deliver_by=new.deliver_by,
        undeliverable_rule=new.undeliverable_rule,
        freight_payer=new.freight_payer,
        freight_amount=freight,
        freight_order=created_order.order if created_order else None,
        status=ShipmentStatus.AWAITING_FREIGHT if created_order else ShipmentStatus.PENDING,
        waybill_no=new.waybill_no,
        booked_at=timezone.now() if new.waybill_no else None,
        created_by=client,
    )
    shipment.tracking_code_hash = tracking_code_hash(shipment.public_id, tracking_code)
    _insert(shipment)
    parts_record(shipment, client=client, agencies={item.issuing_agency for item in new.items})
    books_now = not created_order and not new.waybill_no and not parts_awaited(shipment)
    if books_now:
        shipment.next_booking_at = timezone.now()
        shipment.save(update_fields=["next_booking_at"])
    ShipmentItem.objects.bulk_create(
        ShipmentItem(shipment=shipment, **vars(item)) for item in new.items
    )
    audit_record(
        actor=f"client:{client.name}" if client else "system",
        action="shipment.created",
        obj=shipment,
        to_status=shipment.status,
        data={"courier": choice.courier, "freight": freight, "freight_payer": new.freight_payer},
    )
    if books_now:
        after_commit(enqueue_booking, shipment.pk)
    if new.waybill_no:  # booked at the courier's counter: the applicant is told now
        notice_request(kind=NoticeKind.SHIPMENT_BOOKED, shipment=shipment)
    return CreatedShipment(
        shipment=shipment,
        freight_verification_code=created_order.verification_code if created_order else "",
        tracking_code=tracking_code,
    )


def _insert(shipment: Shipment) -> None:
    """Insert the shipment; a counter waybill already recorded for the courier is a 409."""
    try:
        with transaction.atomic():
            shipment.save(force_insert=True)
    except IntegrityError as exc:
        if not Shipment.objects.filter(
            courier=shipment.courier, waybill_no=shipment.waybill_no
        ).exists():
            raise
        raise WaybillTaken(
            f"{shipment.courier} waybill {shipment.waybill_no} is another shipment's.",
            fields={"waybill_no": ["Already recorded for another shipment."]},
        ) from exc


def _check_waybill(new: NewShipment, courier: str) -> None:
    """A courier the service books gives its waybill at booking; any other brings its own
    from the counter, and so cannot hold a consolidated parcel for its parts."""
    problem = ""
    if couriers.booked_by_the_service(courier) and new.waybill_no:
        problem = f"The service books {courier} and gets the waybill then: leave it out."
    elif not couriers.booked_by_the_service(courier) and not new.waybill_no:
        problem = f"{courier} takes the parcel at the counter: give the waybill it issued."
    elif new.waybill_no and new.consolidation == Consolidation.CONSOLIDATED:
        problem = "A consolidated parcel is handed over when its last part is ready, not before."
    if problem:
        raise InvalidRequest(problem, code="waybill_mismatch", fields={"waybill_no": [problem]})


def _check_consolidation(new: NewShipment) -> None:
    agencies = {item.issuing_agency for item in new.items}
    problem = ""
    if new.consolidation != Consolidation.SINGLE and not new.parallel_approval_id:
        problem = "A parallel approval's shipment needs its parallel_approval_id."
    elif new.consolidation == Consolidation.CONSOLIDATED and new.kind != ShipmentKind.RESULT:
        problem = "Only results are consolidated by the comprehensive window."
    elif new.consolidation == Consolidation.CONSOLIDATED and len(agencies) < 2:
        problem = "A consolidated shipment carries results of two or more agencies."
    elif new.consolidation != Consolidation.CONSOLIDATED and len(agencies) > 1:
        problem = "Items of several agencies travel in a consolidated shipment."
    if problem:
        raise InvalidRequest(
            problem, code="consolidation_mismatch", fields={"consolidation": [problem]}
        )


def _freight_order(
    client: ApiClient | None, department: Department, new: NewShipment, freight: int
) -> payment_orders.CreatedOrder:
    if new.payer is None:
        raise InvalidRequest(
            "The applicant pays the freight: name the payer.", fields={"payer": ["Required."]}
        )
    item = FeeItem.objects.filter(department=department, kind=FeeKind.FREIGHT, active=True).first()
    if item is None:
        raise InvalidRequest(
            f"Department {department.code} does not collect freight; the agency must pay it.",
            code="no_freight_item",
            fields={"freight_payer": ["The department has no freight fee item."]},
        )
    return payment_orders.payment_order_create(
        client=client,
        case_number=new.case_number,
        service_item_code=FREIGHT_SERVICE_ITEM,
        department_code=department.code,
        region_code=department.region_code,
        payer=new.payer,
        lines=[payment_orders.LineInput(fee_item=item.code, quantity=1, amount=freight)],
    )


def freight_order_changed(event: Mapping[str, Any]) -> None:
    """Follow the freight order: book once paid, cancel if it expires or is cancelled.

    Applied after billing commits the order's change, with the shipment's lock only.
    """
    shipment_id = (
        Shipment.objects.filter(freight_order_id=event["order_id"])
        .values_list("pk", flat=True)
        .first()
    )
    if shipment_id is None:
        return
    shipment = lock_shipment(shipment_id)
    if shipment.status != ShipmentStatus.AWAITING_FREIGHT:
        return
    status = event["status"]
    if status == OrderStatus.PAID:
        books_now = not shipment.waybill_no and not parts_awaited(shipment)
        shipment.next_booking_at = timezone.now() if books_now else None
        shipment_transition(
            shipment, to=ShipmentStatus.PENDING, actor="system", reason="freight paid"
        )
        if books_now:
            after_commit(enqueue_booking, shipment.pk)
    elif status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
        shipment.next_booking_at = None
        shipment_transition(
            shipment, to=ShipmentStatus.CANCELLED, actor="system", reason=f"freight order {status}"
        )
        parts_release(shipment)


def get_shipment(public_id: str) -> Shipment:
    shipment = Shipment.objects.filter(public_id=public_id).first()
    if shipment is None:
        raise NotFound("No such shipment.")
    return shipment


def shipment_cancel(*, public_id: str, actor: str, reason: str = "") -> Shipment:
    """Cancel before pickup: the freight order, the courier's booking, then the shipment.

    Paid freight is refunded. A booking the courier no longer cancels (picked up) is a
    409 and nothing changes here.
    """
    shipment = get_shipment(public_id)
    if shipment.status not in states.CANCELLABLE:
        raise IllegalTransition(f"The shipment is {shipment.status}: too late to cancel.")
    if shipment.status == ShipmentStatus.AWAITING_FREIGHT:
        # Paid meanwhile: the freight is refunded below.
        with contextlib.suppress(IllegalTransition):
            closing.payment_order_cancel(
                public_id=shipment.freight_order.public_id, actor=actor, reason="shipment cancelled"
            )
        shipment.refresh_from_db()  # the freight order as it is now
    if shipment.waybill_no and couriers.booked_by_the_service(shipment.courier):
        try:
            get_courier(shipment.courier).cancel(shipment.public_id, shipment.waybill_no)
        except ProviderDeclined as exc:
            raise IllegalTransition(
                f"{shipment.courier} no longer cancels the pickup ({exc.code}): it is picked up."
            ) from exc
    return _cancel_recorded(shipment, actor=actor, reason=reason)


def _cancel_recorded(shipment: Shipment, *, actor: str, reason: str) -> Shipment:
    refund = None
    with transaction.atomic(durable=True):
        order = shipment.freight_order
        if order is not None and order.status == OrderStatus.PAID:
            # The order is locked first, then the shipment.
            refund = refunds.refund_reserve(
                order_public_id=order.public_id,
                amount=order.amount,
                reason="shipment cancelled before pickup",
                actor=actor,
            )
        shipment = lock_shipment(shipment.pk)
        if shipment.status not in states.CANCELLABLE:
            raise IllegalTransition(f"The shipment is {shipment.status}: too late to cancel.")
        shipment.next_booking_at = None
        shipment_transition(shipment, to=ShipmentStatus.CANCELLED, actor=actor, reason=reason)
        parts_release(shipment)
    if refund is not None:
        refunds.refund_submit(refund_public_id=refund.public_id, actor=actor)
    return shipment


# What the applicant may choose when asked, as the action then recorded.
APPLICANT_CHOICES = {
    "hold": "hold_for_pickup",
    "return": "return_to_agency",
    "redeliver": "redeliver",
}
AWAITING_CHOICE = "awaiting_applicant_choice"


def undeliverable_choose(*, public_id: str, choice: str, actor: str) -> Shipment:
    """Record the applicant's choice for an undeliverable shipment and tell the courier desk."""
    with transaction.atomic(durable=True):
        shipment = lock_shipment(get_shipment(public_id).pk)
        if shipment.undeliverable_action != AWAITING_CHOICE:
            raise IllegalTransition("The shipment is not waiting for the applicant's choice.")
        shipment.undeliverable_action = APPLICANT_CHOICES[choice]
        shipment.save(update_fields=["undeliverable_action", "updated_at"])
        audit_record(
            actor=actor,
            action="shipment.undeliverable_choice",
            obj=shipment,
            data={"choice": choice},
        )
        shipment_event_emit(shipment, "shipment.undeliverable")
    return shipment


def proof_attach(*, public_id: str, image_ref: str, actor: str) -> Shipment:
    """Keep the reference to the proof-of-delivery image with a delivered shipment."""
    with transaction.atomic(durable=True):
        shipment = lock_shipment(get_shipment(public_id).pk)
        if shipment.status != ShipmentStatus.DELIVERED:
            raise IllegalTransition("Only a delivered shipment has a proof of delivery.")
        previous = shipment.pod_image_ref
        shipment.pod_image_ref = image_ref
        shipment.save(update_fields=["pod_image_ref", "updated_at"])
        audit_record(
            actor=actor,
            action="shipment.proof_attached",
            obj=shipment,
            data={"image_ref": image_ref, "replaced": previous},
        )
    return shipment
