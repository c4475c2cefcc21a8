"""The contract between the service and every courier.

Only a courier's own package touches its wire format; the service sees these frozen
dataclasses, with money in integer fen, aware datetimes and one normalised status
vocabulary. The errors are those of integrations.errors, re-exported here for the
service: ProviderUnavailable is the only retryable one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from integrations.errors import (
    InvalidPush,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
)

__all__ = [
    "Address",
    "Booking",
    "BookingRequest",
    "Courier",
    "FailureReason",
    "FreightLine",
    "InvalidPush",
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "PushAck",
    "ShipmentStatus",
    "TrackingEvent",
]


class ShipmentStatus(enum.StrEnum):
    """A shipment's status, normalised across couriers."""

    PENDING = "pending"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    READY_FOR_PICKUP = "ready_for_pickup"
    DELIVERY_FAILED = "delivery_failed"
    ON_HOLD = "on_hold"
    DELIVERED = "delivered"
    RETURNING = "returning"
    RETURNED = "returned"
    LOST_DAMAGED = "lost_damaged"
    CANCELLED = "cancelled"


class FailureReason(enum.StrEnum):
    """Why a delivery failed or a shipment is held, normalised across couriers."""

    REFUSED = "refused"
    BAD_ADDRESS = "bad_address"
    NOT_HOME = "not_home"
    UNREACHABLE = "unreachable"  # the recipient's phone does not answer
    OTHER = "other"


@dataclass(frozen=True)
class Address:
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    region_code: str = ""  # the administrative division code (GB/T 2260), when known


@dataclass(frozen=True)
class BookingRequest:
    order_no: str  # our shipment id: the courier's idempotency key for the booking
    sender: Address
    recipient: Address
    items: str  # what is in the parcel, as the courier prints it
    declared_value: int  # fen
    service_level: str  # the courier's product code
    notify_url: str  # our push endpoint for this shipment's events
    pickup_from: datetime | None = None
    pickup_until: datetime | None = None


@dataclass(frozen=True)
class Booking:
    order_no: str
    waybill_no: str
    label: bytes | str  # the label itself, or a URL to fetch it from


@dataclass(frozen=True)
class TrackingEvent:
    courier: str
    waybill_no: str
    event_id: str  # unique per courier event, the same each time the event is pushed
    code: str  # the courier's own operation code
    status: ShipmentStatus
    reason: FailureReason | str  # "" unless the event is a failure or a hold
    occurred_at: datetime
    location: str
    description: str
    # Proof of delivery, on delivered events only: who signed, as the courier reports it,
    # and a reference to the courier's proof-of-delivery image (a URL or the courier's
    # image id); "" when the courier does not say.
    signer: str = ""
    proof_ref: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class FreightLine:
    waybill_no: str
    order_no: str
    amount: int  # fen
    date: date


@dataclass(frozen=True)
class PushAck:
    """The exact HTTP answer a courier expects when we accept or refuse a push."""

    status: int
    body: bytes
    content_type: str


class Courier(Protocol):
    """A courier's adapter: stateless, so any process can act on any shipment."""

    code: str

    def book(self, request: BookingRequest) -> Booking: ...

    def cancel(self, order_no: str, waybill_no: str) -> None:
        """Cancel a booking; ProviderDeclined when the courier no longer can."""
        ...

    def track(self, waybill_no: str) -> list[TrackingEvent]:
        """Every event of the waybill so far, oldest first."""
        ...

    def parse_push(
        self, headers: dict[str, str], body: bytes, query: dict[str, str]
    ) -> list[TrackingEvent]:
        """Verify an inbound push and parse its events; raise InvalidPush."""
        ...

    def acknowledge(self, accepted: bool) -> PushAck: ...

    def fetch_freight_bill(self, bill_date: date) -> bytes:
        """The courier's freight bill for a date, as the raw bytes it serves."""
        ...

    def parse_freight_bill(self, content: bytes) -> list[FreightLine]: ...
