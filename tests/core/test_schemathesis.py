"""Every operation of the published schema, called by each kind of caller, answers as it says.

The schema is read from the running application, and each operation is called with inputs
generated from it, sometimes aimed at records that exist, by a portal API key, a finance
API key and a finance staff member's browser session.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest
import schemathesis
from django.contrib.auth.models import Group, User
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from billing import webhooks
from closing.models import Remittance, SettlementReport, SettlementReportLine
from config.wsgi import application
from core.auth import FINANCE_GROUP, api_client_create
from core.money import business_date_of
from reconciliation.models import Discrepancy, ReconciliationRun
from tests.billing.conftest import create_order, order_body
from tests.logistics.conftest import agency, create_in_process, shipment_body  # noqa: F401

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def records(db, fixed_fee, agency) -> dict:  # noqa: F811
    """One of each record a path can name, owned by the portal that calls."""
    client, key = api_client_create(name="portal-under-test", role="portal")
    portal = APIClient()
    portal.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    order = create_order(portal)
    shipment = create_in_process(portal)
    endpoint, _ = webhooks.webhook_endpoint_create(
        client=client, url="http://127.0.0.1:9/hooks", events=["*"]
    )
    day = business_date_of(timezone.now()) - timedelta(days=1)
    run = ReconciliationRun.objects.create(
        business_date=day, party="alipay", party_kind="processor", status="succeeded"
    )
    discrepancy = Discrepancy.objects.create(
        run=run,
        business_date=day,
        party="alipay",
        type="missing_in_channel",
        key="missing_in_channel:payment:pay_1",
        kind="payment",
        department=agency,
        our_ref="pay_1",
        our_amount=3000,
        owner="finance",
    )
    report = SettlementReport.objects.create(
        department=agency, business_date=day, generated_at=timezone.now(), collected=3000, net=3000
    )
    SettlementReportLine.objects.create(
        report=report,
        fee_item=fixed_fee,
        fee_item_code=fixed_fee.code,
        fee_item_name=fixed_fee.name,
        payments_count=2,
        collected=3000,
        net=3000,
    )
    Remittance.objects.create(
        report=report,
        department=agency,
        business_date=day,
        amount=3000,
        debtor_bank="icbc",
        debtor_account="1202020209000012345",
        creditor_kind="treasury",
        creditor_account="270101040000000002",
        creditor_name="国家金库杭州市中心支库",
        execution_date=day,
    )
    return {
        "portal_key": key,
        "payment-orders": order["id"],
        "payment-codes": order["payment_code"],
        "verification_code": order["verification_code"],
        "shipments": shipment.public_id,
        "webhook-endpoints": endpoint.public_id,
        "run_id": run.pk,
        "discrepancy_id": discrepancy.pk,
        "report_id": report.public_id,
    }


def _bearer(key: str) -> dict:
    return {"headers": {"Authorization": f"Bearer {key}"}}


def _staff_session() -> dict:
    user = User.objects.create_user("finance-clerk", password="not-used")
    user.groups.add(Group.objects.get(name=FINANCE_GROUP))
    browser = Client()
    browser.force_login(user)
    csrf = secrets.token_hex(16)
    return {
        "headers": {"X-CSRFToken": csrf},
        "cookies": {"sessionid": browser.cookies["sessionid"].value, "csrftoken": csrf},
    }


@pytest.fixture(params=["portal key", "finance key", "staff session"])
def caller(request, records) -> dict:
    if request.param == "portal key":
        return _bearer(records["portal_key"])
    if request.param == "finance key":
        return _bearer(api_client_create(name="finance-scripts", role="finance")[1])
    return _staff_session()


@pytest.fixture
def one_connection(records, caller):
    """As Django's test client does: a request's end must not close the test's transaction.

    Set up after the records, as that client connects the signals again after each request.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def aim_at_records(case, records: dict) -> None:
    """Point the case's path at the seeded records (the lookup with its verification code)."""
    for name in case.path_parameters or {}:
        collection = case.operation.path.split("/")[3]
        case.path_parameters[name] = records.get(name, records.get(collection))
    if "verification_code" in (case.query or {}):
        case.query["verification_code"] = records["verification_code"]


def _case_number() -> str:
    return f"SX-{uuid.uuid4().hex[:12]}"


# Generated bodies seldom pass the domain's validation (check digits, catalogue codes), so
# half the examples of each create send one that does, and its success answer is checked too.
VALID_BODIES = {
    "payment_orders_create": lambda: order_body(case_number=_case_number()),
    "shipments_create": lambda: shipment_body(case_number=_case_number()),
    "webhook_endpoints_create": lambda: {"url": "http://127.0.0.1:9/hooks", "events": ["*"]},
    "reconciliation_runs_start": lambda: {
        "business_date": (business_date_of(timezone.now()) - timedelta(days=1)).isoformat(),
        "party": "alipay",
    },
}


def send_a_valid_body(case) -> None:
    case.body = VALID_BODIES[case.operation.definition.raw["operationId"]]()
    if "Idempotency-Key" in (case.headers or {}):
        case.headers["Idempotency-Key"] = uuid.uuid4().hex


@schema.parametrize()
@schema.given(on_records=st.booleans(), valid_body=st.booleans())
@settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_says(
    case, on_records, valid_body, caller, records, one_connection
):
    if on_records:
        aim_at_records(case, records)
    if valid_body and case.operation.definition.raw["operationId"] in VALID_BODIES:
        send_a_valid_body(case)
    response = case.call(**caller)
    # No payment channel or courier answers inside the test's transaction: their documented
    # 503 is the designed answer then, not a crash.
    unavailable = (
        response.status_code == 503 and "503" in case.operation.definition.raw["responses"]
    )
    case.validate_response(
        response, checks=CHECKS[1:] if unavailable else CHECKS, headers=caller["headers"]
    )
