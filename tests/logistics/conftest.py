"""Shipments over HTTP: the service, its courier sandboxes and a real worker."""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import FeeItem, FeeKind
from logistics.models import Shipment
from tests.billing.conftest import NATURAL_ID, portal_api

_keys = itertools.count()


@pytest.fixture
def agency(department):
    """The agency that ships and collects the freight: the billing tests' department."""
    return department


@pytest.fixture
def freight_item(agency):
    return FeeItem.objects.create(
        code="SCJG-JDF",
        name="政务寄递费（代收）",
        kind=FeeKind.FREIGHT,
        department=agency,
        legal_basis="申请人自愿选择寄递服务",
        min_amount=100,
        max_amount=50000,
    )


def shipment_body(**overrides) -> dict:
    body = {
        "kind": "result",
        "case_number": "SC-2026-000777",
        "department": "SCJG01",
        "sender": {
            "name": "市市场监督管理局政务服务窗口",
            "phone": "0571-87654321",
            "province": "浙江省",
            "city": "杭州市",
            "district": "上城区",
            "detail": "解放东路18号市民中心C座",
            "region_code": "330102",
        },
        "recipient": {
            "name": "张三",
            "phone": "13800138000",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "文三路90号1幢302室",
            "region_code": "330106",
        },
        "items": [
            {
                "kind": "certificate",
                "title": "营业执照（正本）",
                "issuing_agency": "市市场监督管理局",
                "number": "91330100MA2XXXXX0X",
            }
        ],
        "courier": "sf",
        "service_level": "standard",
        "deliver_by": (timezone.now() + timedelta(days=3)).isoformat(),
        "freight_payer": "agency",
        "undeliverable_rule": "return",
    }
    body.update(overrides)
    return body


def applicant_payer() -> dict:
    return {"type": "natural", "name": "张三", "id_number": NATURAL_ID, "phone": "13800138000"}


@pytest.fixture
def portal_http(live_service, agency, freight_item, settings) -> requests.Session:
    # The sandbox keeps a partner's registered push address across tests: point it here.
    sf = settings.SF_EXPRESS
    registered = requests.post(
        f"{live_service.url}/sandbox/sf/_control/partners/{sf['partner_id']}/push_url",
        json={"url": f"{live_service.url}/notify/couriers/sf/push?token={quote(sf['push_token'])}"},
        timeout=5,
    )
    assert registered.status_code == 200, registered.text
    portal = portal_api()
    session = requests.Session()
    session.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    session.base = live_service.url
    session.api_client = portal.api_client
    return session


def create_shipment(http: requests.Session, **overrides) -> dict:
    response = http.post(
        f"{http.base}/api/v1/shipments",
        json=shipment_body(**overrides),
        headers={"Idempotency-Key": f"shp-{next(_keys)}-{time.monotonic_ns()}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def get_shipment(http: requests.Session, shipment_id: str) -> dict:
    response = http.get(f"{http.base}/api/v1/shipments/{shipment_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(
    http: requests.Session, shipment_id: str, check: Callable[[dict], bool], seconds: float = 10
) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        current = get_shipment(http, shipment_id)
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"shipment never got there; last seen: {current}")
        time.sleep(0.05)


def booked(http: requests.Session, shipment_id: str) -> dict:
    return wait_for(http, shipment_id, lambda s: bool(s["waybill_no"]))


def scan(http: requests.Session, courier: str, waybill_no: str, **body) -> dict:
    """Drive the courier's sandbox: one scan of the waybill, pushed to the service."""
    response = requests.post(
        f"{http.base}/sandbox/{courier}/_control/waybills/{waybill_no}/scan", json=body, timeout=5
    )
    assert response.status_code == 200, response.text
    return response.json()


def create_in_process(api: APIClient, **overrides) -> Shipment:
    """A shipment created through the API in the test's transaction: it is never booked."""
    response = api.post(
        "/api/v1/shipments",
        shipment_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert response.status_code == 201, response.content
    return Shipment.objects.get(public_id=response.json()["id"])
