"""Courier scans in: pushes stored raw and applied by a task, route queries, the status.

Each scan is stored once (unique per courier event). The shipment's status follows its
events by their own time, so duplicates and late old scans change nothing. A terminal
scan from a push counts only once a route query shows it too.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import ipaddress
import json
import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core import pii, untrusted
from core.audit import audit_record
from core.outside import get_courier
from core.queueing import enqueue
from integrations.couriers.base import InvalidPush, ProviderError, PushAck
from integrations.couriers.base import TrackingEvent as CourierEvent
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
from outbox.engine import dispatch_on_commit
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
        if not _source_allowed(courier_code, source_ip):
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
    with transaction.atomic():
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
        dispatch_on_commit(COURIER_PUSHES)
    return courier.acknowledge(True)


def _source_allowed(courier_code: str, source_ip: str) -> bool:
    allowed = couriers.courier_config(courier_code).get("push_sources") or []
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in allowed)


def _sealed_body(body: bytes) -> str:
    return pii.encrypt(base64.b64encode(body).decode(), column=PUSH_BODY)


def _sealed_events(events: list[CourierEvent]) -> str:
    rows = []
    for event in events:
        data = dataclasses.asdict(event)
        data.pop("raw")
        data["occurred_at"] = event.occurred_at.isoformat()
        rows.append(data)
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
        # Lock in id order, as every other multi-shipment path does.
        for key, shipment_id in sorted(shipments.items(), key=lambda item: item[1]):
            events_ingest(
                lock_shipment(shipment_id), events[key], source=EventSource.PUSH, push_of=push_of
            )
        for push in rows:
            unknown = sorted(w for w in named[push.pk] if (push.courier, w) not in shipments)
            self.move(push, PushStatus.APPLIED)
            push.applied_at = now
            push.next_attempt_at = None
            push.error = f"unknown waybills: {', '.join(unknown)}"[:255] if unknown else ""
            if push.error:
                logger.warning("a %s push: %s", push.courier, push.error)
        CourierPush.objects.bulk_update(rows, ["status", "applied_at", "next_attempt_at", "error"])


COURIER_PUSHES = CourierPushOutbox()


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
    if shipment is None or not shipment.waybill_no or shipment.status == ShipmentStatus.CANCELLED:
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
    now = timezone.now()
    ids = {event.event_id for event in events}
    known = set(
        TrackingEvent.objects.filter(courier=shipment.courier, event_id__in=ids).values_list(
            "event_id", flat=True
        )
    )
    fresh = {event.event_id: event for event in events if event.event_id not in known}
    rows = TrackingEvent.objects.bulk_create(
        _row(shipment, event, source=source, push=(push_of or {}).get(event.event_id))
        for event in fresh.values()
    )
    if source == EventSource.QUERY:
        TrackingEvent.objects.filter(shipment=shipment, event_id__in=ids, confirmed=False).update(
            confirmed=True
        )
    shipment.last_heard_at = now
    if rows:
        shipment.stale_since = None
    unconfirmed = shipment.events.filter(confirmed=False).exists()
    if unconfirmed:
        shipment.next_poll_at = now + (
            timedelta(0) if source == EventSource.PUSH else CONFIRM_AGAIN_AFTER
        )
        if source == EventSource.PUSH:
            transaction.on_commit(partial(_enqueue_poll, shipment.pk), robust=True)
    else:
        shipment.next_poll_at = now + _poll_every(shipment.courier)
    _follow_events(shipment, actor=f"courier:{shipment.courier}")


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
        confirmed=source == EventSource.QUERY or event.status not in states.TERMINAL,
        push=push,
    )


def _without_signer(event: CourierEvent) -> str:
    """The scan's text with the signer's name masked: it is kept encrypted on its own."""
    if not event.signer:
        return event.description
    return event.description.replace(event.signer, pii.mask_name(event.signer))


def _poll_every(courier: str) -> timedelta:
    return couriers.courier_config(courier).get("poll_every") or settings.LOGISTICS["poll_every"]


def _follow_events(shipment: Shipment, *, actor: str) -> None:
    events = list(shipment.events.filter(confirmed=True).order_by("occurred_at", "id"))
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
    if new != shipment.status and states.may_move(shipment.status, new):
        shipment_transition(shipment, to=new, actor=actor)
    else:
        shipment.save()
    _apply_undeliverable_rule(shipment, actor=actor)


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
