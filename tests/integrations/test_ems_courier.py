"""The EMS courier: its digest and push parsing, then the adapter against its sandbox."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from urllib.parse import urlencode

import pytest
import requests
from django.conf import settings

from core.outside import get_courier
from integrations.couriers.base import (
    Address,
    BookingRequest,
    FailureReason,
    InvalidPush,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    ShipmentStatus,
)
from integrations.couriers.ems import EmsCourier, codes, wire
from sandboxes.ems import views as sandbox
from tests.integrations.helpers import BEIJING, today_in_beijing, unreachable_url

SECRET = "s3cr3t"
ACK = (200, b'{"success":"true","failmailnums":[],"remark":""}')
TRACE = {
    "traceNo": "1100000000001",
    "opCode": "705",
    "opName": "未妥投",
    "opTime": "2025-06-01 14:30:00",
    "opOrgCode": "100001",
    "opOrgName": "北京朝阳揽投部",
    "opDesc": "未妥投：收件人拒收",
}


def courier(base_url: str = "http://ems.invalid") -> EmsCourier:
    return EmsCourier(base_url=base_url, sender_no="1", authorization="a", secret=SECRET)


def push_body(traces: list[dict], secret: str = SECRET, **changes: str) -> bytes:
    content = json.dumps({"traces": traces}, ensure_ascii=False)
    form = {"logistics_interface": content, "data_digest": wire.digest(content, secret)}
    return urlencode({**form, "msg_type": "TRACEPUSH", **changes}).encode()


# -- the digest, the codes and pushes ---------------------------------------------------


def test_digest_is_base64_of_md5_of_content_and_secret():
    assert wire.digest('{"traces":[]}', "s3cr3t") == "mCBx4LWK3v9FHoGxm2k+hA=="
    assert wire.digest('{"traceNo":"1100000000001"}', "密钥") == "ihe5CbLlerEivoR2epUNiw=="


def test_every_code_the_sandbox_scans_has_a_status():
    assert set(sandbox._OP_NAMES) == set(codes.STATUSES)
    documented = {"702": "out_for_delivery", "704": "delivered", "705": "delivery_failed"}
    documented |= dict.fromkeys(("954", "389", "306", "912"), "in_transit")
    assert {code: codes.STATUSES[code] for code in documented} == documented


def test_a_signed_push_is_parsed_into_events():
    [event] = courier().parse_push({}, push_body([TRACE]), {})
    assert event.courier == "ems"
    assert event.waybill_no == "1100000000001"
    assert event.status is ShipmentStatus.DELIVERY_FAILED
    assert event.reason is FailureReason.REFUSED
    assert event.occurred_at == datetime(2025, 6, 1, 14, 30, tzinfo=BEIJING)
    assert event.location == "北京朝阳揽投部"
    assert event.event_id == wire.event_id(TRACE)
    assert event.raw == TRACE


@pytest.mark.parametrize(
    ("description", "signer"),
    [
        ("已妥投，签收人：张三", "张三"),
        ("他人收，签收人：门卫", "门卫"),
        ("已妥投，签收人是:李四。", "李四"),
        ("已妥投，本人签收", ""),
    ],
)
def test_a_delivered_trace_names_its_signer(description, signer):
    trace = {**TRACE, "opCode": "704", "opName": "妥投", "opDesc": description}
    [event] = courier().parse_push({}, push_body([trace]), {})
    assert event.status is ShipmentStatus.DELIVERED
    assert (event.signer, event.proof_ref) == (signer, "")


def test_only_a_delivered_trace_has_a_signer():
    trace = {**TRACE, "opDesc": "未妥投：签收人：张三 拒收"}
    [event] = courier().parse_push({}, push_body([trace]), {})
    assert event.signer == ""


def test_a_push_signed_with_another_secret_is_refused():
    with pytest.raises(InvalidPush):
        courier().parse_push({}, push_body([TRACE], secret="forged"), {})


def test_a_tampered_push_is_refused():
    body = push_body([TRACE]).replace(b"705", b"704")
    with pytest.raises(InvalidPush):
        courier().parse_push({}, body, {})


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"not a form",
        urlencode({"logistics_interface": "{}"}).encode(),
        push_body([{**TRACE, "opCode": "999"}]),
        push_body([{**TRACE, "opTime": "2025-06-01T14:30:00"}]),
        push_body([{key: value for key, value in TRACE.items() if key != "opTime"}]),
    ],
)
def test_a_malformed_push_is_refused(body):
    with pytest.raises(InvalidPush):
        courier().parse_push({}, body, {})


def test_acknowledgements_are_the_platforms_bodies():
    assert courier().acknowledge(True).body == ACK[1]
    assert courier().acknowledge(False).status == 400


def test_a_freight_bill_with_other_columns_is_refused():
    with pytest.raises(ProviderError):
        courier().parse_freight_bill(b"waybill,amount\n1,2.00\n")


def test_an_unreachable_platform_is_unavailable():
    with pytest.raises(ProviderUnavailable):
        courier(unreachable_url()).track("1100000000001")


# -- the adapter against the sandbox ----------------------------------------------------


def booking_request(notify_url: str, declared_value: int = 12345) -> BookingRequest:
    def address(name: str) -> Address:
        return Address(name, "13800000000", "北京市", "北京市", "朝阳区", "建国路1号", "110105")

    return BookingRequest(
        order_no=f"shp_{uuid.uuid4().hex[:16]}",
        sender=address("寄件人"),
        recipient=address("收件人"),
        items="证照",
        declared_value=declared_value,
        service_level="1",
        notify_url=notify_url,
    )


def scan(waybill_no: str, op_code: str, **fields: str) -> None:
    url = f"{settings.EMS['base_url']}/_control/waybills/{waybill_no}/scan"
    requests.post(url, json={"opCode": op_code, **fields}, timeout=5).raise_for_status()


def received(adapter: EmsCourier, receiver, count: int) -> list:
    return [adapter.parse_push(*receiver.next_request(), {})[0] for _ in range(count)]


@pytest.fixture
def ems_receiver(stub_server):
    return stub_server(default=ACK)


@pytest.mark.django_db(transaction=True)
def test_a_booking_is_scanned_through_to_delivery_and_pushed(live_service, ems_receiver):
    adapter = get_courier("ems")
    booking = adapter.book(booking_request(ems_receiver.url))
    assert booking.waybill_no
    codes = ("203", "954", "702", "704")
    for code in codes:
        scan(booking.waybill_no, code)
        [event] = received(adapter, ems_receiver, 1)
        assert (event.waybill_no, event.code) == (booking.waybill_no, code)
    history = adapter.track(booking.waybill_no)
    assert [event.code for event in history] == list(codes)
    assert [event.status for event in history] == [
        ShipmentStatus.PICKED_UP,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_delivered_scan_pushes_its_signer(live_service, ems_receiver):
    adapter = get_courier("ems")
    booking = adapter.book(booking_request(ems_receiver.url))
    scan(booking.waybill_no, "704", signer="门卫")
    [event] = received(adapter, ems_receiver, 1)
    assert (event.status, event.description) == (ShipmentStatus.DELIVERED, "已妥投，签收人：门卫")
    assert (event.signer, event.proof_ref) == ("门卫", "")
    [tracked] = adapter.track(booking.waybill_no)
    assert (tracked.event_id, tracked.signer) == (event.event_id, "门卫")


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_takes_a_signer_only_on_a_delivered_scan(live_service, ems_receiver):
    booking = get_courier("ems").book(booking_request(ems_receiver.url))
    url = f"{settings.EMS['base_url']}/_control/waybills/{booking.waybill_no}/scan"
    for body in ({"opCode": "702", "signer": "张三"}, {"opCode": "704", "signer": ""}):
        assert requests.post(url, json=body, timeout=5).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_refused_delivery_goes_back_to_the_sender(live_service, ems_receiver):
    adapter = get_courier("ems")
    booking = adapter.book(booking_request(ems_receiver.url))
    for code in ("203", "702"):
        scan(booking.waybill_no, code)
    scan(booking.waybill_no, "705", opDesc="未妥投：收件人拒收")
    for code in ("711", "712"):
        scan(booking.waybill_no, code)
    events = {event.code: event for event in received(adapter, ems_receiver, 5)}
    assert events["705"].status is ShipmentStatus.DELIVERY_FAILED
    assert events["705"].reason is FailureReason.REFUSED
    assert events["711"].status is ShipmentStatus.RETURNING
    assert events["712"].status is ShipmentStatus.RETURNED


@pytest.mark.django_db(transaction=True)
def test_pushes_come_again_duplicated_and_out_of_order(live_service, ems_receiver):
    adapter = get_courier("ems")
    booking = adapter.book(booking_request(ems_receiver.url))
    for code in ("203", "954"):
        scan(booking.waybill_no, code)
    first = {event.event_id for event in received(adapter, ems_receiver, 2)}
    url = f"{settings.EMS['base_url']}/_control/waybills/{booking.waybill_no}/push"
    answer = requests.post(url, json={"copies": 2, "reverse": True}, timeout=5).json()
    assert [attempt["acknowledged"] for attempt in answer["deliveries"]] == [True] * 4
    again = received(adapter, ems_receiver, 4)
    assert [event.code for event in again] == ["954", "954", "203", "203"]
    assert {event.event_id for event in again} == first


@pytest.mark.django_db(transaction=True)
def test_a_booking_is_cancelled_only_before_pickup(live_service, ems_receiver):
    adapter = get_courier("ems")
    waiting = adapter.book(booking_request(ems_receiver.url))
    adapter.cancel(waiting.order_no, waiting.waybill_no)
    collected = adapter.book(booking_request(ems_receiver.url))
    scan(collected.waybill_no, "203")
    with pytest.raises(ProviderDeclined) as refused:
        adapter.cancel(collected.order_no, collected.waybill_no)
    assert refused.value.code == "B00011"


@pytest.mark.django_db(transaction=True)
def test_booking_again_with_the_same_order_gives_the_same_waybill(live_service, ems_receiver):
    adapter = get_courier("ems")
    request = booking_request(ems_receiver.url)
    assert adapter.book(request) == adapter.book(request)


@pytest.mark.django_db(transaction=True)
def test_the_freight_bill_lists_todays_bookings_in_fen(live_service, ems_receiver):
    adapter = get_courier("ems")
    kept = adapter.book(booking_request(ems_receiver.url, declared_value=12345))
    dropped = adapter.book(booking_request(ems_receiver.url))
    adapter.cancel(dropped.order_no, dropped.waybill_no)
    lines = adapter.parse_freight_bill(adapter.fetch_freight_bill(today_in_beijing()))
    line = next(line for line in lines if line.waybill_no == kept.waybill_no)
    assert (line.order_no, line.amount, line.date) == (kept.order_no, 1923, today_in_beijing())
    assert dropped.waybill_no not in {line.waybill_no for line in lines}


@pytest.mark.django_db(transaction=True)
def test_a_wrong_secret_is_declined_by_the_platform(live_service):
    adapter = get_courier("ems")
    adapter.secret = "not the secret"
    with pytest.raises(ProviderDeclined) as refused:
        adapter.track("1100000000001")
    assert refused.value.code == "B00002"
