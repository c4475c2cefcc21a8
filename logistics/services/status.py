"""The one way a shipment's status changes: checked, audited, and told to the portal."""

from __future__ import annotations

from billing.webhooks import webhook_event_emit
from core.audit import audit_record
from core.errors import IllegalTransition
from logistics import states
from logistics.models import Shipment
from notices.sms import shipment_notice_request


def lock_shipment(shipment_id: int) -> Shipment:
    return Shipment.objects.select_for_update().select_related("department").get(pk=shipment_id)


def shipment_transition(
    shipment: Shipment, *, to: str, actor: str, reason: str = "", data: dict | None = None
) -> None:
    """Move a locked shipment, save it whole, and write the audit row and the webhook."""
    if not states.may_move(shipment.status, to):
        raise IllegalTransition(f"A shipment cannot go from {shipment.status} to {to}.")
    previous = shipment.status
    shipment.status = to
    shipment.save()
    audit_record(
        actor=actor,
        action=f"shipment.{to}",
        obj=shipment,
        from_status=previous,
        to_status=to,
        reason=reason,
        data=data,
    )
    shipment_event_emit(shipment, "shipment.status_changed", previous_status=previous)
    shipment_notice_request(shipment=shipment)


def shipment_event_emit(shipment: Shipment, event_type: str, **extra: object) -> None:
    webhook_event_emit(
        event_type=event_type,
        payload={**shipment_payload(shipment), **extra},
        owner_id=shipment.created_by_id,
    )


def shipment_payload(shipment: Shipment) -> dict:
    """What the portal is told: no names, phones or addresses."""
    return {
        "id": shipment.public_id,
        "case_number": shipment.case_number,
        "kind": shipment.kind,
        "status": shipment.status,
        "failure_reason": shipment.failure_reason,
        "courier": shipment.courier,
        "waybill_no": shipment.waybill_no,
        "deliver_by": shipment.deliver_by.isoformat(),
        "undeliverable_action": shipment.undeliverable_action,
        "freight_order": shipment.freight_order.public_id if shipment.freight_order_id else None,
    }
