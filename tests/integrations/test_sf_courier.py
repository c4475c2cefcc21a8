"""The SF Express adapter: signing, the opCode table, pushes, and the sandbox over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

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
from integrations.couriers.sf import SfExpressCourier, bill, codes, wire
from integrations.couriers.sf import courier as courier_module
from tests.integrations.clocks import TOO_FAR, skew_clock
from tests.integrations.helpers import BEIJING, today_in_beijing, unreachable_url

TOKEN = "push-token-0001"
ACCEPTED = json.dumps({"return_code": "0000", "return_msg": "成功"}).encode()


def courier(**overrides: str) -> SfExpressCourier:
    options = {"base_url": "http://127.0.0.1:9", "partner_id": "P", "checkword": "C"}
    return SfExpressCourier(**{**options, "push_token": TOKEN, **overrides})


def route(**overrides: str) -> dict[str, str]:
    fields = {
        "mailno": "SF1234567890123",
        "orderid": "shp_0001",
        "id": "1001",
        "acceptTime": "2026-11-26 10:00:00",
        "acceptAddress": "深圳市",
        "remark": "顺丰速运 已收取快件",
        "opCode": "50",
    }
    return {**fields, **overrides}


def push_body(*routes: dict[str, str]) -> bytes:
    return json.dumps({"Body": {"WaybillRoute": list(routes)}}, ensure_ascii=False).encode()


# -- signing ----------------------------------------------------------------------------


def test_msg_digest_matches_the_documented_example() -> None:
    msg_data = '{"language":"zh-CN","orderId":"QIAO-20200618-004"}'
    digest = wire.msg_digest(msg_data, "12312334453453", "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci")
    assert digest == "IIKJtuLVzoFTu4kHI8M8vA=="


def test_msg_digest_encodes_like_java_url_encoder() -> None:
    # URLEncoder keeps letters, digits and .-*_, writes a space as + and encodes the rest.
    encoded = "%7B%22a%22%3A%22b+c*%7E%E9%A1%BA%22%7D1k"
    expected = base64.b64encode(hashlib.md5(encoded.encode()).digest()).decode()  # noqa: S324
    assert wire.msg_digest('{"a":"b c*~顺"}', "1", "k") == expected


# -- the mapping table ------------------------------------------------------------------

DOCUMENTED = {
    ShipmentStatus.PICKED_UP: ("50", "54", "607"),
    ShipmentStatus.IN_TRANSIT: (
        "30",
        "31",
        "36",
        "3036",
        "10",
        "11",
        "105",
        "106",
        "302",
        "304",
        "123",
    ),
    ShipmentStatus.OUT_FOR_DELIVERY: ("44", "204"),
    ShipmentStatus.READY_FOR_PICKUP: ("125", "678"),
    ShipmentStatus.DELIVERY_FAILED: ("70", "33"),
    ShipmentStatus.ON_HOLD: ("77", "66", "15", "17", "18", "72"),
    ShipmentStatus.DELIVERED: ("80", "8000", "679", "128"),
    ShipmentStatus.RETURNING: ("99", "648", "631"),
}


@pytest.mark.parametrize(
    ("code", "status"), [(code, status) for status, codes in DOCUMENTED.items() for code in codes]
)
def test_each_documented_op_code_maps_to_its_status(code: str, status: ShipmentStatus) -> None:
    assert wire.status_for(code) == status


def test_the_table_holds_only_documented_codes() -> None:
    assert len(codes.STATUS_BY_OP_CODE) == sum(len(codes) for codes in DOCUMENTED.values())


def test_an_unknown_op_code_is_a_scan_on_the_way() -> None:
    assert wire.status_for("9999") == ShipmentStatus.IN_TRANSIT


@pytest.mark.parametrize(
    ("remark", "reason"),
    [
        ("客户拒收", FailureReason.REFUSED),
        ("收件地址不详", FailureReason.BAD_ADDRESS),
        ("收方客户不在", FailureReason.NOT_HOME),
        ("电话无人接听", FailureReason.UNREACHABLE),
        ("天气原因", FailureReason.OTHER),
    ],
)
def test_a_failed_delivery_carries_its_reason(remark: str, reason: FailureReason) -> None:
    [event] = courier().parse_push(
        {}, push_body(route(opCode="70", remark=remark)), {"token": TOKEN}
    )
    assert (event.status, event.reason) == (ShipmentStatus.DELIVERY_FAILED, reason)


@pytest.mark.parametrize(
    ("remark", "signer"),
    [
        ("已签收,感谢使用顺丰,期待再次为您服务", ""),
        ("快件已签收，签收人：张三", "张三"),
        ("签收人是：张三", "张三"),
        ("已签收，签收人: 李四，感谢使用顺丰，期待再次为您服务", "李四"),
        ("已签收，签收人凭取货码签收", ""),
    ],
)
def test_a_delivered_scan_names_its_signer(remark: str, signer: str) -> None:
    [event] = courier().parse_push(
        {}, push_body(route(opCode="80", remark=remark)), {"token": TOKEN}
    )
    assert (event.status, event.signer, event.proof_ref) == (
        ShipmentStatus.DELIVERED,
        signer,
        "",
    )


def test_only_a_delivered_scan_has_a_signer() -> None:
    [event] = courier().parse_push(
        {}, push_body(route(opCode="70", remark="签收人：张三 拒收")), {"token": TOKEN}
    )
    assert event.signer == ""


def test_yuan_become_fen_without_floats() -> None:
    assert [bill.fen_from_yuan(text) for text in ("23", "23.5", "0.07", "1234.56")] == [
        2300,
        2350,
        7,
        123456,
    ]
    with pytest.raises(ProviderError):
        bill.fen_from_yuan("1.234")


SF_BILL = "waybill_no,order_no,date,weight_kg,amount_yuan\nSF1,sh_1,2026-11-02,1.0,23.00\n"


@pytest.mark.parametrize(
    "damaged",
    [(SF_BILL + "SF2,sh").encode(), SF_BILL.encode().replace(b"sh_1", b"sh_\xff")],
    ids=["cut_short", "encoding"],
)
def test_a_damaged_freight_bill_is_refused_as_the_couriers_error(damaged) -> None:
    assert [line.amount for line in bill.parse_freight_bill(SF_BILL.encode())] == [2300]
    with pytest.raises(ProviderError):
        bill.parse_freight_bill(damaged)


# -- pushes -----------------------------------------------------------------------------


def test_an_accepted_push_gives_one_event_per_route() -> None:
    body = push_body(route(), route(opCode="30", acceptTime="2026-11-26 11:00:00"))
    first, second = courier().parse_push({}, body, {"token": TOKEN})
    assert first.courier == "sf"
    assert (first.waybill_no, first.code, first.status) == (
        "SF1234567890123",
        "50",
        ShipmentStatus.PICKED_UP,
    )
    assert first.occurred_at == datetime(2026, 11, 26, 10, tzinfo=BEIJING)
    assert first.reason == ""
    assert (first.location, first.description) == ("深圳市", "顺丰速运 已收取快件")
    assert second.status == ShipmentStatus.IN_TRANSIT
    assert first.event_id != second.event_id


def test_the_same_scan_has_the_same_event_id_in_every_push() -> None:
    once = courier().parse_push({}, push_body(route()), {"token": TOKEN})
    again = courier().parse_push({}, push_body(route(id="other")), {"token": TOKEN})
    assert once[0].event_id == again[0].event_id


@pytest.mark.parametrize("query", [{}, {"token": ""}, {"token": "forged"}])
def test_a_push_without_the_token_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(InvalidPush):
        courier().parse_push({}, push_body(route()), query)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"Body": {}}',
        push_body(),
        push_body(*[route(id=str(n)) for n in range(11)]),
        push_body(route(opCode="")),
        push_body(route(acceptTime="26/11/2026")),
        json.dumps({"Body": {"WaybillRoute": ["x"]}}).encode(),
    ],
)
def test_a_malformed_or_tampered_push_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidPush):
        courier().parse_push({}, body, {"token": TOKEN})


def test_the_acknowledgement_is_sfs_success_body() -> None:
    ack = courier().acknowledge(True)
    assert (ack.status, json.loads(ack.body)) == (
        200,
        {"return_code": "0000", "return_msg": "成功"},
    )
    assert courier().acknowledge(False).status != 200


# -- against the sandbox ----------------------------------------------------------------


def address(name: str) -> Address:
    return Address(name, "13800000000", "广东省", "深圳市", "南山区", "科技园路1号", "440305")


def booking_request(notify_url: str) -> BookingRequest:
    return BookingRequest(
        order_no=f"shp_{uuid.uuid4().hex[:20]}",
        sender=address("市场监管局"),
        recipient=address("张三"),
        items="营业执照正本",
        declared_value=10000,
        service_level="1",
        notify_url=notify_url,
    )


@pytest.fixture
def sandbox(live_service, settings) -> str:
    return settings.SF_EXPRESS["base_url"]


@pytest.fixture
def receiver(stub_server, sandbox, settings):
    """Our push endpoint, registered with the sandbox as the partner's push address."""
    server = stub_server(default=(200, ACCEPTED))
    url = f"{server.url}/couriers/sf/push?token={settings.SF_EXPRESS['push_token']}"
    partner = settings.SF_EXPRESS["partner_id"]
    answer = requests.post(f"{sandbox}/_control/partners/{partner}/push_url", json={"url": url})
    answer.raise_for_status()
    server.notify_url = url
    return server


def scan(sandbox: str, waybill_no: str, op_code: str, remark: str = "", **fields: str) -> None:
    answer = requests.post(
        f"{sandbox}/_control/waybills/{waybill_no}/scan",
        json={"opCode": op_code, "remark": remark, **fields},
        timeout=5,
    )
    answer.raise_for_status()


def received(receiver, adapter, pushes: int) -> list:
    """The events of the next ``pushes`` pushes, oldest first."""
    events = []
    for _ in range(pushes):
        _, body = receiver.next_request()
        token = receiver.notify_url.rsplit("token=", 1)[1]
        events += adapter.parse_push({}, body, {"token": token})
    return events


pytestmark_db = pytest.mark.django_db(transaction=True)


@pytestmark_db
def test_a_waybill_is_delivered_and_pushed(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(receiver.notify_url))
    assert booking.waybill_no.startswith("SF")
    for code in ("50", "30", "44", "80"):
        scan(sandbox, booking.waybill_no, code)
    events = sorted(received(receiver, adapter, 4), key=lambda event: event.occurred_at)
    assert [event.status for event in events] == [
        ShipmentStatus.PICKED_UP,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
    ]
    assert {event.waybill_no for event in events} == {booking.waybill_no}


@pytestmark_db
def test_a_delivered_scan_pushes_its_signer(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(receiver.notify_url))
    scan(sandbox, booking.waybill_no, "80", signer="张三")
    [event] = received(receiver, adapter, 1)
    assert (event.status, event.description) == (ShipmentStatus.DELIVERED, "已签收，签收人：张三")
    assert (event.signer, event.proof_ref) == ("张三", "")
    [tracked] = adapter.track(booking.waybill_no)
    assert (tracked.event_id, tracked.signer) == (event.event_id, "张三")


@pytestmark_db
def test_the_sandbox_takes_a_signer_only_on_a_delivered_scan(sandbox, receiver) -> None:
    booking = get_courier("sf").book(booking_request(receiver.notify_url))
    url = f"{sandbox}/_control/waybills/{booking.waybill_no}/scan"
    for body in ({"opCode": "44", "signer": "张三"}, {"opCode": "80", "signer": ""}):
        assert requests.post(url, json=body, timeout=5).status_code == 400


@pytestmark_db
def test_a_failed_delivery_then_return(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(receiver.notify_url))
    scan(sandbox, booking.waybill_no, "50")
    scan(sandbox, booking.waybill_no, "70", "客户拒收")
    scan(sandbox, booking.waybill_no, "99", "退回寄件人")
    events = sorted(received(receiver, adapter, 3), key=lambda event: event.occurred_at)
    assert [(event.status, event.reason) for event in events] == [
        (ShipmentStatus.PICKED_UP, ""),
        (ShipmentStatus.DELIVERY_FAILED, FailureReason.REFUSED),
        (ShipmentStatus.RETURNING, ""),
    ]


@pytestmark_db
def test_a_replay_pushes_duplicates_out_of_order(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(receiver.notify_url))
    for code in ("50", "30", "44"):
        scan(sandbox, booking.waybill_no, code)
    first = received(receiver, adapter, 3)
    answer = requests.post(
        f"{sandbox}/_control/waybills/{booking.waybill_no}/replay",
        json={"duplicate": True, "reverse": True},
        timeout=5,
    )
    answer.raise_for_status()
    replayed = received(receiver, adapter, 1)
    assert [event.code for event in replayed] == ["44", "44", "30", "30", "50", "50"]
    assert {event.event_id for event in replayed} == {event.event_id for event in first}


@pytestmark_db
def test_track_returns_the_full_history(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(receiver.notify_url))
    for code in ("50", "30", "44", "80"):
        scan(sandbox, booking.waybill_no, code)
    pushed = received(receiver, adapter, 4)
    history = adapter.track(booking.waybill_no)
    assert [event.code for event in history] == ["50", "30", "44", "80"]
    assert {event.event_id for event in history} == {event.event_id for event in pushed}


@pytestmark_db
def test_cancel_before_pickup_and_not_after(sandbox, receiver) -> None:
    adapter = get_courier("sf")
    waiting = adapter.book(booking_request(receiver.notify_url))
    adapter.cancel(waiting.order_no, waiting.waybill_no)
    picked = adapter.book(booking_request(receiver.notify_url))
    scan(sandbox, picked.waybill_no, "50")
    with pytest.raises(ProviderDeclined) as refused:
        adapter.cancel(picked.order_no, picked.waybill_no)
    assert refused.value.code == "8037"


@pytestmark_db
def test_booking_the_same_order_twice_returns_the_same_waybill(receiver) -> None:
    """A retry after an unknown outcome: SF answers 8016 and the booking is looked up."""
    adapter = get_courier("sf")
    request = booking_request(receiver.notify_url)
    first = adapter.book(request)
    again = adapter.book(request)
    assert again == first
    assert (again.order_no, again.label) == (request.order_no, "")
    assert adapter.find_booking(request.order_no) == first


@pytestmark_db
def test_an_order_the_sandbox_is_told_to_refuse_is_declined_once(sandbox, settings) -> None:
    adapter = get_courier("sf")
    partner = settings.SF_EXPRESS["partner_id"]
    told = requests.post(f"{sandbox}/_control/partners/{partner}/refuse_next_order", timeout=5)
    request = booking_request("http://127.0.0.1:9/push")

    with pytest.raises(ProviderDeclined) as refused:
        adapter.book(request)
    booking = adapter.book(request)

    assert told.status_code == 200, told.text
    assert refused.value.code == "8040"
    assert booking.waybill_no.startswith("SF")


@pytestmark_db
def test_the_search_of_an_unknown_order_is_declined(sandbox) -> None:
    with pytest.raises(ProviderDeclined) as refused:
        get_courier("sf").find_booking(f"shp_{uuid.uuid4().hex[:20]}")
    assert refused.value.code == "8024"


@pytestmark_db
def test_the_freight_bill_lists_todays_bookings_in_fen(receiver) -> None:
    adapter = get_courier("sf")
    bookings = [adapter.book(booking_request(receiver.notify_url)) for _ in range(2)]
    lines = adapter.parse_freight_bill(adapter.fetch_freight_bill(today_in_beijing()))
    mine = {line.waybill_no: line for line in lines}
    for booking in bookings:
        line = mine[booking.waybill_no]
        assert (line.order_no, line.amount, line.date) == (
            booking.order_no,
            2300,
            today_in_beijing(),
        )


def test_the_dev_partner_pushes_to_the_service_by_default(settings) -> None:
    config = settings.SF_EXPRESS
    template = settings.SANDBOX_SF_EXPRESS["push_urls"][config["partner_id"]]
    url = urlsplit(template.format(service="http://127.0.0.1:8000"))
    assert url.path == "/notify/couriers/sf/push"
    # The token survives the query string whatever base64 characters it holds.
    assert parse_qs(url.query) == {"token": [config["push_token"]]}


@pytest.fixture
def new_partner(settings) -> str:
    """A partner of its own (so none of its push URLs is registered yet), used by get_courier."""
    partner = f"SFTEST{uuid.uuid4().hex[:10]}"
    sandbox_config = settings.SANDBOX_SF_EXPRESS
    settings.SANDBOX_SF_EXPRESS = {
        **sandbox_config,
        "partners": {**sandbox_config["partners"], partner: settings.SF_EXPRESS["checkword"]},
    }
    settings.SF_EXPRESS = {**settings.SF_EXPRESS, "partner_id": partner}
    return partner


def default_push_url(settings, partner: str, template: str) -> None:
    config = settings.SANDBOX_SF_EXPRESS
    settings.SANDBOX_SF_EXPRESS = {**config, "push_urls": {partner: template}}


@pytestmark_db
def test_without_a_registered_url_the_sandbox_pushes_to_the_default(
    sandbox, stub_server, settings, new_partner
) -> None:
    token = settings.SF_EXPRESS["push_token"]
    default_push_url(settings, new_partner, "{service}/couriers/sf/push?token=" + token)
    adapter = get_courier("sf")
    booking = adapter.book(booking_request(""))
    target = stub_server(default=(200, ACCEPTED))
    settings.SERVICE_BASE_URL = target.url  # "{service}" is read when the scan is pushed
    scan(sandbox, booking.waybill_no, "50")
    _, body = target.next_request()
    [event] = adapter.parse_push({}, body, {"token": token})
    assert (event.waybill_no, event.code) == (booking.waybill_no, "50")


@pytestmark_db
def test_a_registered_url_wins_over_the_default(
    sandbox, stub_server, settings, new_partner
) -> None:
    default = stub_server(default=(200, ACCEPTED))
    default_push_url(settings, new_partner, default.url + "/couriers/sf/push")
    registered = stub_server(default=(200, ACCEPTED))
    answer = requests.post(
        f"{sandbox}/_control/partners/{new_partner}/push_url",
        json={"url": registered.url + "/couriers/sf/push"},
        timeout=5,
    )
    answer.raise_for_status()
    booking = get_courier("sf").book(booking_request(""))
    scan(sandbox, booking.waybill_no, "50")
    registered.next_request()
    assert default.received.empty()


@pytestmark_db
def test_a_wrong_checkword_is_refused(sandbox, settings) -> None:
    settings.SF_EXPRESS = {**settings.SF_EXPRESS, "checkword": "wrong"}
    with pytest.raises(ProviderError) as refused:
        get_courier("sf").track("SF0000000000000")
    assert "A1006" in str(refused.value)


@pytestmark_db
def test_an_expired_timestamp_is_retryable_and_a_fresh_one_books(sandbox, monkeypatch) -> None:
    adapter, request = get_courier("sf"), booking_request("http://127.0.0.1:9/push")
    skew_clock(monkeypatch, courier_module, -TOO_FAR)

    with pytest.raises(ProviderUnavailable, match="clock") as refused:
        adapter.book(request)

    assert "A1002" in str(refused.value)
    monkeypatch.undo()
    assert adapter.book(request).waybill_no.startswith("SF")


def test_an_unreachable_base_url_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable):
        courier(base_url=unreachable_url()).track("SF0000000000000")
