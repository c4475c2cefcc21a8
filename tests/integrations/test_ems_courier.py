"""The EMS courier: its sealing, answers and push parsing, then the adapter against its
sandbox over HTTP."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

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
from integrations.couriers.ems import EmsCourier, codes, sealing, wire
from integrations.crypto import sm4
from integrations.errors import ConfigurationError
from sandboxes.ems import views as sandbox
from tests.integrations import ems_vectors
from tests.integrations.helpers import BEIJING, today_in_beijing, unreachable_url

SECRET = base64.b64encode(b"0123456789abcdef").decode()  # a sign key: 16 bytes in Base64
FORGED = base64.b64encode(b"fedcba9876543210").decode()
ACK = (200, b'{"code": "00000", "codeMessage": "", "senderNo": "1"}')
TRACE = {
    "waybillNo": "1100000000001",
    "orderNo": "shp_1",
    "opCode": "705",
    "opName": "未妥投",
    "opTime": "2025-06-01 14:30:00",
    "opOrgCode": "100001",
    "opOrgName": "北京朝阳揽投部",
    "opOrgProvName": "北京市",
    "opOrgCity": "北京市",
    "opDesc": "未妥投：收件人拒收",
}


def courier(base_url: str = "http://ems.invalid", secret: str = SECRET) -> EmsCourier:
    return EmsCourier(base_url=base_url, sender_no="1", authorization="a", secret=secret)


def sealed(text: str, secret: str = SECRET) -> str:
    return sealing.seal(text, sealing.sm4_key(secret))


def push_body(trace: object, secret: str = SECRET, **changes: str) -> bytes:
    """A track push as EMS sends it: JSON, the trace sealed in logitcsInterface."""
    trace_text = json.dumps(trace, ensure_ascii=False, separators=(",", ":"))
    push = {**ems_vectors.PUSH, "logitcsInterface": sealed(trace_text, secret), **changes}
    return json.dumps(push, ensure_ascii=False).encode()


def answer_of(body: dict) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 200, json.dumps(body).encode()
    return response


# -- sealing, answers, the codes and pushes ---------------------------------------------


def test_a_request_seals_its_message_followed_by_the_sign_key():
    now = datetime(2025, 6, 1, 6, 30, tzinfo=UTC)
    form = wire.request_form(
        "040001", {"waybillNo": "1100000000001"}, sender_no="1", authorization="a",
        sign_key=SECRET, now=now,
    )  # fmt: skip

    opened = sealing.unseal(form.pop("logitcsInterface"), sealing.sm4_key(SECRET))
    assert opened == '{"waybillNo":"1100000000001"}' + SECRET
    assert form == {
        "apiCode": "040001",
        "senderNo": "1",
        "authorization": "a",
        "msgType": "0",
        "timeStamp": "2025-06-01 14:30:00",
        "version": "V1.0.0",
    }


def test_sm4_ecb_gives_the_standards_first_example_then_a_block_of_padding():
    """GB/T 32907-2016, appendix A, example 1: key and plaintext 0123456789abcdeffedcba98..."""
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    ciphertext = sm4.ecb_encrypt(block, block)
    assert ciphertext[:16].hex() == "681edf34d206965e86b3e94f536e4246"
    assert len(ciphertext) == 32
    assert sm4.ecb_decrypt(block, ciphertext) == block


def test_sealing_is_sm4_ecb_of_the_utf8_text_with_pkcs7_behind_the_prefix():
    key = sealing.sm4_key(SECRET)
    seal = sealing.seal("邮件", key)  # 6 bytes of UTF-8: one block, 10 bytes of padding
    assert seal.startswith("|$4|")
    assert base64.b64decode(seal[4:]) == sm4.ecb_encrypt(key, "邮件".encode())
    assert len(base64.b64decode(seal[4:])) == 16


def test_the_published_push_opens_and_seals_again_to_the_same_bytes():
    key = sealing.sm4_key(ems_vectors.PUSH_SIGN_KEY)
    sealed_push = ems_vectors.PUSH["logitcsInterface"]
    assert sealing.unseal(sealed_push, key) == ems_vectors.PUSH_TRACE_TEXT
    assert sealing.seal(ems_vectors.PUSH_TRACE_TEXT, key) == sealed_push


def test_the_published_push_is_read_as_a_collection():
    published = courier(secret=ems_vectors.PUSH_SIGN_KEY)
    [event] = published.parse_push({}, json.dumps(ems_vectors.PUSH).encode(), {})
    assert (event.waybill_no, event.code, event.status) == (
        "1295780512499",
        "203",
        ShipmentStatus.PICKED_UP,
    )
    assert event.occurred_at == datetime(2025, 8, 12, 16, 56, 50, tzinfo=BEIJING)
    assert event.location == "义乌快包经营部"
    assert event.raw == json.loads(ems_vectors.PUSH_TRACE_TEXT)


def test_the_published_track_answer_is_read_oldest_first():
    newest_first = json.dumps({"responseItems": ems_vectors.TRACK_ITEMS[::-1]}, ensure_ascii=False)
    answer = {**ems_vectors.TRACK_ANSWER, "retBody": newest_first}
    events = wire.tracked_traces(wire.read_answer("040001", answer_of(answer)))
    assert [event.code for event in events] == ["203", "303", "305", "954", "989"]
    assert [event.status for event in events] == [ShipmentStatus.PICKED_UP] + [
        ShipmentStatus.IN_TRANSIT
    ] * 4
    assert {event.waybill_no for event in events} == {"LZ290346175CN"}


@pytest.mark.parametrize(
    "ret_body",
    [{"waybillNo": "1"}, "not json", "[]", None],
    ids=["object-not-text", "not-json", "not-an-object", "missing"],
)
def test_a_successful_answer_needs_its_retbody_as_json_text_of_an_object(ret_body):
    with pytest.raises(ProviderError):
        wire.read_answer("040001", answer_of({**ems_vectors.TRACK_ANSWER, "retBody": ret_body}))


@pytest.mark.parametrize(
    "secret",
    [base64.b64encode(bytes(32)).decode(), "not base64!", base64.b64encode(bytes(8)).decode()],
    ids=["32-bytes", "not-base64", "8-bytes"],
)
def test_a_sign_key_that_is_not_16_bytes_of_base64_builds_no_courier(secret):
    with pytest.raises(ConfigurationError):
        courier(secret=secret)


def test_the_development_sign_key_is_an_sm4_key():
    assert len(base64.b64decode(settings.EMS["secret"], validate=True)) == 16
    senders = settings.SANDBOX_EMS["senders"]
    assert senders[settings.EMS["sender_no"]]["secret"] == settings.EMS["secret"]


def test_every_code_the_sandbox_scans_has_a_status():
    assert set(sandbox._OP_NAMES) == set(codes.STATUSES)
    documented = {"702": "out_for_delivery", "704": "delivered", "705": "delivery_failed"}
    documented |= dict.fromkeys(("954", "389", "306", "912"), "in_transit")
    assert {code: codes.STATUSES[code] for code in documented} == documented


def test_a_sealed_push_is_parsed_into_its_event():
    [event] = courier().parse_push({}, push_body(TRACE), {})
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
    [event] = courier().parse_push({}, push_body(trace), {})
    assert event.status is ShipmentStatus.DELIVERED
    assert (event.signer, event.proof_ref) == (signer, "")


def test_only_a_delivered_trace_has_a_signer():
    trace = {**TRACE, "opDesc": "未妥投：签收人：张三 拒收"}
    [event] = courier().parse_push({}, push_body(trace), {})
    assert event.signer == ""


def test_a_push_sealed_with_another_key_is_refused():
    with pytest.raises(InvalidPush, match="does not open"):
        courier().parse_push({}, push_body(TRACE, secret=FORGED), {})


def tampered(sealed_text: str, block: int) -> str:
    """The sealed text with one bit of the ciphertext's ``block``-th block flipped."""
    ciphertext = bytearray(base64.b64decode(sealed_text.removeprefix(sealing.PREFIX)))
    ciphertext[block * 16] ^= 1
    return sealing.PREFIX + base64.b64encode(bytes(ciphertext)).decode()


@pytest.mark.parametrize("block", [0, 3, -1], ids=["first", "middle", "last"])
def test_a_tampered_push_is_refused(block):
    push = json.loads(push_body(TRACE))
    push["logitcsInterface"] = tampered(push["logitcsInterface"], block)
    with pytest.raises(InvalidPush):
        courier().parse_push({}, json.dumps(push).encode(), {})


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"not json",
        b"[]",
        json.dumps({"method": "040002"}).encode(),
        push_body(TRACE, logitcsInterface=json.dumps(TRACE)),  # in clear
        push_body(TRACE, logitcsInterface="|$4|not base64!"),
        push_body(TRACE, logitcsInterface=sealed(json.dumps(TRACE)).removeprefix("|$4|")),
        push_body(TRACE, logitcsInterface=sealed("not json")),
        push_body([TRACE]),
        push_body({**TRACE, "opCode": "999"}),
        push_body({**TRACE, "opTime": "2025-06-01T14:30:00"}),
        push_body({key: value for key, value in TRACE.items() if key != "opTime"}),
    ],
)
def test_a_malformed_push_is_refused(body):
    with pytest.raises(InvalidPush):
        courier().parse_push({}, body, {})


def test_acknowledgements_are_the_platforms_bodies():
    assert (courier().acknowledge(True).status, courier().acknowledge(True).body) == ACK
    refused = courier().acknowledge(False)
    assert (refused.status, json.loads(refused.body)["code"]) == (400, "S00001")


def test_a_freight_bill_with_other_columns_is_refused():
    with pytest.raises(ProviderError):
        courier().parse_freight_bill(b"waybill,amount\n1,2.00\n")


EMS_BILL = (
    "waybillNo,logisticsOrderNo,billDate,freight\n"
    "1100000000001,sh_1,2026-11-02,12.00\n"
    "1100000000002,sh_2,2026-11-02,8.50\n"
)


def test_a_freight_bill_is_read_line_by_line_in_fen():
    lines = courier().parse_freight_bill(EMS_BILL.encode())

    assert [(line.waybill_no, line.order_no, line.amount) for line in lines] == [
        ("1100000000001", "sh_1", 1200),
        ("1100000000002", "sh_2", 850),
    ]


@pytest.mark.parametrize(
    "damaged",
    [
        (EMS_BILL + "11000000").encode(),  # cut short within a line's first field
        EMS_BILL.replace("8.50", "8.5x").encode(),
        EMS_BILL.replace("2026-11-02,8", "2026-11-31,8").encode(),
        EMS_BILL.encode().replace(b"sh_2", b"sh_\xff"),  # not UTF-8
    ],
    ids=["cut_short", "amount", "date", "encoding"],
)
def test_a_damaged_freight_bill_is_refused_as_the_couriers_error(damaged):
    with pytest.raises(ProviderError):
        courier().parse_freight_bill(damaged)


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
def test_a_message_sealed_with_another_key_is_declined_by_the_platform(live_service):
    configured = settings.EMS
    adapter = EmsCourier(**{**configured, "secret": FORGED})
    with pytest.raises(ProviderDeclined) as refused:
        adapter.track("1100000000001")
    assert refused.value.code == "B00002"
