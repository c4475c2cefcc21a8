"""Courier scans in: pushes stored raw and applied by a task, route queries, the status.

Each scan is stored once (unique per courier event). The shipment's status follows its
events by their own time, so duplicates and late old scans change nothing. A terminal
scan from a push counts only once a route query shows it too; a courier the service has
no route query for (one reporting through the normalised courier push, with its key) is
taken at its word.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core import pii, untrusted
from core.audit import audit_record
from core.commit_hooks import after_commit
from core.outside import get_courier
from core.queueing import enqueue
from core.source_addresses import source_allowed
from integrations.couriers.base import InvalidPush, ProviderError, PushAck
from integrations.couriers.base import TrackingEvent as CourierEvent
from integrations.couriers.registry import COURIER_CODES
from logistics import contacts, couriers, states
from logistics.models import (
    CourierPush,
    EventSource,
    PushStatus,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
    UndeliverableRule,
)
from logistics.services.status import lock_shipment, shipment_event_emit, shipment_transition
from outbox.engine import dispatch_committed
from outbox.kinds import LocalKind

logger = logging.getLogger(__name__)

APPLY_BATCH = 200
# A push whose applying fails (a bug, a lock timeout) is tried again after these waits.
PUSH_RETRY_SCHEDULE = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
)
PUSH_BODY = "courier_push.body"
PUSH_EVENTS = "courier_push.events"
# An unconfirmed terminal scan is asked about again this soon.
CONFIRM_AGAIN_AFTER = timedelta(minutes=10)
UNDELIVERABLE_ACTIONS = {
    UndeliverableRule.HOLD: "hold_for_pickup",
    UndeliverableRule.RETURN: "return_to_agency",
    UndeliverableRule.ASK: "awaiting_applicant_choice",
}


# -- pushes -----------------------------------------------------------------------------


def push_receive(
    *,
    courier_code: str,
    headers: dict[str, str],
    body: bytes,
    query: dict[str, str],
    source_ip: str,
) -> PushAck:
    """Verify and store a push, and answer the courier at once; a task applies it."""
    courier = get_courier(courier_code)
    try:
        push_sources = couriers.courier_config(courier_code).get("push_sources") or []
        if not source_allowed(source_ip, push_sources):
            raise InvalidPush(f"source {source_ip} is not an allowed {courier_code} address")
        events = courier.parse_push(headers, body, query)
    except InvalidPush as exc:
        CourierPush.objects.create(
            courier=courier_code,
            status=PushStatus.REJECTED,
            source_ip=source_ip or None,
            body_encrypted=_sealed_body(untrusted.excerpt(body).encode()),
            body_size=len(body),
            body_sha256=hashlib.sha256(body).hexdigest(),
            error=untrusted.without_nul(str(exc))[:255],
        )
        logger.warning("rejected a %s push from %s: %s", courier_code, source_ip, exc)
        return courier.acknowledge(False)
    push_store(courier_code=courier_code, body=body, events=events, source_ip=source_ip)
    return courier.acknowledge(True)


def push_store(
    *, courier_code: str, body: bytes, events: list[CourierEvent], source_ip: str
) -> None:
    """Keep a verified push and its events, and queue their applying."""
    # One INSERT, committed as it runs (no transaction around it: fewer round trips).
    CourierPush.objects.create(
        courier=courier_code,
        status=PushStatus.RECEIVED,
        source_ip=source_ip or None,
        body_encrypted=_sealed_body(body),
        body_size=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
        events_encrypted=_sealed_events(events),
        next_attempt_at=timezone.now(),
    )
    dispatch_committed(COURIER_PUSHES)


def _sealed_body(body: bytes) -> str:
    return pii.encrypt(base64.b64encode(body).decode(), column=PUSH_BODY)


# What a stored push keeps of each event: all but the raw route, which the body holds.
_STORED_FIELDS = tuple(f.name for f in dataclasses.fields(CourierEvent) if f.name != "raw")


def _sealed_events(events: list[CourierEvent]) -> str:
    rows = [
        {
            **{name: getattr(event, name) for name in _STORED_FIELDS},
            "occurred_at": event.occurred_at.isoformat(),
        }
        for event in events
    ]
    return pii.encrypt(json.dumps(rows, ensure_ascii=False), column=PUSH_EVENTS)


def pushed_events(push: CourierPush) -> list[CourierEvent]:
    rows = json.loads(pii.decrypt(push.events_encrypted, column=PUSH_EVENTS))
    return [
        CourierEvent(**{**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])})
        for row in rows
    ]


class CourierPushOutbox(LocalKind):
    """Apply stored pushes, oldest first, many in one transaction.

    Under load one task applies what many pushes brought, each shipment once per batch.
    The push rows are locked and marked applied, so each is applied once.
    """

    name = "courier_push"
    label = "courier push"
    model = CourierPush
    transitions = {
        PushStatus.RECEIVED: frozenset({PushStatus.APPLIED, PushStatus.FAILED}),
        PushStatus.FAILED: frozenset({PushStatus.RECEIVED}),
        PushStatus.APPLIED: frozenset(),
        PushStatus.REJECTED: frozenset(),
    }
    open_statuses = (PushStatus.RECEIVED,)
    failed_status = PushStatus.FAILED
    retry_permission = "logistics.retry_courierpush"
    batch = APPLY_BATCH

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return PUSH_RETRY_SCHEDULE

    def apply(self, rows: list[CourierPush], now: datetime) -> None:
        events: dict[tuple[str, str], list[CourierEvent]] = defaultdict(list)
        push_of: dict[str, CourierPush] = {}
        named: dict[int, set[str]] = defaultdict(set)
        for push in rows:
            for event in pushed_events(push):
                events[(push.courier, event.waybill_no)].append(event)
                push_of.setdefault(event.event_id, push)
                named[push.pk].add(event.waybill_no)
        shipments = _shipments_of(events)
        locked = _lock_shipments(shipments.values())
        _ingest(
            {locked[pk]: events[key] for key, pk in shipments.items()},
            source=EventSource.PUSH,
            push_of=push_of,
        )
        by_error: dict[str, list[int]] = defaultdict(list)
        for push in rows:
            self.move(push, PushStatus.APPLIED)
            unknown = sorted(w for w in named[push.pk] if (push.courier, w) not in shipments)
            error = f"unknown waybills: {', '.join(unknown)}"[:255] if unknown else ""
            if error:
                logger.warning("a %s push: %s", push.courier, error)
            by_error[error].append(push.pk)
        for error, pks in by_error.items():
            CourierPush.objects.filter(pk__in=pks).update(
                status=PushStatus.APPLIED, applied_at=now, next_attempt_at=None, error=error
            )


COURIER_PUSHES = CourierPushOutbox()


def _lock_shipments(ids) -> dict[int, Shipment]:
    """Lock the shipments in one statement, in id order as every multi-shipment path does."""
    rows = Shipment.objects.select_for_update(of=("self",)).select_related("created_by")
    return {shipment.pk: shipment for shipment in rows.filter(pk__in=ids).order_by("pk")}


def _shipments_of(events: dict[tuple[str, str], list]) -> dict[tuple[str, str], int]:
    """(courier, waybill) to shipment id, for the waybills we booked."""
    wanted: dict[str, set[str]] = defaultdict(set)
    for courier, waybill in events:
        wanted[courier].add(waybill)
    found = {}
    for courier, waybills in wanted.items():
        rows = Shipment.objects.filter(courier=courier, waybill_no__in=waybills)
        found.update({(courier, w): pk for w, pk in rows.values_list("waybill_no", "pk")})
    return found


# -- route queries ----------------------------------------------------------------------


def shipment_poll(*, shipment_id: int) -> None:
    """Ask the courier for the whole route and apply it; confirms terminal scans."""
    shipment = Shipment.objects.filter(pk=shipment_id).first()
    if (
        shipment is None
        or not shipment.waybill_no
        or shipment.status == ShipmentStatus.CANCELLED
        or not couriers.booked_by_the_service(shipment.courier)
    ):
        return
    try:
        events = get_courier(shipment.courier).track(shipment.waybill_no)
    except ProviderError as exc:
        logger.warning("route query of shipment %s failed: %s", shipment.public_id, exc)
        Shipment.objects.filter(pk=shipment_id).update(
            next_poll_at=timezone.now() + CONFIRM_AGAIN_AFTER
        )
        return
    with transaction.atomic(durable=True):
        events_ingest(lock_shipment(shipment_id), events, source=EventSource.QUERY)


def shipments_due_for_poll(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(
        Shipment.objects.filter(
            status__in=[ShipmentStatus.PENDING, *states.IN_FLIGHT],
            next_poll_at__lte=now,
            courier__in=COURIER_CODES,
        )
        .exclude(waybill_no="")
        .order_by("next_poll_at")
        .values_list("pk", flat=True)[:limit]
    )


def _enqueue_poll(shipment_id: int) -> None:
    enqueue("logistics.tasks.poll_shipment", shipment_id)


# -- applying events --------------------------------------------------------------------


def events_ingest(
    shipment: Shipment,
    events: list[CourierEvent],
    *,
    source: str,
    push_of: Mapping[str, CourierPush] | None = None,
) -> None:
    """Store a locked shipment's new events and bring its status up to date."""
    _ingest({shipment: events}, source=source, push_of=push_of)


# What following its events changes on a shipment, besides its status.
FOLLOWED_FIELDS = [
    "last_heard_at",
    "stale_since",
    "next_poll_at",
    "last_event_at",
    "failed_attempts",
    "failure_reason",
    "delivered_at",
    "pod_signer_encrypted",
    "pod_signer_masked",
    "pod_image_ref",
    "updated_at",
]


def _ingest(
    batch: Mapping[Shipment, list[CourierEvent]],
    *,
    source: str,
    push_of: Mapping[str, CourierPush] | None = None,
) -> None:
    """Store the new events of locked shipments and bring each one's status up to date,
    with a few statements for the whole batch, not a few per shipment."""
    if not batch:
        return
    now = timezone.now()
    wanted = {(shipment.courier, each.event_id) for shipment, evs in batch.items() for each in evs}
    known = set(
        TrackingEvent.objects.filter(
            courier__in={courier for courier, _ in wanted},
            event_id__in={event_id for _, event_id in wanted},
        ).values_list("courier", "event_id")
    )
    fresh: dict[tuple[str, str], TrackingEvent] = {}
    for shipment, evs in batch.items():
        for event in evs:
            if (shipment.courier, event.event_id) not in known:
                push = (push_of or {}).get(event.event_id)
                row = _row(shipment, event, source=source, push=push)
                fresh[(shipment.courier, event.event_id)] = row
    TrackingEvent.objects.bulk_create(fresh.values())
    heard_anew = {row.shipment_id for row in fresh.values()}
    if source == EventSource.QUERY:
        TrackingEvent.objects.filter(
            shipment__in=list(batch),
            event_id__in={event_id for _, event_id in wanted},
            confirmed=False,
        ).update(confirmed=True)
    stored = _stored_events(batch)
    plain_saves = []
    for shipment in sorted(batch, key=lambda each: each.pk):
        shipment.last_heard_at = now
        if shipment.pk in heard_anew:
            shipment.stale_since = None
        confirmed = [event for event in stored[shipment.pk] if event.confirmed]
        if len(confirmed) < len(stored[shipment.pk]):
            shipment.next_poll_at = now + (
                timedelta(0) if source == EventSource.PUSH else CONFIRM_AGAIN_AFTER
            )
            if source == EventSource.PUSH:
                after_commit(_enqueue_poll, shipment.pk)
        else:
            shipment.next_poll_at = now + _poll_every(shipment.courier)
        shipment.updated_at = now
        if not _follow_events(shipment, confirmed, actor=f"courier:{shipment.courier}"):
            plain_saves.append(shipment)
    _save_followed(plain_saves)


def _save_followed(shipments: list[Shipment]) -> None:
    """Save FOLLOWED_FIELDS of many shipments, each with its own values, in one UPDATE from
    arrays: bulk_update's CASE per row and field costs more CPU to build than the rest of
    applying a batch."""
    if not shipments:
        return
    fields = [Shipment._meta.pk, *(Shipment._meta.get_field(name) for name in FOLLOWED_FIELDS)]
    quote = connection.ops.quote_name
    columns = [quote(field.column) for field in fields]
    assignments = ", ".join(f"{column} = new.{column}" for column in columns[1:])
    arrays = ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields)
    values = [
        [
            field.get_db_prep_value(getattr(shipment, field.attname), connection)
            for shipment in shipments
        ]
        for field in fields
    ]
    # Names from the model, values as parameters.
    sql = (
        f"UPDATE {quote(Shipment._meta.db_table)} AS shipment SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS new({', '.join(columns)}) "
        f"WHERE shipment.{columns[0]} = new.{columns[0]}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _stored_events(shipments) -> dict[int, list]:
    """Every stored event of the shipments, each one's in order of time."""
    rows = TrackingEvent.objects.filter(shipment__in=list(shipments)).order_by(
        "shipment_id", "occurred_at", "id"
    )
    stored = defaultdict(list)
    for event in rows.values_list(
        "shipment_id",
        "confirmed",
        "occurred_at",
        "status",
        "reason",
        "signer_encrypted",
        "signer_masked",
        "proof_ref",
        named=True,
    ):
        stored[event.shipment_id].append(event)
    return stored


def _row(
    shipment: Shipment, event: CourierEvent, *, source: str, push: CourierPush | None
) -> TrackingEvent:
    return TrackingEvent(
        shipment=shipment,
        courier=shipment.courier,
        event_id=event.event_id,
        code=event.code,
        status=str(event.status),
        reason=str(event.reason or ""),
        occurred_at=event.occurred_at,
        location=event.location[:200],
        description=_without_signer(event)[:500],
        signer_masked=pii.mask_name(event.signer) if event.signer else "",
        signer_encrypted=contacts.seal_signer(event.signer),
        proof_ref=event.proof_ref[:500],
        source=source,
        confirmed=source == EventSource.QUERY
        or event.status not in states.TERMINAL
        or not couriers.booked_by_the_service(shipment.courier),
        push=push,
    )


def _without_signer(event: CourierEvent) -> str:
    """The scan's text with the signer's name masked: it is kept encrypted on its own."""
    if not event.signer:
        return event.description
    return event.description.replace(event.signer, pii.mask_name(event.signer))


def _poll_every(courier: str) -> timedelta:
    return couriers.courier_config(courier).get("poll_every") or settings.LOGISTICS["poll_every"]


def _follow_events(shipment: Shipment, events: list, *, actor: str) -> bool:
    """Bring the shipment's status and proof of delivery up to its confirmed events (in time
    order). Returns whether it was saved: a change of status is, the rest is left to the
    caller's one UPDATE of FOLLOWED_FIELDS."""
    if events:
        shipment.last_event_at = events[-1].occurred_at
    shipment.failed_attempts = sum(
        event.status == ShipmentStatus.DELIVERY_FAILED for event in events
    )
    new = states.status_from_events(shipment.status, ((e.occurred_at, e.status) for e in events))
    latest_with_new = next((e for e in reversed(events) if e.status == new), None)
    if new in (ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD) and latest_with_new:
        shipment.failure_reason = latest_with_new.reason
    elif new == ShipmentStatus.DELIVERED:
        shipment.failure_reason = ""
    if new == ShipmentStatus.DELIVERED and latest_with_new and not shipment.delivered_at:
        shipment.delivered_at = latest_with_new.occurred_at
        shipment.pod_signer_encrypted = latest_with_new.signer_encrypted
        shipment.pod_signer_masked = latest_with_new.signer_masked
        shipment.pod_image_ref = shipment.pod_image_ref or latest_with_new.proof_ref
    moved = new != shipment.status and states.may_move(shipment.status, new)
    if moved:
        shipment_transition(shipment, to=new, actor=actor)
    _apply_undeliverable_rule(shipment, actor=actor)
    return moved


def _apply_undeliverable_rule(shipment: Shipment, *, actor: str) -> None:
    """After the courier's last failed attempt, follow the shipment's rule and tell the case."""
    if (
        shipment.undeliverable_action
        or shipment.failed_attempts < settings.LOGISTICS["max_failed_attempts"]
        or shipment.status not in (ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD)
    ):
        return
    shipment.undeliverable_action = UNDELIVERABLE_ACTIONS[shipment.undeliverable_rule]
    shipment.undeliverable_at = timezone.now()
    shipment.save(update_fields=["undeliverable_action", "undeliverable_at", "updated_at"])
    audit_record(
        actor=actor,
        action="shipment.undeliverable",
        obj=shipment,
        reason=shipment.failure_reason,
        data={"rule": shipment.undeliverable_rule, "action": shipment.undeliverable_action},
    )
    shipment_event_emit(
        shipment, "shipment.undeliverable", failed_attempts=shipment.failed_attempts
    )
