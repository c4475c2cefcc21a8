"""The public platform sandbox's own wire functions, against docs/public_platform.md.

The document is the interface: its canonical text of a trade.create request and its
example bill are the test vectors here.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl.sm2 import CryptSM2

from sandboxes import common, keys
from sandboxes.public_platform import views, wire

# "Signatures": the trade.create request of the document, and its canonical text as signed.
TRADE_CREATE = {
    "app_id": "2025000000000001",
    "method": "trade.create",
    "version": "1.0",
    "timestamp": "2025-06-01T14:28:00+08:00",
    "nonce": "5f0c9a1e7d3b4c6a8e2f1b0d9c7a6e54",
    "biz_content": {
        "out_trade_no": "pay_k5qz3w7xv2m4n6p8r0ta",
        "payment_code": "11010012345678901238",
        "amount": 12345,
        "currency": "CNY",
        "subject": "营业执照补办 工本费",
        "department_code": "110100-SCJG",
        "notify_url": "https://pay.example.gov.cn/notify/public_platform",
        "expire_time": "2025-06-04T14:28:00+08:00",
        "return_url": "",
    },
    "sign_type": "RSA2",
    "sign": "kq3VJ0…Zw==",
}
TRADE_CREATE_CANONICAL = (
    '{"app_id":"2025000000000001","biz_content":{"amount":12345,"currency":"CNY",'
    '"department_code":"110100-SCJG","expire_time":"2025-06-04T14:28:00+08:00",'
    '"notify_url":"https://pay.example.gov.cn/notify/public_platform",'
    '"out_trade_no":"pay_k5qz3w7xv2m4n6p8r0ta","payment_code":"11010012345678901238",'
    '"return_url":"","subject":"营业执照补办 工本费"},"method":"trade.create",'
    '"nonce":"5f0c9a1e7d3b4c6a8e2f1b0d9c7a6e54","sign_type":"RSA2",'
    '"timestamp":"2025-06-01T14:28:00+08:00","version":"1.0"}'
)
# "The daily bill": the document's example.
BILL = (
    "record_type,trade_no,out_trade_no,out_refund_no,payment_code,department_code,"
    "amount_fen,fee_fen,status,time\n"
    "PAYMENT,202506018264019375520184,pay_k5qz3w7xv2m4n6p8r0ta,,11010012345678901238,"
    "110100-SCJG,12345,0,SUCCESS,2025-06-01T14:30:02+08:00\n"
    "PAYMENT,202506015520184826401937,pay_a2c4e6g8i0k2m4o6q8s0,,11010098765432109876,"
    "110100-SCJG,2000,0,SUCCESS,2025-06-01T15:02:41+08:00\n"
    "REFUND,202506015520184826401937,pay_a2c4e6g8i0k2m4o6q8s0,rf_3b5d7f9h1j3l5n7p9r1t,"
    "11010098765432109876,110100-SCJG,2000,0,SUCCESS,2025-06-01T16:10:07+08:00\n"
    "#total,3,14345,2000\n"
)


@pytest.fixture
def platform_key(settings):
    return keys.load_private_key(settings.SANDBOX_PUBLIC_PLATFORM["platform_private_key_pem"])


def test_the_canonical_text_of_the_documents_request_is_the_documents():
    assert wire.canonical_text(TRADE_CREATE) == TRADE_CREATE_CANONICAL.encode("utf-8")


def test_the_canonical_text_does_not_depend_on_how_the_json_was_written():
    written = json.dumps(TRADE_CREATE, indent=4, ensure_ascii=True).encode()
    reordered = dict(reversed(wire.parse_message(written).items()))
    reordered["biz_content"] = dict(reversed(reordered["biz_content"].items()))

    assert wire.canonical_text(reordered) == TRADE_CREATE_CANONICAL.encode("utf-8")


def test_a_signed_message_says_rsa2_and_verifies_with_the_public_key(platform_key):
    message = wire.signed({"code": "SUCCESS", "message": "OK", "data": None}, platform_key)

    assert message["sign_type"] == "RSA2"
    assert wire.verify(message, platform_key.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"code": "SYSTEM_BUSY"},
        {"data": {"amount": 1}},
        {"sign_type": "RSA"},
        {"sign": "not base64!"},
        {"sign": None},
    ],
    ids=["a field", "a nested field", "the sign type", "a malformed sign", "no sign"],
)
def test_a_changed_message_does_not_verify(platform_key, change):
    message = wire.signed({"code": "SUCCESS", "data": {"amount": 12345}}, platform_key)

    assert not wire.verify({**message, **change}, platform_key.public_key())


def test_a_message_signed_by_another_key_does_not_verify(platform_key, settings):
    merchant_key = settings.SANDBOX_PUBLIC_PLATFORM["merchant_public_keys"]["sandbox-app-0001"]

    message = wire.signed({"code": "SUCCESS"}, platform_key)

    assert not wire.verify(message, keys.load_public_key(merchant_key))


@pytest.fixture
def platform_sm2_key(settings):
    return wire.load_sm2_private_key(
        settings.SANDBOX_PUBLIC_PLATFORM["platform_sm2_private_key_pem"]
    )


def test_an_sm2_signed_message_says_sm2_and_verifies_with_the_public_key(platform_sm2_key):
    message = wire.signed({"code": "SUCCESS", "data": None}, platform_sm2_key, wire.SM2)

    assert message["sign_type"] == "SM2"
    assert wire.verify(message, platform_sm2_key.public_key(), wire.SM2)


def test_another_implementation_verifies_the_sandboxs_sm2_signature(platform_sm2_key):
    message = wire.signed({"code": "SUCCESS", "data": None}, platform_sm2_key, wire.SM2)
    r, s = decode_dss_signature(base64.b64decode(message["sign"]))
    point = platform_sm2_key.public_key().public_numbers()

    other = CryptSM2(private_key="", public_key="", mode=1)
    other.public_key = f"{point.x:064x}{point.y:064x}"  # set after: its constructor mangles "04"

    assert other.verify_with_sm3(f"{r:064x}{s:064x}", wire.canonical_text(message))


@pytest.mark.parametrize(
    "change",
    [
        {"code": "SYSTEM_BUSY"},
        {"data": {"amount": 1}},
        {"sign_type": "RSA2"},
        {"sign": "not base64!"},
        {"sign": "MEUCIQ=="},
        {"sign": None},
    ],
    ids=["a field", "a nested field", "the sign type", "a malformed sign", "bad DER", "no sign"],
)
def test_a_changed_sm2_message_does_not_verify(platform_sm2_key, change):
    message = wire.signed(
        {"code": "SUCCESS", "data": {"amount": 12345}}, platform_sm2_key, wire.SM2
    )

    assert not wire.verify({**message, **change}, platform_sm2_key.public_key(), wire.SM2)


def test_a_message_of_one_scheme_does_not_verify_in_the_other(platform_key, platform_sm2_key):
    rsa2 = wire.signed({"code": "SUCCESS"}, platform_key)
    sm2 = wire.signed({"code": "SUCCESS"}, platform_sm2_key, wire.SM2)

    assert not wire.verify(rsa2, platform_sm2_key.public_key(), wire.SM2)
    assert not wire.verify(sm2, platform_key.public_key())


def test_an_sm2_signature_as_raw_r_and_s_does_not_verify(platform_sm2_key):
    message = wire.signed({"code": "SUCCESS"}, platform_sm2_key, wire.SM2)
    r, s = decode_dss_signature(base64.b64decode(message["sign"]))
    raw = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()

    assert not wire.verify({**message, "sign": raw}, platform_sm2_key.public_key(), wire.SM2)


def test_the_documents_request_is_protocol_json():
    body = json.dumps(TRADE_CREATE, ensure_ascii=False).encode()

    assert wire.parse_message(body) == TRADE_CREATE


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"text"',
        b'{"amount": 123.45}',
        b'{"amount": 1e3}',
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"a": 1, "a": 2}',
        b'{"biz_content": {"a": 1, "a": 1}}',
        b'{"subject": "\xff"}',
        b"{",
        b"",
    ],
    ids=[
        "an array",
        "a string",
        "a fraction",
        "an exponent",
        "NaN",
        "Infinity",
        "a repeated key",
        "a repeated nested key",
        "not UTF-8",
        "truncated",
        "empty",
    ],
)
def test_a_body_outside_the_protocols_json_is_refused(body):
    with pytest.raises(common.MalformedJson):
        wire.parse_message(body)


def test_the_documents_example_bill_is_what_the_sandbox_renders():
    lines = [
        ("payment", "pay_k5qz3w7xv2m4n6p8r0ta", "202506018264019375520184", 12345, "06:30:02"),
        ("payment", "pay_a2c4e6g8i0k2m4o6q8s0", "202506015520184826401937", 2000, "07:02:41"),
        ("refund", "rf_3b5d7f9h1j3l5n7p9r1t", "202506015520184826401937", 2000, "08:10:07"),
    ]
    records = [
        {
            "kind": kind,
            "ref": ref,
            "provider_ref": trade_no,
            "amount": amount,
            "fee": 0,
            "occurred_at": datetime.fromisoformat(f"2025-06-01T{utc}").replace(tzinfo=UTC),
            "out_trade_no": ref if kind == "payment" else "pay_a2c4e6g8i0k2m4o6q8s0",
            "payment_code": "11010012345678901238" if amount == 12345 else "11010098765432109876",
            "department_code": "110100-SCJG",
        }
        for kind, ref, trade_no, amount, utc in lines
    ]
    extra = ("out_trade_no", "payment_code", "department_code")

    assert views.render_statement(common.bill_frame(records, extra)) == BILL.encode()


def test_the_bill_header_is_the_documents_columns():
    assert ",".join(wire.BILL_COLUMNS) == BILL.splitlines()[0]
    assert BILL.splitlines()[-1].startswith(f"{wire.BILL_TOTAL},")


def test_a_trade_and_its_refunds_survive_the_journal_as_they_were():
    trade = views._Trade(
        app_id="sandbox-app-0001",
        params={"out_trade_no": "pay_k5qz3w7xv2m4n6p8r0ta", "amount": 12345},
        trade_no="202506018264019375520184",
        expires_at=datetime(2025, 6, 4, 14, 28, tzinfo=wire.BEIJING),
        status="SUCCESS",
        paid_time="2025-06-01T14:30:02+08:00",
        outbox=views._Outbox(notify_id="6f1c", acknowledged=True, deliveries=[{"trigger": "x"}]),
        refunds=[
            views._Refund(
                app_id="sandbox-app-0001",
                params={"out_trade_no": "pay_k5qz3w7xv2m4n6p8r0ta", "refund_amount": 5000},
                refund_no="202506020417305829164053",
                fails=False,
            )
        ],
    )

    journalled = json.loads(json.dumps(views._encode_trade(trade)))

    assert views._decode_trade(journalled) == trade
