"""The API as a whole: its schema, its health endpoints, and no 500 for any input."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from core.auth import api_client_create
from reconciliation.models import ReconciliationRun
from tests.billing.conftest import finance, portal  # noqa: F401

pytestmark = pytest.mark.django_db

JUNK_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"x"',
    b"{",
    b'{"a": 1e999}',
    "\ud800".encode("utf-8", "surrogatepass"),
    b'{"amount": -1, "lines": [{}], "payer": {"type": "robot"}}',
    b"\x00" * 64,
]


@pytest.fixture
def schema(tmp_path) -> dict:
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def test_the_schema_generates_without_warnings_and_documents_errors(schema):
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert len(operations) >= 10
    for operation in operations:
        codes = set(operation["responses"])
        assert any(code.startswith("2") for code in codes), operation["operationId"]
        assert any(code.startswith("4") for code in codes), operation["operationId"]


def test_health_endpoints_report_the_database_and_the_broker(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_no_endpoint_answers_500_to_junk(client, schema):
    _, key = api_client_create(name="fuzz-portal", role="portal")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_IDEMPOTENCY_KEY": "junk"}
    for path, operations in schema["paths"].items():
        url = path.replace("{public_id}", "po_junk").replace(
            "{payment_code}", "3301001234567890123"
        )
        url = url.replace("{id}", "we_junk")
        for method in operations:
            for body in JUNK_BODIES:
                response = client.generic(
                    method.upper(), url, body, content_type="application/json", **auth
                )
                assert response.status_code < 500, (method, url, body, response.content)
                if response.status_code >= 400:
                    assert response.json()["error"]["code"]


def _operation(schema: dict, path: str, method: str = "get") -> dict:
    return schema["paths"][f"/api/v1/{path}"][method]


def _component(schema: dict, response: dict) -> dict:
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    "path",
    [
        "payment-orders",
        "shipments",
        "reconciliation/runs",
        "reconciliation/discrepancies",
        "webhook-endpoints/{public_id}/deliveries",
    ],
)
def test_every_paginated_list_is_documented_as_a_cursor_page(schema, path):
    operation = _operation(schema, path)
    page = _component(schema, operation["responses"]["200"])
    assert page["required"] == ["next", "previous", "results"]
    assert page["properties"]["next"]["nullable"] is True
    assert page["properties"]["previous"]["nullable"] is True
    assert page["properties"]["results"]["type"] == "array"
    assert {"cursor", "page_size"} <= {p["name"] for p in operation["parameters"]}


@pytest.mark.parametrize(
    ("component", "field"),
    [
        ("Discrepancy", "assignee"),
        ("Discrepancy", "department"),
        ("Run", "statement_sha256"),
        ("Shipment", "freight_order"),
        ("Shipment", "proof_of_delivery"),
        ("TimeLimit", "overdue_since"),
    ],
)
def test_fields_answered_as_null_are_declared_nullable(schema, component, field):
    assert schema["components"]["schemas"][component]["properties"][field]["nullable"] is True


def test_downloads_are_documented_with_their_media_types_and_errors_as_json(schema):
    downloads = {
        "reconciliation/runs/{run_id}/report.csv": "text/csv",
        "reconciliation/runs/{run_id}/report.xlsx": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
        "reconciliation/clearing.csv": "text/csv",
    }
    for path, media_type in downloads.items():
        responses = _operation(schema, path)["responses"]
        assert list(responses["200"]["content"]) == [media_type]
        assert list(responses["404" if "{" in path else "400"]["content"]) == ["application/json"]


def test_a_client_asking_for_csv_gets_the_file_and_its_errors_as_json(finance):  # noqa: F811
    day = timezone.localdate() - timedelta(days=1)
    answer = finance.get(
        "/api/v1/reconciliation/clearing.csv", {"business_date": day}, HTTP_ACCEPT="text/csv"
    )
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    missing = finance.get("/api/v1/reconciliation/runs/999999/report.csv", HTTP_ACCEPT="text/csv")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_the_throttled_lookup_documents_its_429_with_retry_after(schema):
    throttled = _operation(schema, "payment-codes/{payment_code}")["responses"]["429"]
    assert _component(schema, throttled) == schema["components"]["schemas"]["Error"]
    assert "Retry-After" in throttled["headers"]


def test_every_operation_documents_unreadable_requests_and_bodies_too_large(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (method, path)
            if "requestBody" in operation:
                assert "413" in operation["responses"], (method, path)
    webhook_create = _operation(schema, "webhook-endpoints", "post")["responses"]
    assert "409" in webhook_create


@pytest.mark.parametrize("day", ["0290-04-13", "1500-01-01", "0001-01-01", "tomorrow"])
def test_a_run_for_an_impossible_business_date_is_refused_before_it_starts(finance, day):  # noqa: F811
    if day == "tomorrow":
        day = (timezone.localdate() + timedelta(days=1)).isoformat()
    answer = finance.post(
        "/api/v1/reconciliation/runs", {"business_date": day, "party": "all"}, format="json"
    )
    assert answer.status_code == 400
    assert "business_date" in answer.json()["error"]["fields"]
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/payment-orders?created_from=0001-01-01",
        "/api/v1/shipments?created_to=0001-01-01",
        "/api/v1/reconciliation/discrepancies?business_date=0001-01-01",
        "/api/v1/reconciliation/runs?business_date=1500-01-01",
        "/api/v1/reconciliation/clearing?business_date=0290-04-13",
        "/api/v1/ledger/trial-balance?business_date=0001-01-01",
    ],
)
def test_date_filters_outside_the_service_s_lifetime_are_refused(portal, finance, url):  # noqa: F811
    caller = portal if url.startswith(("/api/v1/payment-orders", "/api/v1/shipments")) else finance
    answer = caller.get(url)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("cursor", ["junk!", "cD1hYmM=", "cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk="])
def test_a_cursor_not_from_a_previous_page_is_a_validation_error(portal, cursor):  # noqa: F811
    answer = portal.get("/api/v1/payment-orders", {"cursor": cursor})
    assert answer.status_code == 400
    assert "cursor" in answer.json()["error"]["fields"]
