"""The API as a whole: its schema, its health endpoints, and no 500 for any input."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from core.auth import api_client_create

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
