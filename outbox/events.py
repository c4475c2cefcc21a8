"""How one app reacts to another's committed changes: published rows, applied by subscribers.

The publishing app writes an event in the transaction of its change, one row per
subscriber that wants it; after the commit a task applies each row in a transaction of its
own, with the subscriber's locks only. A subscriber that fails is tried again on the
schedule below. The publisher imports nothing of its subscribers: they subscribe to its
topic when their app is ready.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from outbox import engine, kinds
from outbox.models import AppEvent, AppEventStatus

S = AppEventStatus
RETRY_SCHEDULE = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
)


@dataclass(frozen=True)
class Subscriber:
    name: str
    topic: str
    # Applies one event's payload inside the event's transaction.
    handle: Callable[[Mapping[str, Any]], None]
    # Whether the subscriber cares about an event at all: no row is written otherwise.
    wants: Callable[[Mapping[str, Any]], bool]


_subscribers: dict[str, Subscriber] = {}


def subscribe(
    topic: str,
    *,
    name: str,
    handle: Callable[[Mapping[str, Any]], None],
    wants: Callable[[Mapping[str, Any]], bool] = lambda payload: True,
) -> None:
    _subscribers[name] = Subscriber(name=name, topic=topic, handle=handle, wants=wants)


def publish(topic: str, payload: dict[str, Any]) -> None:
    """Write the event for each subscriber that wants it, in the caller's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an event is published in the transaction of its change")
    wanted = [s for s in _subscribers.values() if s.topic == topic and s.wants(payload)]
    if not wanted:
        return
    now = timezone.now()
    AppEvent.objects.bulk_create(
        AppEvent(topic=topic, subscriber=s.name, payload=payload, next_attempt_at=now)
        for s in wanted
    )
    engine.dispatch_on_commit(kinds.kind_named(AppEventOutbox.name))


class AppEventOutbox(kinds.LocalKind):
    name = "app_event"
    label = "app event"
    model = AppEvent
    transitions = {
        S.PENDING: frozenset({S.APPLIED, S.FAILED}),
        S.FAILED: frozenset({S.PENDING}),
        S.APPLIED: frozenset(),
    }
    open_statuses = (S.PENDING,)
    failed_status = S.FAILED
    retry_permission = "outbox.retry_appevent"
    batch = 50

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return RETRY_SCHEDULE

    def apply(self, rows: list[AppEvent], now: datetime) -> None:
        for row in rows:
            _subscribers[row.subscriber].handle(row.payload)
            self.move(row, S.APPLIED)
            row.applied_at = now
            row.next_attempt_at = None
        AppEvent.objects.bulk_update(rows, ["status", "applied_at", "next_attempt_at"])
