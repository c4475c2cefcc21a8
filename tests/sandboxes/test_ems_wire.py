"""The EMS sandbox's own wire: SM4 sealing as the platform does it (checked against a
published push), the key behind a request's message, pushes, and all through the open API."""

from __future__ import annotations

import base64
import json

import pytest

from sandboxes import state
from sandboxes.ems import wire
from tests.integrations import ems_vectors

API = "/sandbox/ems/api/open"
KEY = base64.b64encode(b"0123456789abcdef").decode()  # an SM4 key is 16 bytes


def test_sm4_gives_the_example_of_its_standard():
    """GB/T 32907-2016, appendix A, example 1: key and plaintext 0123456789abcdeffedcba98..."""
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = wire.sm4(base64.b64encode(block).decode()).encryptor()
    cipher_text = encryptor.update(block) + encryptor.finalize()
    assert cipher_text.hex() == "681edf34d206965e86b3e94f536e4246"


def test_a_sealed_text_is_sm4_of_the_text_behind_the_prefix():
    sealed = wire.seal('{"waybillNo":"1100000000001"}', KEY)

    assert sealed.startswith("|$4|")
    decryptor = wire.sm4(KEY).decryptor()
    opened = decryptor.update(base64.b64decode(sealed[4:])) + decryptor.finalize()
    padding = opened[-1]
    assert opened[-padding:] == bytes([padding]) * padding  # PKCS#7
    assert opened[:-padding].decode() == '{"waybillNo":"1100000000001"}'
    assert wire.unseal(sealed, KEY) == '{"waybillNo":"1100000000001"}'


def test_the_published_push_opens_and_seals_again_to_the_same_bytes():
    sealed = ems_vectors.PUSH["logitcsInterface"]
    assert wire.unseal(sealed, ems_vectors.PUSH_SIGN_KEY) == ems_vectors.PUSH_TRACE_TEXT
    assert wire.seal(ems_vectors.PUSH_TRACE_TEXT, ems_vectors.PUSH_SIGN_KEY) == sealed


def test_a_request_opens_to_its_message_only_with_the_key_behind_it():
    assert wire.open_request(wire.seal("{}" + KEY, KEY), KEY) == "{}"
    with pytest.raises(wire.Unsealed, match="does not end with"):
        wire.open_request(wire.seal("{}", KEY), KEY)


@pytest.mark.parametrize(
    "sealed",
    [
        wire.seal("{}", base64.b64encode(b"fedcba9876543210").decode()),  # another key
        wire.seal("{}", KEY)[:-4] + "AAA=",  # tampered
        "|$4|not base64!",
        "|$4|" + base64.b64encode(b"short").decode(),
        "{}",  # in clear
        wire.seal("{}", KEY).removeprefix("|$4|"),  # without the prefix
    ],
)
def test_a_message_that_does_not_open_with_the_key_is_refused(sealed):
    with pytest.raises(wire.Unsealed):
        wire.unseal(sealed, KEY)


def test_a_key_that_is_not_16_bytes_seals_nothing():
    with pytest.raises(wire.Unsealed):
        wire.seal("{}", base64.b64encode(b"32 bytes are an SM4 key? no.....").decode())


def test_a_track_push_is_json_with_the_trace_sealed_alone():
    trace = {"waybillNo": "1100000000001", "opCode": "203"}

    push = json.loads(wire.trace_push(trace, "1100000000001", KEY))

    assert json.loads(wire.unseal(push.pop("logitcsInterface"), KEY)) == trace
    assert (push["method"], push["msgType"], push["senderNo"]) == ("040002", "0", "1100000000001")
    assert set(push) == {"method", "msgType", "senderNo", "serialNo", "timeStamp", "version"}


@pytest.mark.parametrize(
    ("answer", "acknowledged"),
    [('{"serialNo":"1","code":"00000","codeMessage":""}', True),
     ('{"code":"S00001","codeMessage":"busy"}', False),
     ('{"success":"true"}', False),
     ("not json", False)],
)  # fmt: skip
def test_a_push_is_acknowledged_by_code_00000(answer, acknowledged):
    assert wire.push_acknowledged(answer) is acknowledged


# -- through the open API -----------------------------------------------------------------


@pytest.fixture
def sender(settings) -> str:
    senders = {"S1": {"authorization": "auth", "secret": KEY}}
    settings.SANDBOX_EMS = {**settings.SANDBOX_EMS, "senders": senders}
    state.reset_all()
    return "S1"


def call(client, api_code: str, message: dict, *, key: str = KEY) -> dict:
    form = {
        "apiCode": api_code,
        "senderNo": "S1",
        "authorization": "auth",
        "timeStamp": "2026-03-01 10:00:00",
        "logitcsInterface": wire.seal(json.dumps(message, ensure_ascii=False) + key, key),
    }
    return client.post(API, form).json()


ORDER = {
    "logisticsOrderNo": "shp_1",
    "bizProductNo": "1",
    "sender": {"name": "寄件人"},
    "receiver": {"name": "收件人"},
    "pushUrl": "http://127.0.0.1:9/push",
}


def test_a_sealed_booking_is_answered_and_tracked(client, sender):
    booked = call(client, wire.ORDER_CREATE, ORDER)
    waybill_no = json.loads(booked["retBody"])["waybillNo"]
    tracked = call(client, wire.TRACK_QUERY, {"waybillNo": waybill_no})

    assert booked["retCode"] == tracked["retCode"] == "00000"
    assert booked["success"] is tracked["success"] is True
    assert json.loads(tracked["retBody"]) == {"responseItems": []}


def test_a_message_sealed_with_another_key_is_refused(client, sender):
    other = base64.b64encode(b"fedcba9876543210").decode()
    assert call(client, wire.ORDER_CREATE, ORDER, key=other)["retCode"] == "B00002"


@pytest.mark.parametrize(
    "logitcs_interface",
    [json.dumps(ORDER), wire.seal(json.dumps(ORDER), KEY), wire.seal(json.dumps(ORDER) + "x", KEY)],
    ids=["in-clear", "without-the-key", "with-another-ending"],
)
def test_a_message_not_sealed_with_the_key_behind_it_is_refused(client, sender, logitcs_interface):
    form = {"apiCode": wire.ORDER_CREATE, "senderNo": "S1", "authorization": "auth"}

    refused = client.post(API, {**form, "logitcsInterface": logitcs_interface}).json()

    assert (refused["retCode"], refused["success"]) == ("B00002", False)
