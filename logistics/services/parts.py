"""A parallel approval's results: each agency's part, held until ready, shipped once.

A consolidated parcel (the comprehensive window's one parcel for several agencies'
results) is held, not booked, until the portal has said of every agency's part that its
result is ready; the call that makes the last part ready releases the booking. A part
travels in one live shipment only, which the database keeps (one active part per portal,
parallel approval and agency): a second shipment naming it is refused, a cancelled one
lets it go.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.audit import audit_record
from core.commit_hooks import after_commit
from core.errors import DomainError, IllegalTransition, InvalidRequest, NotFound
from core.models import ApiClient
from logistics.models import (
    Consolidation,
    Shipment,
    ShipmentKind,
    ShipmentPart,
    ShipmentStatus,
)
from logistics.services.booking import enqueue_booking
from logistics.services.status import lock_shipment


class PartAlreadyShipping(DomainError):
    code = "part_already_shipping"


def parts_record(shipment: Shipment, *, client: ApiClient | None, agencies: set[str]) -> None:
    """Record the parts a parallel approval's result shipment carries, in the caller's
    transaction. A consolidated parcel's parts wait for their results; a part sent on its
    own is ready as it is sent."""
    if shipment.kind != ShipmentKind.RESULT or shipment.consolidation == Consolidation.SINGLE:
        return
    ready_at = None if shipment.consolidation == Consolidation.CONSOLIDATED else timezone.now()
    parts = [
        ShipmentPart(
            shipment=shipment,
            client=client,
            parallel_approval_id=shipment.parallel_approval_id,
            issuing_agency=agency,
            ready_at=ready_at,
        )
        for agency in sorted(agencies)
    ]
    try:
        with transaction.atomic():
            ShipmentPart.objects.bulk_create(parts)
    except IntegrityError as exc:
        taken = sorted(
            ShipmentPart.objects.filter(
                client=client,
                parallel_approval_id=shipment.parallel_approval_id,
                issuing_agency__in=agencies,
                active=True,
            ).values_list("issuing_agency", flat=True)
        )
        message = (
            f"Parallel approval {shipment.parallel_approval_id}: the results of "
            f"{', '.join(taken) or 'these agencies'} already travel in another shipment."
        )
        raise PartAlreadyShipping(message, fields={"items": [message]}) from exc


def parts_release(shipment: Shipment) -> None:
    """A cancelled shipment lets its parts go: each result may travel in another one."""
    ShipmentPart.objects.filter(shipment=shipment, active=True).update(active=False)


def shipment_part_ready(*, public_id: str, issuing_agency: str, actor: str) -> Shipment:
    """Mark one agency's result ready; the last one releases a held parcel's booking.

    Idempotent: a part already ready changes nothing. Concurrent calls take the shipment's
    lock in turn, so exactly one of them sees every part ready.
    """
    shipment_id = Shipment.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if shipment_id is None:
        raise NotFound("No such shipment.")
    with transaction.atomic(durable=True):
        shipment = lock_shipment(shipment_id)
        if shipment.status == ShipmentStatus.CANCELLED:
            raise IllegalTransition("The shipment is cancelled.", code="shipment_cancelled")
        parts = list(shipment.parts.filter(active=True))
        if not parts:
            raise IllegalTransition(
                "The shipment carries no part of a parallel approval.", code="no_parts"
            )
        part = next((each for each in parts if each.issuing_agency == issuing_agency), None)
        if part is None:
            known = ", ".join(each.issuing_agency for each in parts)
            raise InvalidRequest(
                f"The shipment carries no result of {issuing_agency}.",
                code="unknown_part",
                fields={"issuing_agency": [f"One of: {known}."]},
            )
        if part.ready_at is not None:
            return shipment
        part.ready_at = timezone.now()
        part.save(update_fields=["ready_at"])
        audit_record(
            actor=actor,
            action="shipment.part_ready",
            obj=shipment,
            data={"issuing_agency": issuing_agency},
        )
        if all(each.ready_at is not None for each in parts):
            _release_booking(shipment, actor=actor)
    return shipment


def _release_booking(shipment: Shipment, *, actor: str) -> None:
    """Every part is ready: book the parcel, unless its freight is still unpaid (the
    payment books it then)."""
    audit_record(actor=actor, action="shipment.parts_ready", obj=shipment)
    if shipment.status == ShipmentStatus.PENDING and not shipment.waybill_no:
        shipment.next_booking_at = timezone.now()
        shipment.save(update_fields=["next_booking_at", "updated_at"])
        after_commit(enqueue_booking, shipment.pk)
