"""The delivery time limit and silence: at-risk, overdue and stale shipments.

Each flag is raised once, with the time it was raised, an audit row and a webhook; the
API also computes at-risk and overdue live from the time limit, so nothing waits for
this sweep to be true.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.audit import audit_record
from logistics import states
from logistics.models import Shipment, ShipmentStatus
from logistics.services.status import lock_shipment, shipment_event_emit

OPEN = [ShipmentStatus.AWAITING_FREIGHT, ShipmentStatus.PENDING, *states.IN_FLIGHT]


@dataclass(frozen=True)
class Flag:
    field: str
    event_type: str


AT_RISK = Flag("at_risk_since", "shipment.at_risk")
OVERDUE = Flag("overdue_since", "shipment.overdue")
STALE = Flag("stale_since", "shipment.stale")


def at_risk(now: datetime) -> Q:
    """Not yet delivered and within the margin of its time limit (or past it)."""
    return Q(status__in=OPEN, deliver_by__lte=now + settings.LOGISTICS["at_risk_before"])


def overdue(now: datetime) -> Q:
    return Q(status__in=OPEN, deliver_by__lt=now)


def stale(now: datetime) -> Q:
    """In the courier's hands and no scan for the configured number of days."""
    silent_since = now - settings.LOGISTICS["stale_after"]
    return Q(status__in=states.IN_FLIGHT) & (
        Q(last_event_at__lt=silent_since)
        | Q(last_event_at__isnull=True, booked_at__lt=silent_since)
    )


def shipments_watch(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Raise the flags that became true; a stale shipment is also asked for its route."""
    now = now or timezone.now()
    raised = {}
    for flag, condition in ((AT_RISK, at_risk(now)), (OVERDUE, overdue(now)), (STALE, stale(now))):
        raised[flag.event_type] = _raise(flag, Shipment.objects.filter(condition), now, limit)
    return raised


def _raise(flag: Flag, candidates: QuerySet[Shipment], now: datetime, limit: int) -> int:
    ids = list(
        candidates.filter(**{f"{flag.field}__isnull": True}).values_list("pk", flat=True)[:limit]
    )
    for shipment_id in ids:
        with transaction.atomic(durable=True):
            shipment = lock_shipment(shipment_id)
            if getattr(shipment, flag.field) is not None:
                continue
            setattr(shipment, flag.field, now)
            if flag is STALE:
                shipment.next_poll_at = now
            shipment.save()
            audit_record(actor="system", action=flag.event_type, obj=shipment)
            shipment_event_emit(shipment, flag.event_type)
    return len(ids)
