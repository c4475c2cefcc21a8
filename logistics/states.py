"""How a shipment's status may move, and how it follows from its courier's events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from logistics.models import ShipmentStatus as S

TERMINAL = frozenset({S.DELIVERED, S.RETURNED, S.LOST_DAMAGED, S.CANCELLED})
# A terminal status changes only through the return flow: a delivered parcel can still be
# sent back (refused after signing, delivered to the wrong person).
TERMINAL_EXITS: dict[str, frozenset[str]] = {
    S.DELIVERED: frozenset({S.RETURNING, S.RETURNED}),
    S.RETURNED: frozenset(),
    S.LOST_DAMAGED: frozenset(),
    S.CANCELLED: frozenset(),
}
IN_FLIGHT = frozenset(
    {
        S.PICKED_UP,
        S.IN_TRANSIT,
        S.OUT_FOR_DELIVERY,
        S.READY_FOR_PICKUP,
        S.DELIVERY_FAILED,
        S.ON_HOLD,
        S.RETURNING,
    }
)
CANCELLABLE = frozenset({S.AWAITING_FREIGHT, S.PENDING})
# Two scans with the same time: the one further along the parcel's life wins.
_PROGRESS = {
    S.PENDING: 0,
    S.PICKED_UP: 1,
    S.IN_TRANSIT: 2,
    S.OUT_FOR_DELIVERY: 3,
    S.READY_FOR_PICKUP: 4,
    S.DELIVERY_FAILED: 4,
    S.ON_HOLD: 4,
    S.RETURNING: 5,
    S.DELIVERED: 6,
    S.RETURNED: 7,
    S.LOST_DAMAGED: 7,
}


def status_from_events(current: str, events: Iterable[tuple[datetime, str]]) -> str:
    """The status the latest event (by its own time) gives, unless the current one is final.

    A late old scan is not the latest, so it never moves a shipment backwards.
    """
    latest = max(events, key=lambda event: (event[0], _PROGRESS.get(event[1], 0)), default=None)
    if latest is None:
        return current
    candidate = latest[1]
    if current in TERMINAL and candidate not in TERMINAL_EXITS[current]:
        return current
    return candidate


def may_move(current: str, new: str) -> bool:
    if current == new:
        return False
    if current == S.AWAITING_FREIGHT:
        return new in (S.PENDING, S.CANCELLED)
    if current in TERMINAL:
        return new in TERMINAL_EXITS[current]
    if new == S.CANCELLED:
        return current in CANCELLABLE
    return new not in (S.AWAITING_FREIGHT, S.PENDING)
