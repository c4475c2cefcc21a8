from __future__ import annotations

import itertools

import pytest
import requests
from rest_framework.test import APIClient

from billing.models import FeeItem, PaymentOrder
from core.auth import api_client_create
from tests.conftest import SERVICE_ITEM, charged_by_service_item, make_department
from tests.waiting import eventually

NATURAL_ID = "11010519491231002X"
LEGAL_ID = "91110000600037341L"
_keys = itertools.count()


@pytest.fixture
def other_department(db):
    return make_department(
        "GA01",
        "市公安局",
        settlement_account_name="市公安局非税专户",
        settlement_account_number="3301040160000000001",
        settlement_bank="中国农业银行杭州分行",
    )


@pytest.fixture
def range_fee(department):
    item = FeeItem.objects.create(
        code="FEE-RNG",
        name="检验检测费",
        department=department,
        legal_basis="《检验检测收费标准》",
        min_amount=10000,
        max_amount=50000,
    )
    charged_by_service_item(item)
    return item


def portal_api(name: str = "portal") -> APIClient:
    client, key = api_client_create(name=name, role="portal")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    api.api_client = client
    return api


@pytest.fixture
def portal(db) -> APIClient:
    return portal_api()


@pytest.fixture
def finance(db) -> APIClient:
    _, key = api_client_create(name="finance-scripts", role="finance")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


def order_body(**overrides) -> dict:
    body = {
        "case_number": "BJ-2026-000123",
        "service_item_code": SERVICE_ITEM,
        "department": "SCJG01",
        "region_code": "330100",
        "payer": {
            "type": "natural",
            "name": "张三",
            "id_number": NATURAL_ID,
            "phone": "13800138000",
        },
        "lines": [{"fee_item": "FEE-LIC", "quantity": 2, "amount": 1500}],
    }
    body.update(overrides)
    return body


def create_order(api: APIClient, **overrides) -> dict:
    response = api.post(
        "/api/v1/payment-orders",
        order_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=f"key-{next(_keys)}",
    )
    assert response.status_code == 201, response.content
    return response.json()


def paid_at_platform(api: APIClient, base_url: str, **overrides) -> tuple[dict, requests.Session]:
    """An order created by ``api`` and paid at the public platform sandbox's cashier (its
    attempt under ``"attempt"``), with a session that calls the service as the same portal."""
    http = requests.Session()
    http.headers["Authorization"] = api._credentials["HTTP_AUTHORIZATION"]
    order = create_order(api, **overrides)
    attempt = http.post(
        f"{base_url}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "public_platform"},
    ).json()
    requests.post(attempt["pay_url"], json={"result": "success"}, timeout=10)
    eventually(lambda: PaymentOrder.objects.get(public_id=order["id"]).status == "paid")
    order["attempt"] = attempt
    return order, http
