import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import connection, transaction
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from billing.admin_webhooks import WebhookDeliveryAdmin
from billing.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)
from billing.webhook_signing import verify
from billing.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    WEBHOOK_EVENT_TYPES,
    webhook_endpoint_create,
    webhook_endpoint_disable,
    webhook_event_emit,
)
from core import pii
from core.auth import api_client_create
from core.errors import DomainError, IllegalTransition, InvalidRequest
from core.models import ApiClient, AuditRecord
from outbox.engine import deliver, retry_now, sweep
from tests.billing.conftest import paid_at_platform
from tests.billing.conftest import portal_api as portal_client
from tests.billing.resolver import fake_resolver
from tests.logistics.conftest import shipment_body
from tests.waiting import eventually

PAID = {"id": "po_test", "status": "paid", "amount": 1500, "currency": "CNY"}


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A portal's webhook receiver on loopback: records requests, answers given statuses."""

    url: str = ""
    statuses: list[int] = field(default_factory=lambda: [200])
    delay_seconds: float = 0.0
    location: str = ""
    requests: list[Received] = field(default_factory=list)

    def take(self, received: Received) -> int:
        self.requests.append(received)
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def wait_for(self, count: int) -> list[Received]:
        eventually(lambda: len(self.requests) >= count)
        return self.requests


def receiver_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = receiver.take(Received({k.lower(): v for k, v in self.headers.items()}, body))
            time.sleep(receiver.delay_seconds)
            self.send_response(status)
            if receiver.location:
                self.send_header("Location", receiver.location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format, *args):
            pass

    return Handler


@pytest.fixture
def new_receiver():
    """Starts receivers on loopback; each is stopped after the test."""
    servers = []

    def start() -> Receiver:
        receiver = Receiver()
        server = ThreadingHTTPServer(("127.0.0.1", 0), receiver_handler(receiver))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        receiver.url = f"http://127.0.0.1:{server.server_port}/hooks"
        return receiver

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(new_receiver):
    return new_receiver()


@pytest.fixture
def portal():
    client, _key = api_client_create(name="portal", role="portal")
    return client


def emit(
    owner: ApiClient | None, event_type: str = "payment_order.paid", payload: dict = PAID
) -> WebhookEvent:
    with transaction.atomic():
        return webhook_event_emit(
            event_type=event_type, payload=payload, owner_id=owner.pk if owner else None
        )


def delivery_of(event: WebhookEvent) -> WebhookDelivery:
    return WebhookDelivery.objects.get(event=event)


def settled(delivery: WebhookDelivery) -> WebhookDelivery | None:
    delivery.refresh_from_db()
    return delivery if delivery.status != DeliveryStatus.PENDING else None


def wait_for_attempt(delivery: WebhookDelivery, number: int) -> timedelta | None:
    """Wait until the worker has recorded attempt ``number``; return the wait it scheduled."""

    def recorded():
        delivery.refresh_from_db()
        return delivery.attempt_count >= number

    eventually(recorded)
    assert delivery.attempt_count == number
    if delivery.next_attempt_at is None:
        return None
    return delivery.next_attempt_at - delivery.last_attempt_at


def sweep_when_due(delivery: WebhookDelivery) -> None:
    eventually(lambda: timezone.now() >= delivery.next_attempt_at)
    assert sweep()["webhook_delivery"] == 1


def make_due(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())


# Delivery by the real worker


def test_event_emitted_in_a_transaction_is_delivered_by_the_worker_signed_with_the_secret(
    task_worker, receiver, portal
):
    _endpoint, secret = webhook_endpoint_create(
        client=portal, url=receiver.url, events=["payment_order.paid"]
    )

    event = emit(portal)

    [request] = receiver.wait_for(1)
    verify(secret, request.headers, request.body)
    assert request.headers["webhook-id"] == event.public_id
    assert request.headers["content-type"] == "application/json"
    assert request.json()["type"] == "payment_order.paid"
    assert request.json()["data"] == PAID
    assert request.json()["timestamp"].endswith("Z")
    delivery = eventually(lambda: settled(delivery_of(event)))
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 1
    assert delivery.next_attempt_at is None
    assert delivery.attempts.get().status_code == 200


def test_a_rolled_back_transaction_sends_nothing(task_worker, receiver, portal):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    with pytest.raises(ZeroDivisionError), transaction.atomic():
        webhook_event_emit(event_type="payment_order.paid", payload=PAID, owner_id=portal.pk)
        _ = 1 / 0
    committed = emit(portal, "payment_order.expired")

    # The worker takes tasks in order, so a task for the rolled-back event would come first.
    eventually(lambda: settled(delivery_of(committed)))
    assert [r.headers["webhook-id"] for r in receiver.requests] == [committed.public_id]
    assert WebhookEvent.objects.count() == 1


def test_a_failing_receiver_is_retried_through_the_sweep_until_the_delivery_fails(
    task_worker, receiver, portal, settings
):
    schedule = (timedelta(milliseconds=300), timedelta(milliseconds=600))
    settings.WEBHOOK_RETRY_SCHEDULE = schedule
    receiver.statuses = [500]
    _endpoint, secret = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    delivery = delivery_of(emit(portal))
    waits = [wait_for_attempt(delivery, 1)]
    for attempt in (2, 3):
        sweep_when_due(delivery)
        waits.append(wait_for_attempt(delivery, attempt))

    assert waits == [*schedule, None]
    assert delivery.status == DeliveryStatus.FAILED
    assert [a.status_code for a in delivery.attempts.all()] == [500, 500, 500]
    assert len(receiver.requests) == 3
    for request in receiver.requests:
        assert request.headers["webhook-id"] == delivery.event.public_id
        verify(secret, request.headers, request.body)


def test_a_receiver_that_recovers_gets_the_event_on_a_later_attempt(
    task_worker, receiver, portal, settings
):
    settings.WEBHOOK_RETRY_SCHEDULE = (timedelta(milliseconds=300),)
    receiver.statuses = [503, 200]
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    delivery = delivery_of(emit(portal))
    wait_for_attempt(delivery, 1)
    sweep_when_due(delivery)
    wait_for_attempt(delivery, 2)

    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.all()] == [503, 200]


def test_the_sweep_redispatches_a_pending_delivery_whose_task_was_lost(
    task_worker, receiver, portal
):
    endpoint, secret = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    # What a commit leaves behind when its task never reaches the broker.
    event = WebhookEvent.objects.create(type="payment_order.paid", payload=PAID)
    delivery = WebhookDelivery.objects.create(
        event=event, endpoint=endpoint, next_attempt_at=timezone.now()
    )

    assert sweep()["webhook_delivery"] == 1

    [request] = receiver.wait_for(1)
    verify(secret, request.headers, request.body)
    assert eventually(lambda: settled(delivery)).status == DeliveryStatus.SUCCEEDED


def test_a_delivery_in_flight_is_not_dispatched_again_by_the_sweep(task_worker, receiver, portal):
    receiver.delay_seconds = 1.0
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    event = emit(portal)
    receiver.wait_for(1)

    assert sweep()["webhook_delivery"] == 0
    assert eventually(lambda: settled(delivery_of(event))).status == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1


def test_emitting_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        webhook_event_emit(event_type="payment_order.paid", payload=PAID, owner_id=None)


# Fan-out and the retry schedule, one attempt at a time


def test_only_active_endpoints_subscribed_to_the_type_get_a_delivery(db, receiver, portal):
    paid_only, _ = webhook_endpoint_create(
        client=portal, url=receiver.url, events=["payment_order.paid"]
    )
    webhook_endpoint_create(client=portal, url=receiver.url, events=["payment_order.expired"])
    everything, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    disabled, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    webhook_endpoint_disable(client=portal, endpoint_public_id=disabled.public_id)

    event = emit(portal)

    assert {d.endpoint for d in event.deliveries.all()} == {paid_only, everything}


def test_an_unknown_event_type_is_a_programming_error(db):
    with pytest.raises(ValueError, match="unknown webhook event type"):
        emit(None, "payment_order.teleported")


def test_a_failing_receiver_is_retried_on_the_schedule_then_the_delivery_fails(
    db, receiver, portal
):
    receiver.statuses = [500]
    _endpoint, secret = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))

    waits = []
    for _ in DEFAULT_RETRY_SCHEDULE:
        deliver("webhook_delivery", delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
        make_due(delivery)
    deliver("webhook_delivery", delivery.pk)

    assert waits == list(DEFAULT_RETRY_SCHEDULE)
    assert waits == sorted(waits)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempt_count == len(DEFAULT_RETRY_SCHEDULE) + 1
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == len(DEFAULT_RETRY_SCHEDULE) + 1
    for request in receiver.requests:
        verify(secret, request.headers, request.body)
    assert len({request.body for request in receiver.requests}) == 1


def test_a_delivery_that_is_not_yet_due_is_not_sent(db, receiver, portal):
    receiver.statuses = [500]
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    deliver("webhook_delivery", delivery.pk)

    deliver("webhook_delivery", delivery.pk)

    assert len(receiver.requests) == 1
    assert sweep()["webhook_delivery"] == 0


@pytest.mark.parametrize("status", [410, 302, 400])
def test_gone_redirects_and_client_errors_are_retried_like_any_failure(
    db, receiver, portal, status
):
    receiver.statuses = [status]
    endpoint, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_status_code == status
    assert delivery.next_attempt_at == delivery.last_attempt_at + DEFAULT_RETRY_SCHEDULE[0]
    assert endpoint.active
    assert len(receiver.requests) == 1


def test_a_receiver_that_times_out_is_retried_with_the_error_recorded(
    db, receiver, portal, settings
):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    receiver.delay_seconds = 1.0
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    attempt = delivery.attempts.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert attempt.status_code is None
    assert attempt.error == "timeout"
    assert delivery.last_error == attempt.error
    assert 200 <= attempt.duration_ms < 1000


def test_a_refused_connection_is_recorded_as_an_error(db, portal):
    webhook_endpoint_create(client=portal, url="http://127.0.0.1:9/hooks", events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    attempt = WebhookDeliveryAttempt.objects.get(delivery=delivery)
    assert attempt.status_code is None
    assert attempt.error == "connection_failed"


def test_a_delivery_to_an_endpoint_disabled_after_the_emit_is_given_up_unsent(db, receiver, portal):
    endpoint, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(active=False)

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "endpoint disabled"
    assert receiver.requests == []


# Staff: retry now


def test_retry_now_makes_a_failed_delivery_due_again_and_audits_it(db, receiver, portal):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, attempt_count=9
    )

    retry_now("webhook_delivery", delivery.pk, actor="user:finance")
    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert delivery.attempt_count == 10
    audit = AuditRecord.objects.get(action="webhook_delivery.retry_now")
    assert audit.actor == "user:finance"
    assert (audit.from_status, audit.to_status) == ("failed", "pending")


def test_a_failed_delivery_retried_now_fails_again_after_one_more_failure(db, receiver, portal):
    receiver.statuses = [500]
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, next_attempt_at=None, attempt_count=9
    )

    retry_now("webhook_delivery", delivery.pk, actor="user:finance")
    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert len(receiver.requests) == 1


def test_a_succeeded_delivery_cannot_be_retried(db, receiver, portal):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    deliver("webhook_delivery", delivery.pk)

    with pytest.raises(IllegalTransition):
        retry_now("webhook_delivery", delivery.pk, actor="user:finance")


def test_the_admin_retry_action_queues_the_selected_deliveries(db, receiver, portal):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    staff = get_user_model().objects.create_superuser("finance", password="x")
    request = RequestFactory().post("/admin/billing/webhookdelivery/")
    request.user = staff
    request.session = {}
    request._messages = FallbackStorage(request)
    model_admin = WebhookDeliveryAdmin(WebhookDelivery, admin.site)

    model_admin.retry_now(request, WebhookDelivery.objects.filter(pk=delivery.pk))

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.PENDING
    assert AuditRecord.objects.get(action="webhook_delivery.retry_now").actor == "user:finance"
    assert model_admin.check() == []


# The API


@pytest.fixture
def portal_api(portal):
    client, key = api_client_create(name="portal-api", role="portal")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    api.api_client = client
    return api


def create_endpoint(api: APIClient, url: str, events=("payment_order.paid",)):
    return api.post(
        "/api/v1/webhook-endpoints", {"url": url, "events": list(events)}, format="json"
    )


def test_creating_an_endpoint_returns_its_whsec_secret_once(db, portal_api, receiver):
    response = create_endpoint(portal_api, receiver.url)

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("we_")
    assert body["url"] == receiver.url
    assert body["events"] == ["payment_order.paid"]
    assert body["secret"].startswith("whsec_")
    stored = WebhookEndpoint.objects.get(public_id=body["id"])
    assert body["secret"] not in stored.secret_encrypted
    assert pii.decrypt(stored.secret_encrypted, column="webhook_endpoint.secret") == body["secret"]
    audit = AuditRecord.objects.get(action="webhook_endpoint.create")
    assert audit.actor == "client:portal-api"
    assert body["secret"] not in json.dumps(audit.data)


def test_listing_endpoints_shows_only_the_callers_own_and_never_a_secret(
    db, portal_api, portal, receiver
):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    own = create_endpoint(portal_api, receiver.url).json()

    response = portal_api.get("/api/v1/webhook-endpoints")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [own["id"]]
    assert "secret" not in response.json()[0]
    assert own["secret"] not in response.content.decode()


def test_a_client_without_the_portal_role_gets_403_with_a_json_error(db, receiver):
    _client, key = api_client_create(name="courier", role="courier")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = create_endpoint(api, receiver.url)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert api.get("/api/v1/webhook-endpoints").status_code == 403


def test_a_request_without_an_api_key_gets_401(db):
    response = APIClient().get("/api/v1/webhook-endpoints")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("https://portal.example/hooks", ["payment_order.teleported"], "events"),
        ("https://portal.example/hooks", [], "events"),
        ("ftp://portal.example/hooks", ["*"], "url"),
        ("not a url", ["*"], "url"),
    ],
)
def test_an_unknown_event_type_or_a_non_http_url_is_a_400(db, portal_api, url, events, field):
    response = create_endpoint(portal_api, url, events)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_deleting_an_endpoint_disables_it_and_gives_up_its_pending_deliveries(
    db, portal_api, receiver
):
    created = create_endpoint(portal_api, receiver.url).json()
    delivery = delivery_of(emit(portal_api.api_client))

    response = portal_api.delete(f"/api/v1/webhook-endpoints/{created['id']}")

    assert response.status_code == 204
    assert not WebhookEndpoint.objects.get(public_id=created["id"]).active
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert not emit(portal_api.api_client).deliveries.exists()
    assert AuditRecord.objects.filter(action="webhook_endpoint.disable").count() == 1


def test_another_clients_endpoint_is_not_found(db, portal_api, portal, receiver):
    theirs, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    deleted = portal_api.delete(f"/api/v1/webhook-endpoints/{theirs.public_id}")
    log = portal_api.get(f"/api/v1/webhook-endpoints/{theirs.public_id}/deliveries")

    assert deleted.status_code == 404
    assert deleted.json()["error"]["code"] == "not_found"
    assert log.status_code == 404
    theirs.refresh_from_db()
    assert theirs.active


def test_the_delivery_log_shows_each_event_with_its_attempts(db, portal_api, receiver):
    receiver.statuses = [500]
    created = create_endpoint(portal_api, receiver.url).json()
    event = emit(portal_api.api_client)
    deliver("webhook_delivery", delivery_of(event).pk)

    response = portal_api.get(f"/api/v1/webhook-endpoints/{created['id']}/deliveries")

    assert response.status_code == 200
    [entry] = response.json()["results"]
    assert entry["event_id"] == event.public_id
    assert entry["event_type"] == "payment_order.paid"
    assert entry["status"] == "pending"
    assert entry["attempts"] == 1
    assert entry["last_status_code"] == 500
    assert entry["next_attempt_at"] is not None


# Who hears an event


def pay_and_refund(api: APIClient, base_url: str) -> None:
    """Through the service and the platform's sandbox: an order paid, then refunded in full."""
    order, http = paid_at_platform(api, base_url)
    refund = http.post(
        f"{base_url}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": order["amount"], "reason": "申请人撤回申请"},
        headers={"Idempotency-Key": "refund-1"},
    )
    assert refund.status_code == 201, refund.text


def heard_types(receiver: Receiver) -> set[str]:
    return {request.json()["type"] for request in receiver.requests}


def test_client_b_hears_nothing_of_client_a_orders_refunds_and_shipments(
    live_service, task_worker, new_receiver, fixed_fee
):
    client_a, client_b = portal_client("portal-a"), portal_client("portal-b")
    heard_by_a, heard_by_b = new_receiver(), new_receiver()
    webhook_endpoint_create(client=client_a.api_client, url=heard_by_a.url, events=["*"])
    b_endpoint, _ = webhook_endpoint_create(
        client=client_b.api_client, url=heard_by_b.url, events=["*"]
    )

    pay_and_refund(client_a, live_service.url)
    shipment = client_a.post(
        "/api/v1/shipments",
        shipment_body(),
        format="json",
        HTTP_IDEMPOTENCY_KEY="shipment-1",
    )
    assert shipment.status_code == 201, shipment.content

    eventually(
        lambda: {"payment_order.paid", "refund.succeeded", "shipment.booked"}
        <= heard_types(heard_by_a)
    )
    assert WebhookEvent.objects.filter(owner=client_a.api_client).count() >= 3
    assert not WebhookEvent.objects.exclude(owner=client_a.api_client).exists()
    assert not WebhookDelivery.objects.filter(endpoint=b_endpoint).exists()
    assert heard_by_b.requests == []


def test_an_event_whose_subject_has_no_client_goes_nowhere(db, receiver, portal):
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    other, _key = api_client_create(name="portal-b", role="portal")
    webhook_endpoint_create(client=other, url=receiver.url, events=["*"])

    event = emit(None, "shipment.status_changed")

    assert not event.deliveries.exists()


def test_each_client_hears_only_its_own_events_of_every_type(db, receiver, portal):
    other, _key = api_client_create(name="portal-b", role="portal")
    own, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    webhook_endpoint_create(client=other, url=receiver.url, events=["*"])

    for event_type in WEBHOOK_EVENT_TYPES:
        event = emit(portal, event_type)
        assert [d.endpoint for d in event.deliveries.all()] == [own]


# How many endpoints a client may have


def test_a_client_at_the_cap_is_refused_another_endpoint_and_nothing_is_written(
    db, receiver, portal, settings
):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_CLIENT = 2
    for _ in range(2):
        webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    with pytest.raises(DomainError) as refused:
        webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    assert (refused.value.status, refused.value.code) == (409, "webhook_endpoint_limit")
    assert "at most 2" in refused.value.message
    assert WebhookEndpoint.objects.count() == 2
    assert AuditRecord.objects.filter(action="webhook_endpoint.create").count() == 2


def test_the_cap_is_ten_active_endpoints_unless_configured(db, receiver, portal):
    for _ in range(10):
        webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    with pytest.raises(DomainError, match="at most 10"):
        webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])


def test_the_cap_counts_only_the_clients_own_active_endpoints(db, receiver, portal, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_CLIENT = 1
    old, _ = webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    webhook_endpoint_disable(client=portal, endpoint_public_id=old.public_id)
    other, _key = api_client_create(name="portal-b", role="portal")
    webhook_endpoint_create(client=other, url=receiver.url, events=["*"])

    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])

    with pytest.raises(DomainError, match="at most 1"):
        webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    assert WebhookEndpoint.objects.filter(client=portal, active=True).count() == 1


def test_a_registration_racing_one_that_reaches_the_cap_waits_for_it_and_is_refused(
    transactional_db, receiver, portal, settings
):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_CLIENT = 1
    outcome = {}

    def register() -> None:
        try:
            webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
        except DomainError as exc:
            outcome["refused"] = exc.code
        finally:
            connection.close()

    racer = threading.Thread(target=register)
    with transaction.atomic():
        ApiClient.objects.select_for_update().get(pk=portal.pk)
        WebhookEndpoint.objects.create(
            client=portal, url=receiver.url, events=["*"], secret_encrypted="-"
        )
        racer.start()
        racer.join(timeout=0.5)
        assert racer.is_alive(), "the second registration must wait for the client's lock"
    racer.join(timeout=10)

    assert outcome == {"refused": "webhook_endpoint_limit"}
    assert WebhookEndpoint.objects.filter(client=portal).count() == 1


def test_registering_past_the_cap_over_the_api_is_a_409(db, portal_api, receiver, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_CLIENT = 1
    assert create_endpoint(portal_api, receiver.url).status_code == 201

    response = create_endpoint(portal_api, receiver.url)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_endpoint_limit"
    assert WebhookEndpoint.objects.count() == 1


# Where a webhook may go


@pytest.fixture
def dns(monkeypatch):
    return fake_resolver(monkeypatch)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "private"),
        ("http://metadata.google.internal/computeMetadata/v1/", "internal"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://10.0.0.5/hooks", "private"),
        ("http://127.0.0.1:8000/sandbox/public_platform/_control/reset", "loopback"),
        ("http://localhost:8000/hooks", "internal"),
        ("http://user:secret@hooks.portal.example/hooks", "user name or password"),
        ("http://hooks.portal.example/hooks", "public internet"),
    ],
)
def test_registering_a_forbidden_url_is_a_400_on_the_url_field_saying_why(
    db, portal_api, settings, dns, url, says
):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    dns["hooks.portal.example"] = ["192.168.10.20"]

    response = create_endpoint(portal_api, url)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert says in error["message"]
    assert error["fields"] == {"url": [error["message"]]}
    assert "192.168.10.20" not in error["message"]
    assert not WebhookEndpoint.objects.exists()


def test_a_name_that_does_not_resolve_cannot_be_registered(db, portal, dns):
    with pytest.raises(InvalidRequest, match="does not resolve"):
        webhook_endpoint_create(client=portal, url="https://nowhere.portal.example/", events=["*"])


def test_a_name_that_later_resolves_to_loopback_is_refused_at_delivery_and_given_up(
    db, receiver, portal, settings, dns
):
    settings.WEBHOOK_ALLOW_LOOPBACK = False
    dns["hooks.portal.example"] = ["93.184.215.14"]
    port = receiver.url.split(":")[2].split("/")[0]
    webhook_endpoint_create(
        client=portal, url=f"http://hooks.portal.example:{port}/hooks", events=["*"]
    )
    dns["hooks.portal.example"] = ["127.0.0.1"]
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.last_error == "refused_target"
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.error) == (None, "refused_target")


def test_a_send_connects_to_the_address_it_checked_and_names_the_host(
    db, receiver, portal, dns, monkeypatch
):
    dns["hooks.portal.example"] = ["127.0.0.1"]
    port = receiver.url.split(":")[2].split("/")[0]
    lookups = []
    resolve = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        answers = resolve(host, *args, **kwargs)
        if host == "hooks.portal.example":
            lookups.append(host)
            if len(lookups) == 2:  # whatever the name says after the send's check: nothing there
                dns[host] = ["127.0.0.2"]
        return answers

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    webhook_endpoint_create(
        client=portal, url=f"http://hooks.portal.example:{port}/hooks?tenant=1", events=["*"]
    )
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    assert len(lookups) == 2  # once when registered, once when sent
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.portal.example:{port}"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(db, new_receiver, portal):
    redirecting, elsewhere = new_receiver(), new_receiver()
    redirecting.statuses = [302]
    redirecting.location = elsewhere.url
    webhook_endpoint_create(client=portal, url=redirecting.url, events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []
    assert (delivery.status, delivery.last_status_code) == (DeliveryStatus.PENDING, 302)
    assert delivery.next_attempt_at is not None


@pytest.fixture
def banner_server():
    """A service that is not a webhook receiver: it greets every connection with its banner."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
                conn.recv(65536)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hooks"
    listener.close()


def test_a_failed_send_keeps_a_coarse_code_and_never_what_the_other_side_said(
    db, portal, banner_server
):
    webhook_endpoint_create(client=portal, url=banner_server, events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    attempt = delivery.attempts.get()
    assert (attempt.status_code, attempt.error) == (None, "connection_failed")
    assert delivery.last_error == "connection_failed"
    assert delivery.status == DeliveryStatus.PENDING


@pytest.fixture
def tls_receiver(tmp_path):
    """An https receiver with a self-signed certificate for hooks.portal.example."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.portal.example")])
    now = timezone.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.portal.example")]), False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_names = []
    context.sni_callback = lambda _socket, server_name, _context: server_names.append(server_name)
    receiver = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver_handler(receiver))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"https://hooks.portal.example:{server.server_port}/hooks"
    yield receiver, server_names
    server.shutdown()
    server.server_close()


def test_an_https_send_to_the_checked_address_still_names_and_verifies_the_host(
    db, portal, dns, tls_receiver
):
    receiver, server_names = tls_receiver
    dns["hooks.portal.example"] = ["127.0.0.1"]
    webhook_endpoint_create(client=portal, url=receiver.url, events=["*"])
    delivery = delivery_of(emit(portal))

    deliver("webhook_delivery", delivery.pk)

    delivery.refresh_from_db()
    assert server_names == ["hooks.portal.example"]
    assert receiver.requests == []  # its certificate is signed by nobody we trust
    assert delivery.last_error == "tls_failed"
    assert delivery.status == DeliveryStatus.PENDING
