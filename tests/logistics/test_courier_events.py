"""A courier beyond SF and EMS: its parcel comes with a counter waybill, and it posts its
scans in the normalised format with its courier key; they move the shipment as any push."""

from __future__ import annotations

import copy
import uuid

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from core.auth import api_client_create
from core.errors import InvalidRequest
from logistics.models import CourierKey, CourierPush, Shipment, TrackingEvent
from logistics.services.courier_events import courier_key_create
from outbox.engine import apply_due
from tests.billing.conftest import portal_api
from tests.logistics.conftest import shipment_body

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/courier-events"
WAYBILL = "ZT7300012345678"
SIGNER = "李四"


@pytest.fixture
def zto(settings):
    """A courier the service does not book with, configured beside SF and EMS."""
    logistics = copy.deepcopy(settings.LOGISTICS)
    logistics["couriers"]["zto"] = {
        "service_levels": {"standard": "standard"},
        "tariff": {"base": {"standard": 1200}, "insurance_permille": 0},
    }
    settings.LOGISTICS = logistics
    return "zto"


@pytest.fixture
def portal(agency, freight_item) -> APIClient:
    return portal_api()


def keyed(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return api


@pytest.fixture
def courier(zto) -> APIClient:
    return keyed(courier_key_create(name="zto-scans", courier=zto)[1])


def post_shipment(api: APIClient, **overrides):
    return api.post(
        "/api/v1/shipments",
        shipment_body(**overrides),
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


@pytest.fixture
def shipment(portal, zto) -> dict:
    answer = post_shipment(portal, courier=zto, waybill_no=WAYBILL)
    assert answer.status_code == 201, answer.content
    return answer.json()


def scan(code: str, time: str, **fields) -> dict:
    return {"waybill_no": WAYBILL, "event_time": time, "code": code, **fields}


def post(api: APIClient, *events: dict):
    return api.post(EVENTS, {"events": list(events)}, format="json")


def applied() -> None:
    while apply_due("courier_push"):
        pass


def current(shipment_id: str) -> Shipment:
    return Shipment.objects.get(public_id=shipment_id)


# -- the counter waybill ------------------------------------------------------------------


def test_a_counter_courier_brings_its_waybill_and_is_never_booked(shipment):
    stored = current(shipment["id"])

    assert (shipment["courier"], shipment["waybill_no"], shipment["status"]) == (
        "zto",
        WAYBILL,
        "pending",
    )
    assert stored.booked_at is not None and stored.next_booking_at is None


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"courier": "zto"}, id="counter_courier_without_waybill"),
        pytest.param({"courier": "sf", "waybill_no": WAYBILL}, id="booked_courier_with_waybill"),
        pytest.param(
            {
                "courier": "zto",
                "waybill_no": WAYBILL,
                "consolidation": "consolidated",
                "parallel_approval_id": "PA-1",
                "items": [
                    {"kind": "certificate", "title": "执照", "issuing_agency": "市市场监督管理局"},
                    {"kind": "certificate", "title": "许可", "issuing_agency": "市公安局"},
                ],
            },
            id="consolidated_with_waybill",
        ),
        pytest.param({"courier": "zto", "waybill_no": "ZT 1"}, id="malformed_waybill"),
    ],
)
def test_a_waybill_where_none_belongs_or_none_where_one_must_is_a_400(portal, zto, overrides):
    answer = post_shipment(portal, **overrides)

    assert answer.status_code == 400, answer.content
    assert "waybill_no" in answer.json()["error"]["fields"]
    assert not Shipment.objects.exists()


def test_a_counter_waybill_recorded_twice_is_a_409(portal, shipment):
    again = post_shipment(portal, courier="zto", waybill_no=WAYBILL, case_number="SC-2")

    assert (again.status_code, again.json()["error"]["code"]) == (409, "waybill_taken")
    assert Shipment.objects.count() == 1


# -- the courier's scans ------------------------------------------------------------------


def test_the_couriers_scans_move_the_shipment_to_delivered_with_the_signer_masked(
    courier, shipment
):
    answer = post(
        courier,
        scan("picked_up", "2026-11-25T09:00:00+08:00", location="杭州上城揽投部"),
        scan("in_transit", "2026-11-25T15:30:00+08:00", description="已发往杭州转运中心"),
        scan(
            "delivered",
            "2026-11-26T10:05:00+08:00",
            description=f"已签收，签收人：{SIGNER}",
            signer=SIGNER,
        ),
    )
    applied()

    assert (answer.status_code, answer.json()) == (202, {"received": 3})
    stored = current(shipment["id"])
    assert stored.status == "delivered"
    assert stored.pod_signer_masked == "李*"
    events = list(TrackingEvent.objects.filter(shipment=stored))
    assert [event.status for event in events] == ["picked_up", "in_transit", "delivered"]
    assert all(event.confirmed for event in events)  # the key vouches: no route query exists
    assert events[-1].description == "已签收，签收人：李*"
    assert SIGNER not in str(events[-1].signer_encrypted)
    push = CourierPush.objects.get()
    assert (push.courier, push.status) == ("zto", "applied")


def test_a_failed_delivery_carries_its_reason(courier, shipment):
    post(
        courier,
        scan("picked_up", "2026-11-25T09:00:00+08:00"),
        scan("delivery_failed", "2026-11-26T09:00:00+08:00", reason="not_home"),
    )
    applied()

    stored = current(shipment["id"])
    assert (stored.status, stored.failure_reason, stored.failed_attempts) == (
        "delivery_failed",
        "not_home",
        1,
    )


def test_the_same_scan_posted_again_even_with_another_offset_is_stored_once(courier, shipment):
    post(courier, scan("picked_up", "2026-11-25T09:00:00+08:00"))
    post(courier, scan("picked_up", "2026-11-25T01:00:00+00:00"))
    post(
        courier,
        scan("picked_up", "2026-11-25T09:00:00+08:00"),
        scan("in_transit", "2026-11-25T12:00:00+08:00"),
    )
    applied()

    codes = TrackingEvent.objects.filter(shipment__public_id=shipment["id"])
    assert sorted(codes.values_list("code", flat=True)) == ["in_transit", "picked_up"]


def test_a_key_reports_only_its_own_couriers_waybills(portal, courier, shipment, zto, settings):
    other = keyed(api_client_create(name="plain-courier", role="courier")[1])
    sf_shipment = post_shipment(portal, courier="sf").json()
    Shipment.objects.filter(public_id=sf_shipment["id"]).update(waybill_no="SF1234567890")

    foreign = post(
        courier, scan("picked_up", "2026-11-25T09:00:00+08:00", waybill_no="SF1234567890")
    )
    mixed = post(
        courier,
        scan("picked_up", "2026-11-25T09:00:00+08:00"),
        scan("picked_up", "2026-11-25T09:00:00+08:00", waybill_no="ZT0000000000"),
    )
    unlinked = post(other, scan("picked_up", "2026-11-25T09:00:00+08:00"))
    as_portal = post(portal, scan("picked_up", "2026-11-25T09:00:00+08:00"))

    assert (foreign.status_code, foreign.json()["error"]["code"]) == (422, "unknown_waybill")
    assert mixed.status_code == 422  # refused whole
    assert (unlinked.status_code, unlinked.json()["error"]["code"]) == (403, "not_a_courier_key")
    assert as_portal.status_code == 403
    assert not CourierPush.objects.exists()


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (scan("picked_up", "2026-11-25T09:00:00"), "event_time"),
        (scan("teleported", "2026-11-25T09:00:00+08:00"), "code"),
        (scan("in_transit", "2026-11-25T09:00:00+08:00", signer=SIGNER), "signer"),
        (scan("delivered", "2026-11-25T09:00:00+08:00", reason="refused"), "reason"),
        (scan("on_hold", "2026-11-25T09:00:00+08:00", reason="lost"), "reason"),
        ({"event_time": "2026-11-25T09:00:00+08:00", "code": "picked_up"}, "waybill_no"),
    ],
)
def test_a_scan_outside_the_format_is_a_400_and_nothing_is_kept(courier, shipment, event, field):
    answer = post(courier, event)

    assert answer.status_code == 400, answer.content
    assert field in str(answer.json()["error"]["fields"])
    assert not CourierPush.objects.exists()


def test_an_empty_or_missing_list_is_a_400(courier):
    assert courier.post(EVENTS, {"events": []}, format="json").status_code == 400
    assert courier.post(EVENTS, {}, format="json").status_code == 400


# -- the courier's key --------------------------------------------------------------------


def test_a_courier_key_is_made_for_a_configured_courier_the_service_does_not_book(zto):
    client, key = courier_key_create(name="zto-east", courier=zto)

    assert client.role == "courier" and key.startswith("gpk_")
    assert CourierKey.objects.get(client=client).courier == "zto"
    with pytest.raises(InvalidRequest):
        courier_key_create(name="sf-scans", courier="sf")  # SF pushes in its own format
    with pytest.raises(InvalidRequest):
        courier_key_create(name="dhl-scans", courier="dhl")


def test_the_command_prints_a_courier_key_that_can_post(zto, shipment, capsys):
    call_command("create_courier_key", "zto-west", "--courier", "zto")

    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert post(keyed(key), scan("picked_up", "2026-11-25T09:00:00+08:00")).status_code == 202
