"""Outgoing webhooks to the portal: endpoints, the outbox, and at-least-once delivery.

An event is written in the transaction of the change it announces, with one delivery
row per subscribed endpoint: an outbox row of kind ``webhook_delivery``, leased, retried
on the schedule below, swept and retried by a person through the one outbox mechanism
(outbox.engine). Every send of one event carries the same ``webhook-id`` (the event's
public id), so receivers dedupe by it.

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

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from urllib3 import exceptions as http_errors

from billing import rows, webhook_signing, webhook_targets
from billing.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from core import pii, reference_data
from core.audit import audit_record
from core.errors import DomainError, IllegalTransition, InvalidRequest, NotFound
from core.models import ApiClient
from outbox.engine import dispatch_on_commit, give_up, retry_later
from outbox.kinds import RemoteKind

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


def webhook_event_emit(
    *,
    event_type: str,
    payload: dict,
    owner_id: int | None,
) -> WebhookEvent:
    """Write an event and its deliveries in the caller's transaction; send them on commit.

    Only the endpoints of the owner (``owner_id``: the API client whose subject the event is
    about) hear it; an event without an owner is recorded and sent to nobody.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhook_event_emit must run inside the transaction of its change")
    if event_type not in WEBHOOK_EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    event = WebhookEvent(type=event_type, payload=payload, owner_id=owner_id)
    rows.row_insert(event)
    if owner_id is None:
        return event
    now = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(event=event, endpoint_id=endpoint_id, next_attempt_at=now)
        for endpoint_id, events in _subscriptions(owner_id)
        if event_type in events or ALL_EVENTS in events
    )
    for delivery in deliveries:
        dispatch_on_commit(WEBHOOK_DELIVERIES, delivery.pk)
    return event


def _subscriptions(owner_id: int) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """The client's active endpoints and the events each hears, through the reference
    data's cache (endpoints change when a client registers or disables one)."""

    def load() -> tuple[tuple[int, tuple[str, ...]], ...]:
        active = WebhookEndpoint.objects.filter(client_id=owner_id, active=True).order_by("id")
        return tuple((pk, tuple(events)) for pk, events in active.values_list("pk", "events"))

    return reference_data.cached(("webhook_subscriptions", owner_id), load)


# Delivery


class WebhookDeliveryOutbox(RemoteKind):
    name = "webhook_delivery"
    label = "webhook delivery"
    model = WebhookDelivery
    transitions = DELIVERY_TRANSITIONS
    open_statuses = (DeliveryStatus.PENDING,)
    failed_status = DeliveryStatus.FAILED
    retry_permission = "billing.retry_webhookdelivery"

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return tuple(getattr(settings, "WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))

    def rows(self):
        return WebhookDelivery.objects.select_related("event", "endpoint")

    def reopen(self, row: WebhookDelivery) -> None:
        if not row.endpoint.active:
            raise IllegalTransition("The delivery's endpoint is disabled.")
        super().reopen(row)

    def claim(self, row: WebhookDelivery, now: datetime) -> _Send | None:
        if not row.endpoint.active:
            give_up(self, row, error="endpoint disabled")
            row.save(update_fields=["status", "next_attempt_at", "last_error"])
            return None
        return _Send(
            url=row.endpoint.url,
            secret=pii.decrypt(row.endpoint.secret_encrypted, column=SECRET_COLUMN),
            msg_id=row.event.public_id,
            body=_body(row.event),
        )

    def send(self, call: _Send) -> _Outcome:
        return _post(call)

    def settle(self, row: WebhookDelivery, call: _Send, outcome: _Outcome, now: datetime) -> None:
        WebhookDeliveryAttempt.objects.create(
            delivery=row,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        row.attempt_count += 1
        row.last_status_code = outcome.status_code
        row.last_error = outcome.error
        if row.status == DeliveryStatus.PENDING:
            if outcome.succeeded:
                self.move(row, DeliveryStatus.SUCCEEDED)
                row.next_attempt_at = None
            elif outcome.final or not retry_later(self, row, now):
                give_up(self, row, error=outcome.error)
        logger.info(
            "webhook delivery %s attempt %s: status %s, %s",
            row.pk,
            row.attempt_count,
            outcome.status_code,
            row.status,
        )


WEBHOOK_DELIVERIES = WebhookDeliveryOutbox()


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
