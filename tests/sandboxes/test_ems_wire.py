"""The EMS sandbox's own wire: SM4 sealing as the platform specifies it, the digest, and
both through the open API."""

from __future__ import annotations

import base64
import json

import pytest

from sandboxes import state
from sandboxes.ems import wire

API = "/sandbox/ems/api/open"
KEY = base64.b64encode(b"0123456789abcdef").decode()  # an SM4 key is 16 bytes


def test_sm4_gives_the_example_of_its_standard():
    """GB/T 32907-2016, appendix A, example 1: key and plaintext 0123456789abcdeffedcba98..."""
    block = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = wire.sm4(base64.b64encode(block).decode()).encryptor()
    cipher_text = encryptor.update(block) + encryptor.finalize()
    assert cipher_text.hex() == "681edf34d206965e86b3e94f536e4246"


def test_a_sealed_message_is_sm4_of_the_message_and_the_key_behind_the_prefix():
    sealed = wire.seal('{"waybillNo":"1100000000001"}', KEY)

    assert sealed.startswith("|$4|")
    decryptor = wire.sm4(KEY).decryptor()
    opened = decryptor.update(base64.b64decode(sealed[4:])) + decryptor.finalize()
    padding = opened[-1]
    assert opened[-padding:] == bytes([padding]) * padding  # PKCS#7
    assert opened[:-padding].decode() == '{"waybillNo":"1100000000001"}' + KEY
    assert wire.unseal(sealed, KEY) == '{"waybillNo":"1100000000001"}'


@pytest.mark.parametrize(
    "sealed",
    [
        wire.seal("{}", base64.b64encode(b"fedcba9876543210").decode()),  # another key
        wire.seal("{}", KEY)[:-4] + "AAA=",  # tampered
        "|$4|not base64!",
        "|$4|" + base64.b64encode(b"short").decode(),
    ],
)
def test_a_message_that_does_not_open_with_the_key_is_refused(sealed):
    with pytest.raises(wire.Unsealed):
        wire.unseal(sealed, KEY)


def test_a_key_that_is_not_16_bytes_seals_nothing():
    with pytest.raises(wire.Unsealed):
        wire.seal("{}", base64.b64encode(b"32 bytes are an SM4 key? no.....").decode())


def test_the_digest_is_base64_of_md5_of_message_and_key():
    # The same example as the adapter's test: both sides must agree on it.
    assert wire.digest('{"traces":[]}', "s3cr3t") == "mCBx4LWK3v9FHoGxm2k+hA=="
    assert wire.digest_matches('{"traces":[]}', "s3cr3t", "mCBx4LWK3v9FHoGxm2k+hA==")


def test_a_track_push_is_a_signed_form():
    trace = {"traceNo": "1100000000001", "opCode": "203"}

    form = wire.trace_push(trace, "1100000000001", "s3cr3t")

    assert json.loads(form["logistics_interface"]) == {"traces": [trace]}
    assert form["data_digest"] == wire.digest(form["logistics_interface"], "s3cr3t")
    assert (form["msg_type"], form["ecCompanyId"]) == ("TRACEPUSH", "1100000000001")


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
        "logitcsInterface": wire.seal(json.dumps(message, ensure_ascii=False), key),
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
    tracked = call(client, wire.TRACK_QUERY, {"waybillNo": booked["retBody"]["waybillNo"]})

    assert booked["retCode"] == tracked["retCode"] == "00000"
    assert tracked["retBody"]["traces"] == []


def test_a_message_sealed_with_another_key_is_refused(client, sender):
    other = base64.b64encode(b"fedcba9876543210").decode()
    assert call(client, wire.ORDER_CREATE, ORDER, key=other)["retCode"] == "B00002"


def test_a_clear_message_needs_its_digest(client, sender):
    content = json.dumps(ORDER)
    form = {"apiCode": wire.ORDER_CREATE, "senderNo": "S1", "authorization": "auth"}
    form["logitcsInterface"] = content

    signed = client.post(API, {**form, "dataDigest": wire.digest(content, KEY)})
    unsigned = client.post(API, {**form, "dataDigest": "x"})

    assert signed.json()["retCode"] == "00000"
    assert unsigned.json()["retCode"] == "B00002"
