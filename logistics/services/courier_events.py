"""The normalised courier push: a courier beyond those the service books with (SF, EMS)
posts its scans in one JSON format, with its API key.

A courier key (``CourierKey``) names the one courier whose waybills it reports; a scan of
a waybill that is not that courier's shipment refuses the whole post. Scans go the way
every push goes (``push_store``, then ``CourierPushOutbox`` and ``_ingest``), so statuses
move as they do for SF and EMS. A scan is one event however often it is posted: its id is
the waybill, the instant (whatever the offset it was written with) and the code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import transaction

from core.auth import api_client_create
from core.errors import DomainError, InvalidRequest
from core.models import ApiClient, ApiRole
from integrations.couriers.base import FailureReason
from integrations.couriers.base import ShipmentStatus as Status
from integrations.couriers.base import TrackingEvent as CourierEvent
from logistics import couriers
from logistics.models import CourierKey, Shipment
from logistics.services.tracking import push_store

# The scan codes a courier posts, each a status of the service's own vocabulary.
SCAN_CODES = (
    Status.PICKED_UP,
    Status.IN_TRANSIT,
    Status.OUT_FOR_DELIVERY,
    Status.READY_FOR_PICKUP,
    Status.DELIVERY_FAILED,
    Status.ON_HOLD,
    Status.DELIVERED,
    Status.RETURNING,
    Status.RETURNED,
    Status.LOST_DAMAGED,
)
# Codes whose scan says why: a failed delivery or a hold.
CODES_WITH_REASON = frozenset({Status.DELIVERY_FAILED, Status.ON_HOLD})
FAILURE_REASONS = tuple(FailureReason)


class NotACourierKey(DomainError):
    status = 403
    code = "not_a_courier_key"


class UnknownWaybills(DomainError):
    status = 422
    code = "unknown_waybill"


@dataclass(frozen=True)
class PostedScan:
    waybill_no: str
    event_time: datetime  # aware
    code: str  # one of SCAN_CODES
    location: str = ""
    description: str = ""
    signer: str = ""  # who signed, on a delivered scan only
    reason: str = ""  # one of FAILURE_REASONS, on CODES_WITH_REASON only ("other" if not said)


def courier_key_create(*, name: str, courier: str) -> tuple[ApiClient, str]:
    """A courier-role API key for one courier's scans; the key is shown this once."""
    if courier not in couriers.configured():
        raise InvalidRequest(f"No courier {courier!r} is configured.")
    if couriers.booked_by_the_service(courier):
        raise InvalidRequest(f"{courier} pushes its scans in its own format, not with a key.")
    with transaction.atomic():
        client, key = api_client_create(name=name, role=ApiRole.COURIER)
        CourierKey.objects.create(client=client, courier=courier)
    return client, key


def courier_of(client: ApiClient | None) -> str:
    """The courier a courier-role key reports for."""
    link = CourierKey.objects.filter(client=client).first() if client else None
    if link is None:
        raise NotACourierKey("This key reports for no courier.")
    return link.courier


def courier_scans_receive(
    *, client: ApiClient | None, scans: list[PostedScan], body: bytes, source_ip: str
) -> int:
    """Keep the posted scans of the key's courier and queue their applying; returns how many.

    Refused whole, with nothing kept, when a scan names a waybill that is not one of the
    courier's shipments.
    """
    courier = courier_of(client)
    named = {scan.waybill_no for scan in scans}
    known = set(
        Shipment.objects.filter(courier=courier, waybill_no__in=named).values_list(
            "waybill_no", flat=True
        )
    )
    unknown = sorted(named - known)
    if unknown:
        raise UnknownWaybills(
            f"Not waybills of {courier}'s shipments: {', '.join(unknown)}.",
            fields={"events": [f"Unknown waybill {waybill}." for waybill in unknown]},
        )
    events = [_event(courier, scan) for scan in scans]
    push_store(courier_code=courier, body=body, events=events, source_ip=source_ip)
    return len(events)


def _event(courier: str, scan: PostedScan) -> CourierEvent:
    instant = scan.event_time.astimezone(UTC)
    fingerprint = f"{scan.waybill_no}|{instant.isoformat()}|{scan.code}"
    return CourierEvent(
        courier=courier,
        waybill_no=scan.waybill_no,
        event_id="key-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32],
        code=scan.code,
        status=Status(scan.code),
        reason=(scan.reason or FailureReason.OTHER) if scan.code in CODES_WITH_REASON else "",
        occurred_at=scan.event_time,
        location=scan.location,
        description=scan.description,
        signer=scan.signer,
    )
