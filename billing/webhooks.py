"""Outgoing webhooks to the portal: endpoints, the outbox, and at-least-once delivery.

An event is written to the outbox in the transaction of the change it announces, with
one delivery row per subscribed endpoint. Each delivery is sent by a task queued on
commit; a failed send is retried on a schedule by the periodic sweep, which also picks
up whatever a lost task left behind. Every send of one event carries the same
``webhook-id`` (the event's public id), so receivers dedupe by it.

An event is heard only by the endpoints of the client that owns its subject. Endpoint URLs
must point at public internet addresses (billing.webhook_targets), checked when registered
and again at every send; a send records only the HTTP status or a coarse error code, never
what the other side said.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from urllib3 import exceptions as http_errors

from billing import webhook_signing, webhook_targets
from billing.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from billing.states import check_transition
from core import pii
from core.audit import audit_record
from core.errors import DomainError, IllegalTransition, InvalidRequest, NotFound
from core.models import ApiClient
from core.queueing import enqueue

logger = logging.getLogger(__name__)

WEBHOOK_EVENT_TYPES = (
    "payment_order.paid",
    "payment_order.expired",
    "payment_order.cancelled",
    "refund.succeeded",
    "refund.failed",
    "shipment.status_changed",
    "shipment.booked",
    "shipment.booking_failed",
    "shipment.undeliverable",
    "shipment.at_risk",
    "shipment.overdue",
    "shipment.stale",
)
ALL_EVENTS = "*"
SECRET_COLUMN = "webhook_endpoint.secret"  # noqa: S105 - a column name for pii

# The Standard Webhooks schedule, stretched to about three and a half days.
DEFAULT_RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=24),
    timedelta(hours=48),
)
# How long a send in flight keeps the sweep away from its delivery.
SEND_LEASE = timedelta(minutes=2)

# What a failed send records instead of the error's text, which could carry what a server
# that is not the portal's said (a banner, an internal host name).
ERROR_TIMEOUT = "timeout"
ERROR_CONNECTION_FAILED = "connection_failed"
ERROR_TLS_FAILED = "tls_failed"
ERROR_REFUSED_TARGET = "refused_target"

DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.PENDING: frozenset({DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED}),
    DeliveryStatus.FAILED: frozenset({DeliveryStatus.PENDING}),
    DeliveryStatus.SUCCEEDED: frozenset(),
}

_validate_url = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class _Send:
    url: str
    secret: str
    msg_id: str
    body: bytes


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def final(self) -> bool:
        """A target the policy refuses stays refused: retrying it for days helps nobody."""
        return self.error == ERROR_REFUSED_TARGET


# Endpoints


def webhook_endpoint_create(
    *, client: ApiClient, url: str, events: list[str]
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint and return it with its signing secret, which is never shown again.

    A client has at most WEBHOOK_MAX_ENDPOINTS_PER_CLIENT active endpoints, counted under a
    lock on the client's row so that registrations racing each other cannot pass it.
    """
    events = _checked_events(events)
    _check_url(url)
    secret = webhook_signing.new_secret()
    with transaction.atomic(durable=True):
        ApiClient.objects.select_for_update().get(pk=client.pk)
        _check_endpoint_cap(client)
        endpoint = WebhookEndpoint.objects.create(
            client=client,
            url=url,
            events=events,
            secret_encrypted=pii.encrypt(secret, column=SECRET_COLUMN),
        )
        audit_record(
            actor=_client_actor(client),
            action="webhook_endpoint.create",
            obj=endpoint,
            to_status="active",
            data={"url": url, "events": events},
        )
    return endpoint, secret


def webhook_endpoint_disable(*, client: ApiClient, endpoint_public_id: str) -> WebhookEndpoint:
    """Stop sending to an endpoint; its pending deliveries are given up."""
    with transaction.atomic(durable=True):
        endpoint = (
            WebhookEndpoint.objects.select_for_update()
            .filter(client=client, public_id=endpoint_public_id)
            .first()
        )
        if endpoint is None:
            raise NotFound("No such webhook endpoint.")
        if endpoint.active:
            endpoint.active = False
            endpoint.save(update_fields=["active"])
            endpoint.deliveries.filter(status=DeliveryStatus.PENDING).update(
                status=DeliveryStatus.FAILED, next_attempt_at=None, last_error="endpoint disabled"
            )
            audit_record(
                actor=_client_actor(client),
                action="webhook_endpoint.disable",
                obj=endpoint,
                from_status="active",
                to_status="disabled",
            )
    return endpoint


def _check_url(url: str) -> None:
    try:
        _validate_url(url)
    except ValidationError as exc:
        raise InvalidRequest(
            "The URL must be an absolute http or https URL.", fields={"url": exc.messages}
        ) from exc
    try:
        webhook_targets.target_resolve(url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK)
    except (webhook_targets.RefusedTarget, webhook_targets.HostNotFound) as exc:
        raise InvalidRequest(str(exc), fields={"url": [str(exc)]}) from exc


def _check_endpoint_cap(client: ApiClient) -> None:
    cap = settings.WEBHOOK_MAX_ENDPOINTS_PER_CLIENT
    if WebhookEndpoint.objects.filter(client=client, active=True).count() >= cap:
        raise DomainError(
            f"A client may have at most {cap} active webhook endpoints; "
            "delete one it no longer uses first.",
            code="webhook_endpoint_limit",
        )


def _checked_events(events: list[str]) -> list[str]:
    unknown = [event for event in events if event not in (*WEBHOOK_EVENT_TYPES, ALL_EVENTS)]
    if not events or unknown:
        raise InvalidRequest(
            f"Subscribe to one or more of {', '.join(WEBHOOK_EVENT_TYPES)}, or {ALL_EVENTS}.",
            fields={"events": unknown},
        )
    return list(dict.fromkeys(events))


def _client_actor(client: ApiClient) -> str:
    return f"client:{client.name}"


# The outbox


def webhook_event_emit(*, event_type: str, payload: dict, owner: ApiClient | None) -> WebhookEvent:
    """Write an event and its deliveries in the caller's transaction; send them on commit.

    Only the endpoints of ``owner``, the client whose subject the event is about, hear it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhook_event_emit must run inside the transaction of its change")
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event = WebhookEvent.objects.create(type=event_type, payload=payload, owner=owner)
    if owner is None:
        return event
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint=endpoint, next_attempt_at=now)
        for endpoint in WebhookEndpoint.objects.filter(client=owner, active=True).order_by("id")
        if event_type in endpoint.events or ALL_EVENTS in endpoint.events
    )
    for delivery in deliveries:
        transaction.on_commit(partial(_enqueue, delivery.pk), robust=True)
    return event


def _enqueue(delivery_id: int) -> None:
    enqueue("billing.tasks.deliver_webhook", delivery_id)


# Delivery


def webhook_delivery_attempt(*, delivery_id: int) -> None:
    """Send one delivery if it is due: lease it, POST outside any transaction, record the answer."""
    send = _lease(delivery_id)
    if send is None:
        return
    outcome = _post(send)
    _record(delivery_id, outcome)


def _lease(delivery_id: int) -> _Send | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("event", "endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        if delivery.next_attempt_at and delivery.next_attempt_at > now:
            return None
        if not delivery.endpoint.active:
            _give_up(delivery, error="endpoint disabled")
            return None
        delivery.next_attempt_at = now + SEND_LEASE
        delivery.save(update_fields=["next_attempt_at"])
    return _Send(
        url=delivery.endpoint.url,
        secret=pii.decrypt(delivery.endpoint.secret_encrypted, column=SECRET_COLUMN),
        msg_id=delivery.event.public_id,
        body=_body(delivery.event),
    )


def _body(event: WebhookEvent) -> bytes:
    document = {
        "type": event.type,
        "timestamp": event.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": event.payload,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _post(send: _Send) -> _Outcome:
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": send.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signing.sign(send.secret, send.msg_id, timestamp, send.body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        target = webhook_targets.target_resolve(
            send.url, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK
        )
        status_code = webhook_targets.target_post(
            target, body=send.body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS
        )
    except webhook_targets.RefusedTarget:
        error = ERROR_REFUSED_TARGET
    except http_errors.NewConnectionError:  # a subclass of the connect timeout
        error = ERROR_CONNECTION_FAILED
    except http_errors.TimeoutError:
        error = ERROR_TIMEOUT
    except http_errors.SSLError:
        error = ERROR_TLS_FAILED
    except (webhook_targets.HostNotFound, http_errors.HTTPError, OSError):
        error = ERROR_CONNECTION_FAILED
    duration_ms = int((time.monotonic() - started) * 1000)
    return _Outcome(status_code=status_code, error=error, duration_ms=duration_ms)


def _record(delivery_id: int, outcome: _Outcome) -> None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        WebhookDeliveryAttempt.objects.create(
            delivery=delivery,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        delivery.attempt_count += 1
        delivery.last_attempt_at = now
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if delivery.status == DeliveryStatus.PENDING:
            _apply_outcome(delivery, outcome, now)
        delivery.save()
    logger.info(
        "webhook delivery %s attempt %s: status %s, %s",
        delivery_id,
        delivery.attempt_count,
        outcome.status_code,
        delivery.status,
    )


def _apply_outcome(delivery: WebhookDelivery, outcome: _Outcome, now: datetime) -> None:
    schedule = _retry_schedule()
    if outcome.succeeded:
        _move(delivery, DeliveryStatus.SUCCEEDED)
        delivery.next_attempt_at = None
    elif not outcome.final and delivery.attempt_count <= len(schedule):
        delivery.next_attempt_at = now + schedule[delivery.attempt_count - 1]
    else:
        _move(delivery, DeliveryStatus.FAILED)
        delivery.next_attempt_at = None


def _retry_schedule() -> tuple[timedelta, ...]:
    return tuple(getattr(settings, "WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))


def _give_up(delivery: WebhookDelivery, *, error: str) -> None:
    _move(delivery, DeliveryStatus.FAILED)
    delivery.next_attempt_at = None
    delivery.last_error = error
    delivery.save(update_fields=["status", "next_attempt_at", "last_error"])


def _move(delivery: WebhookDelivery, new: str) -> None:
    check_transition(
        DELIVERY_TRANSITIONS, kind="webhook delivery", current=delivery.status, new=new
    )
    delivery.status = new


# The sweep and staff actions


def webhook_deliveries_redispatch(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue the pending deliveries that are due: retries, and what a lost task left behind."""
    due_ids = list(
        WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=now or timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for delivery_id in due_ids:
        _enqueue(delivery_id)
    return len(due_ids)


def webhook_delivery_retry_now(*, delivery_id: int, actor: str) -> WebhookDelivery:
    """Make a failed or pending delivery due now; a failed one gets a single more attempt."""
    with transaction.atomic(durable=True):
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            raise NotFound("No such webhook delivery.")
        if not delivery.endpoint.active:
            raise IllegalTransition("The delivery's endpoint is disabled.")
        from_status = delivery.status
        if from_status != DeliveryStatus.PENDING:
            _move(delivery, DeliveryStatus.PENDING)
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "next_attempt_at"])
        audit_record(
            actor=actor,
            action="webhook_delivery.retry_now",
            obj=delivery,
            from_status=from_status,
            to_status=delivery.status,
        )
        transaction.on_commit(partial(_enqueue, delivery.pk), robust=True)
    return delivery
