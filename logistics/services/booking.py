"""Booking the pickup with the courier: lock, commit, call, lock again.

The courier call runs outside any transaction. The courier dedupes bookings by our
shipment id, so a retry after an unknown outcome returns the same waybill. A parcel that
awaits parts of a parallel approval is not booked until they are ready (services/parts.py).
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.outside import get_courier
from core.queueing import enqueue
from integrations.couriers.base import (
    Booking,
    BookingRequest,
    ProviderDeclined,
    ProviderError,
)
from logistics import contacts, couriers
from logistics.models import Shipment, ShipmentPart, ShipmentStatus
from logistics.services.status import lock_shipment, shipment_event_emit
from notices.sms import NoticeKind, notice_request

logger = logging.getLogger(__name__)

# After the n-th failed try the next one waits RETRY_DELAYS[n-1]; then once a day.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
LAST_DELAY = timedelta(days=1)


def retry_delay(tries: int) -> timedelta:
    return RETRY_DELAYS[tries - 1] if tries <= len(RETRY_DELAYS) else LAST_DELAY


def enqueue_booking(shipment_id: int) -> None:
    enqueue("logistics.tasks.book_shipment", shipment_id)


def parts_awaited(shipment: Shipment) -> bool:
    """Whether the parcel still waits for an agency's result (a held consolidated parcel)."""
    return ShipmentPart.objects.filter(
        shipment=shipment, active=True, ready_at__isnull=True
    ).exists()


def push_url(courier: str) -> str:
    return f"{settings.SERVICE_BASE_URL}/notify/couriers/{courier}/push"


def shipment_book(*, shipment_id: int) -> None:
    """Book a pending shipment's pickup; a crash anywhere leaves it for the sweep."""
    with transaction.atomic(durable=True):
        shipment = lock_shipment(shipment_id)
        if shipment.status != ShipmentStatus.PENDING or shipment.waybill_no:
            return
        if parts_awaited(shipment):
            shipment.next_booking_at = None  # the last part's readiness books it
            shipment.save(update_fields=["next_booking_at", "updated_at"])
            return
        shipment.booking_tries += 1
        # Also a lease: a lost task is picked up by the sweep once it passes.
        shipment.next_booking_at = timezone.now() + retry_delay(shipment.booking_tries)
        shipment.save(update_fields=["booking_tries", "next_booking_at", "updated_at"])
        request = _booking_request(shipment)
    courier = get_courier(shipment.courier)
    try:
        booking = courier.book(request)
    except ProviderDeclined as exc:
        _record_refusal(shipment_id, exc)
        return
    except ProviderError as exc:  # unavailable or unexpected: the next try is scheduled
        _record_error(shipment_id, str(exc))
        return
    _record_booking(shipment_id, booking)


def _booking_request(shipment: Shipment) -> BookingRequest:
    items = "; ".join(f"{item.title}×{item.copies}" for item in shipment.items.all()) or "政务文件"
    return BookingRequest(
        order_no=shipment.public_id,
        sender=contacts.unseal(shipment.sender_encrypted, column=contacts.SENDER),
        recipient=contacts.unseal(shipment.recipient_encrypted, column=contacts.RECIPIENT),
        items=items[:200],
        declared_value=shipment.declared_value,
        service_level=couriers.product_code(shipment.courier, shipment.service_level),
        notify_url=push_url(shipment.courier),
    )


def _record_error(shipment_id: int, error: str) -> None:
    with transaction.atomic(durable=True):
        shipment = lock_shipment(shipment_id)
        shipment.booking_error = error[:255]
        shipment.save(update_fields=["booking_error", "updated_at"])
    logger.warning("booking shipment %s failed, will retry: %s", shipment.public_id, error[:120])


def _record_refusal(shipment_id: int, exc: ProviderDeclined) -> None:
    """A courier's refusal (outside its area, bad address) needs a person: no more retries."""
    with transaction.atomic(durable=True):
        shipment = lock_shipment(shipment_id)
        if shipment.status != ShipmentStatus.PENDING or shipment.waybill_no:
            return
        shipment.booking_error = f"{exc.code}: {exc}"[:255]
        shipment.next_booking_at = None
        shipment.save(update_fields=["booking_error", "next_booking_at", "updated_at"])
        audit_record(
            actor=f"courier:{shipment.courier}",
            action="shipment.booking_refused",
            obj=shipment,
            reason=shipment.booking_error,
        )
        shipment_event_emit(shipment, "shipment.booking_failed", error=shipment.booking_error)


def _record_booking(shipment_id: int, booking: Booking) -> None:
    """Record the courier's waybill; unless the shipment was cancelled meanwhile, the portal
    is told, and the applicant of a result by SMS (notices.sms)."""
    cancelled_meanwhile = False
    with transaction.atomic(durable=True):
        shipment = lock_shipment(shipment_id)
        if shipment.waybill_no:
            return
        now = timezone.now()
        shipment.waybill_no = booking.waybill_no
        shipment.label = _label_text(booking.label)
        shipment.booked_at = now
        shipment.next_booking_at = None
        shipment.booking_error = ""
        shipment.next_poll_at = _first_poll(now)
        shipment.save()
        cancelled_meanwhile = shipment.status == ShipmentStatus.CANCELLED
        audit_record(
            actor=f"courier:{shipment.courier}",
            action="shipment.booked",
            obj=shipment,
            data={"waybill_no": booking.waybill_no},
        )
        if not cancelled_meanwhile:
            shipment_event_emit(shipment, "shipment.booked")
            notice_request(kind=NoticeKind.SHIPMENT_BOOKED, shipment=shipment)
    if cancelled_meanwhile:
        # Cancelled while the courier was booking it: cancel the booking we just made.
        try:
            get_courier(shipment.courier).cancel(shipment.public_id, booking.waybill_no)
        except ProviderError as exc:
            logger.error(
                "shipment %s was cancelled but its booking %s could not be: %s",
                shipment.public_id,
                booking.waybill_no,
                exc,
            )


def _label_text(label: bytes | str) -> str:
    return label if isinstance(label, str) else base64.b64encode(label).decode()


def _first_poll(now: datetime) -> datetime:
    return now + settings.LOGISTICS["poll_every"]


def shipments_due_for_booking(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        Shipment.objects.filter(
            status=ShipmentStatus.PENDING, waybill_no="", next_booking_at__lte=now
        )
        .order_by("next_booking_at")
        .values_list("pk", flat=True)[:limit]
    )
