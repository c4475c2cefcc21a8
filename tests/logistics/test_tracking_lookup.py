"""The public tracking lookup: a waybill and the applicant's code show the parcel's way,
never a name, phone or address, and tell an unknown waybill from a wrong code by nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from django.core.cache import cache
from django.db import transaction
from rest_framework.test import APIClient

from core.money import BEIJING
from integrations.couriers.base import ShipmentStatus
from integrations.couriers.base import TrackingEvent as CourierEvent
from logistics.models import EventSource, Shipment
from logistics.services import tracking
from logistics.services.status import lock_shipment
from tests.billing.conftest import create_order, portal_api
from tests.logistics.conftest import shipment_body

pytestmark = pytest.mark.django_db

WAYBILL = "SF1234567890123"
SIGNER = "王小明"
COURIER_PHONE = "13912345678"


@pytest.fixture
def portal(agency, freight_item, fixed_fee) -> APIClient:
    return portal_api()


@pytest.fixture
def anyone():
    client = APIClient(REMOTE_ADDR="203.0.113.9")  # a throttle bucket of its own
    yield client
    cache.clear()


def created(api: APIClient, **overrides) -> dict:
    answer = api.post(
        "/api/v1/shipments",
        shipment_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )
    assert answer.status_code == 201, answer.content
    return answer.json()


def scanned(shipment_id: str) -> None:
    """The shipment booked as WAYBILL and its route as the courier's query answers it."""
    Shipment.objects.filter(public_id=shipment_id).update(waybill_no=WAYBILL)
    scans = [
        (ShipmentStatus.PICKED_UP, "杭州上城营业点", "顺丰速运 已收取快件"),
        (
            ShipmentStatus.OUT_FOR_DELIVERY,
            "杭州西湖文三路营业点",
            f"快件交给赵师傅，正在派送途中（联系电话：{COURIER_PHONE}）",
        ),
        (ShipmentStatus.DELIVERED, "杭州西湖文三路营业点", f"快件已签收，签收人：{SIGNER}"),
    ]
    events = [
        CourierEvent(
            courier="sf",
            waybill_no=WAYBILL,
            event_id=f"sf-{index}",
            code=str(index),
            status=status,
            reason="",
            occurred_at=datetime(2026, 11, 25, 9 + index, 0, tzinfo=BEIJING),
            location=location,
            description=text,
            signer=SIGNER if status == ShipmentStatus.DELIVERED else "",
        )
        for index, (status, location, text) in enumerate(scans)
    ]
    with transaction.atomic():
        shipment = lock_shipment(Shipment.objects.get(public_id=shipment_id).pk)
        tracking.events_ingest(shipment, events, source=EventSource.QUERY)


def lookup(client: APIClient, waybill: str, code: str):
    return client.get(f"/api/v1/tracking/{waybill}", {"verification_code": code})


def test_the_portal_gets_the_applicants_tracking_code_once_and_a_replay_gives_it_again(portal):
    body = shipment_body()
    first = portal.post("/api/v1/shipments", body, format="json", HTTP_IDEMPOTENCY_KEY="track")
    again = portal.post("/api/v1/shipments", body, format="json", HTTP_IDEMPOTENCY_KEY="track")
    detail = portal.get(f"/api/v1/shipments/{first.json()['id']}").json()

    code = first.json()["tracking_code"]
    assert len(code) == 6 and code.isdigit()
    assert again.json()["tracking_code"] == code
    assert "tracking_code" not in detail
    assert code not in Shipment.objects.get(public_id=detail["id"]).tracking_code_hash


def test_the_waybill_and_code_show_the_status_and_the_scans_and_nobodys_details(portal, anyone):
    shipment = created(portal)
    scanned(shipment["id"])

    found = lookup(anyone, WAYBILL, shipment["tracking_code"])

    assert found.status_code == 200, found.content
    body = found.json()
    assert set(body) == {"waybill_no", "courier", "status", "events"}
    assert (body["waybill_no"], body["courier"], body["status"]) == (WAYBILL, "sf", "delivered")
    assert [set(event) for event in body["events"]] == [
        {"occurred_at", "location", "description"}
    ] * 3
    assert body["events"][0] == {
        "occurred_at": "2026-11-25T09:00:00+08:00",
        "location": "杭州上城营业点",
        "description": "顺丰速运 已收取快件",
    }
    assert body["events"][1]["description"].endswith("（联系电话：139****5678）")
    assert body["events"][2]["description"] == "快件已签收，签收人：王**"
    text = found.content.decode()
    for personal in (SIGNER, COURIER_PHONE, "张三", "13800138000", "文三路90号"):
        assert personal not in text


def test_an_unknown_waybill_and_a_wrong_code_get_the_same_answer(portal, anyone):
    shipment = created(portal)
    scanned(shipment["id"])
    right = shipment["tracking_code"]
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    wrong_code = lookup(anyone, WAYBILL, wrong)
    unknown = lookup(anyone, "SF9999999999999", right)

    assert wrong_code.status_code == unknown.status_code == 404
    assert wrong_code.json() == unknown.json()
    assert wrong_code.json()["error"]["code"] == "not_found"


def test_another_shipments_code_does_not_open_this_waybill(portal, anyone):
    shipment = created(portal)
    scanned(shipment["id"])
    other = created(portal, case_number="SC-2026-000888")

    assert lookup(anyone, WAYBILL, other["tracking_code"]).status_code == 404


@pytest.mark.parametrize(
    ("waybill", "code", "field"),
    [
        (WAYBILL, "12345", "verification_code"),
        (WAYBILL, "abcdef", "verification_code"),
        ("SF 12", "123456", "waybill_no"),
        ("x" * 41, "123456", "waybill_no"),
    ],
)
def test_a_malformed_waybill_or_code_is_a_400(anyone, waybill, code, field):
    answer = lookup(anyone, waybill, code)

    assert answer.status_code == 400
    assert field in answer.json()["error"]["fields"]


def test_the_lookup_is_throttled_at_the_payment_code_lookups_rate_in_its_own_bucket(portal, anyone):
    shipment = created(portal)
    scanned(shipment["id"])
    order = create_order(portal)

    answers = [lookup(anyone, WAYBILL, shipment["tracking_code"]).status_code for _ in range(31)]
    slip = anyone.get(
        f"/api/v1/payment-codes/{order['payment_code']}",
        {"verification_code": order["verification_code"]},
    )

    assert answers[:30] == [200] * 30
    assert answers[30] == 429
    refused = lookup(anyone, WAYBILL, "000000")
    assert refused.json()["error"]["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60  # when the client may try again
    assert slip.status_code == 200  # the payment-code lookup keeps its own count
