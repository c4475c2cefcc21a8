"""Log lines are JSON, carry the request's id (into the tasks it queues), and name no one."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import structlog

from billing.models import WebhookDelivery
from billing.webhooks import webhook_endpoint_create
from config.logging import formatter, logging_config
from tests.billing.conftest import NATURAL_ID, create_order, order_body, portal_api
from tests.waiting import eventually

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


class Captured:
    """Every record reaching the root logger, formatted as production formats it."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter(human=False))

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        # One JSON object per line, every line: json.loads fails on anything else.
        return [json.loads(line) for line in self.text.splitlines()]

    def where(self, **fields) -> list[dict]:
        return [
            line
            for line in self.lines()
            if all(line.get(key) == value for key, value in fields.items())
        ]


@pytest.fixture
def captured():
    root = logging.getLogger()
    capture = Captured()
    level = root.level
    root.addHandler(capture.handler)
    root.setLevel(logging.DEBUG)
    yield capture
    root.removeHandler(capture.handler)
    root.setLevel(level)


@pytest.mark.django_db
def test_a_requests_lines_are_json_with_the_id_of_its_response_header(captured, public_platform):
    portal = portal_api()
    bound_before = structlog.contextvars.get_contextvars().get("request_id")

    response = portal.get("/api/v1/payment-orders/po_missing")

    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert GENERATED_ID.fullmatch(request_id)
    for line in captured.lines():
        assert {"timestamp", "level", "logger", "event"} <= line.keys()
        assert line["timestamp"].endswith("Z")  # ISO 8601, UTC
    [access] = captured.where(logger="core.access")
    assert access["request_id"] == request_id
    assert access["level"] == "info"
    assert access["route"] == "/api/v1/payment-orders/<str:public_id>"
    assert (access["method"], access["status"]) == ("GET", 404)
    assert access["duration_ms"] >= 0
    assert access["client_id"] == portal.api_client.pk
    assert "po_missing" not in json.dumps(access)
    # Django's own line about the 404, logged through the standard library, has it too.
    [django_line] = captured.where(logger="django.request")
    assert django_line["request_id"] == request_id
    assert django_line["level"] == "warning"
    # Once the response is closed, the thread's context is as it was before the request.
    assert structlog.contextvars.get_contextvars().get("request_id") == bound_before != request_id


@pytest.mark.django_db
def test_a_well_formed_inbound_request_id_is_kept(captured, client):
    inbound = "portal-req.2026_0001"

    response = client.get("/healthz", HTTP_X_REQUEST_ID=inbound)

    assert response["X-Request-ID"] == inbound
    [access] = captured.where(logger="core.access")
    assert access["request_id"] == inbound
    assert access["route"] == "/healthz"
    assert "client_id" not in access and "user_id" not in access


@pytest.mark.django_db
@pytest.mark.parametrize(
    "inbound",
    ["short", "has spaces in it", "x" * 65, "<script>alert(1)</script>", "id\u00e9-not-ascii"],
)
def test_a_malformed_inbound_request_id_is_replaced(captured, client, inbound):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=inbound)

    request_id = response["X-Request-ID"]
    assert request_id != inbound
    assert GENERATED_ID.fullmatch(request_id)
    assert captured.where(logger="core.access")[0]["request_id"] == request_id
    assert inbound not in captured.text


@pytest.mark.django_db
def test_the_access_line_of_a_staff_session_names_the_user_by_id(captured, client):
    from django.contrib.auth.models import User

    staff = User.objects.create_user("wang.fang", password="pw-for-tests-1", is_staff=True)
    client.force_login(staff)

    client.get("/console/")

    [access] = captured.where(logger="core.access", route="/console/")
    assert access["user_id"] == staff.pk
    assert "wang.fang" not in captured.text


@pytest.mark.django_db
def test_an_order_body_leaves_no_personal_data_in_the_log(captured, fixed_fee):
    portal = portal_api()
    payer = {"type": "natural", "name": "李秀英", "id_number": NATURAL_ID, "phone": "13912345678"}

    created = create_order(portal, payer=payer)
    refused = portal.post(
        "/api/v1/payment-orders",
        {**order_body(payer=payer), "lines": "not a list"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="refused-order-1",
    )
    portal.get(f"/api/v1/payment-orders/{created['id']}")

    assert refused.status_code == 400
    routes = {line.get("route") for line in captured.where(logger="core.access")}
    assert routes == {"/api/v1/payment-orders", "/api/v1/payment-orders/<str:public_id>"}
    assert len(captured.where(logger="core.access")) == 3
    for personal in (payer["name"], NATURAL_ID, NATURAL_ID[-6:], payer["phone"], "张三"):
        assert personal not in captured.text


def test_structlog_and_standard_library_lines_read_alike_and_human_text_has_no_colours():
    json_out, human_out = io.StringIO(), io.StringIO()
    json_handler, human_handler = logging.StreamHandler(json_out), logging.StreamHandler(human_out)
    json_handler.setFormatter(formatter(human=False))
    human_handler.setFormatter(formatter(human=True))
    logger = logging.getLogger("tests.structured")
    for handler in (json_handler, human_handler):
        logger.addHandler(handler)
    try:
        with structlog.contextvars.bound_contextvars(request_id="bound-in-test-1"):
            logger.warning("order %s expired", "po_1")
            structlog.stdlib.get_logger("tests.structured").warning("expired", order="po_1")
    finally:
        for handler in (json_handler, human_handler):
            logger.removeHandler(handler)

    stdlib_line, structlog_line = (json.loads(line) for line in json_out.getvalue().splitlines())
    assert stdlib_line["event"] == "order po_1 expired"
    assert structlog_line["order"] == "po_1"
    for line in (stdlib_line, structlog_line):
        assert list(line)[:5] == ["timestamp", "level", "logger", "event", "request_id"]
        assert (line["level"], line["logger"]) == ("warning", "tests.structured")
        assert line["request_id"] == "bound-in-test-1"
    human = human_out.getvalue()
    assert "order po_1 expired" in human and "request_id=bound-in-test-1" in human
    assert "\x1b[" not in human  # not a terminal: no colour codes


def test_the_configuration_keeps_sql_quiet_and_routes_every_logger_through_one_formatter():
    config = logging_config(human=False, level="debug")

    assert config["root"]["level"] == "DEBUG"
    assert config["loggers"]["django.db.backends"]["level"] == "WARNING"
    assert config["formatters"]["structured"] == {"()": "config.logging.formatter", "human": False}
    assert config["loggers"]["gunicorn.error"]["handlers"] == config["root"]["handlers"]


def test_a_task_queued_during_a_request_logs_with_that_requests_id(
    captured, task_worker, fixed_fee
):
    portal = portal_api()
    webhook_endpoint_create(
        client=portal.api_client,
        url="http://127.0.0.1:9/hooks",  # nothing listens: the delivery fails and is logged
        events=["payment_order.cancelled"],
    )
    order = create_order(portal)
    request_id = "cancel-request-0001"

    cancelled = portal.post(
        f"/api/v1/payment-orders/{order['id']}/cancel",
        {"reason": "申请人撤回"},
        format="json",
        HTTP_X_REQUEST_ID=request_id,
    )

    assert cancelled.status_code == 200
    assert cancelled["X-Request-ID"] == request_id
    eventually(lambda: WebhookDelivery.objects.filter(attempt_count__gte=1).exists())
    [delivery_line] = eventually(
        lambda: [
            line
            for line in captured.where(logger="billing.webhooks")
            if line["event"].startswith("webhook delivery")
        ]
    )
    assert delivery_line["request_id"] == request_id
    assert delivery_line["task"] == "outbox.tasks.deliver"
    assert delivery_line["task_id"]
    # Celery's own line about the task ends in the same context.
    [done] = eventually(
        lambda: [
            line
            for line in captured.where(logger="celery.app.trace")
            if line.get("task_id") == delivery_line["task_id"]
        ]
    )
    assert done["request_id"] == request_id
    # The order's creation, an earlier request, had an id of its own.
    creation_ids = {
        line["request_id"]
        for line in captured.where(logger="core.access", route="/api/v1/payment-orders")
    }
    assert len(creation_ids) == 1 and request_id not in creation_ids
