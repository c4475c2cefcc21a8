"""WeChat Pay API v3 signatures, notification decryption and bill reading: no DB, no network."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.money import BEIJING
from integrations.payments.base import InvalidNotification, RefundStatus, TradeStatus
from integrations.payments.wechatpay import WechatPayChannel, WechatPayCredentials, wire
from integrations.payments.wechatpay.bill import parse_trade_bill
from tests.integrations.helpers import key_pems, new_key

SAMPLE_BILL = Path(__file__).parents[1] / "fixtures" / "wechatpay" / "wechatpay-php__bill.ALL.csv"
APIV3_KEY = "0123456789abcdefghijklmnopqrstuv"  # 32 characters, as WeChat issues them
PLATFORM_SERIAL = "5157F09EFDC096DE15EBE81A47057A7200000001"


@pytest.fixture(scope="module")
def platform() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def channel(platform) -> WechatPayChannel:
    credentials = WechatPayCredentials(
        mchid="1900000001",
        appid="wx0000000000000001",
        merchant_serial_no="3775B6A45ACD588826D15E583A95F5DD00000001",
        private_key_pem=key_pems(new_key())[0],
        apiv3_key=APIV3_KEY,
        platform_serial_no=PLATFORM_SERIAL,
        platform_public_key_pem=key_pems(platform)[1],
    )
    return WechatPayChannel(base_url="http://127.0.0.1:9", credentials=credentials)


# -- the strings that are signed --------------------------------------------------------


def test_the_request_string_matches_the_documented_get_example_with_an_empty_body_line():
    text = wire.request_text(
        "GET", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", ""
    )

    assert text == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_the_request_string_of_a_post_carries_the_path_with_its_query_and_the_exact_body():
    body = '{"mchid":"1900000001","description":"营业执照补办"}'

    text = wire.request_text("POST", "/v3/x?a=1&b=2", "1554208460", "N0NCE", body)

    assert text == f"POST\n/v3/x?a=1&b=2\n1554208460\nN0NCE\n{body}\n".encode()


def test_the_answer_string_is_timestamp_nonce_and_body_each_ending_a_line():
    assert wire.signing_text("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", "{}") == (
        b"1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{}\n"
    )


def test_a_signature_verifies_with_the_signers_public_key_only(platform, stranger):
    text = wire.request_text("GET", "/v3/certificates", "1554208460", "N", "")

    signature = wire.sign(text, platform)

    assert len(base64.b64decode(signature)) == 256  # RSA 2048
    assert wire.verify(text, signature, platform.public_key())
    assert not wire.verify(text, signature, stranger.public_key())
    assert not wire.verify(text + b"x", signature, platform.public_key())
    assert not wire.verify(text, "not base64!", platform.public_key())


def test_the_authorization_header_names_the_schema_and_every_parameter_in_quotes():
    header = wire.authorization(
        mchid="1900009191",
        serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
        timestamp="1554208460",
        signature="c2lnbmF0dXJl",
    )

    assert header.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900009191",')
    assert 'nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242"' in header
    assert 'timestamp="1554208460"' in header
    assert 'serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"' in header
    assert ", " not in header  # parameters are separated by commas only


# -- AEAD_AES_256_GCM resources ---------------------------------------------------------


def test_a_resource_sealed_with_the_apiv3_key_opens_with_it_and_carries_its_tag():
    plaintext = b'{"out_trade_no":"pay_1"}'
    ciphertext = wire.encrypt_resource(
        APIV3_KEY, plaintext, nonce="fdasflkja484", associated_data="transaction"
    )
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": ciphertext,
        "nonce": "fdasflkja484",
        "associated_data": "transaction",
    }

    assert len(base64.b64decode(ciphertext)) == len(plaintext) + 16
    assert wire.decrypt_resource(APIV3_KEY, resource) == plaintext
    with pytest.raises(ValueError, match="does not decrypt"):
        wire.decrypt_resource("x" * 32, resource)
    with pytest.raises(ValueError, match="does not decrypt"):
        wire.decrypt_resource(APIV3_KEY, {**resource, "associated_data": "refund"})
    with pytest.raises(ValueError, match="algorithm"):
        wire.decrypt_resource(APIV3_KEY, {**resource, "algorithm": "AEAD_SM4_GCM"})


# -- notifications ----------------------------------------------------------------------

TRANSACTION = {
    "appid": "wx0000000000000001",
    "mchid": "1900000001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "transaction_id": "4200000985202506011234567890",
    "trade_type": "NATIVE",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "bank_type": "OTHERS",
    "attach": "11010012345678901238",
    "success_time": "2025-06-01T14:30:02+08:00",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 12345, "payer_total": 12345, "currency": "CNY", "payer_currency": "CNY"},
}
REFUND = {
    "mchid": "1900000001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "transaction_id": "4200000985202506011234567890",
    "out_refund_no": "rfd_abcdefghijklmnopqrs",
    "refund_id": "50000000382019052709732678859",
    "refund_status": "SUCCESS",
    "success_time": "2025-06-02T09:00:00+08:00",
    "user_received_account": "支付用户零钱",
    "amount": {"total": 12345, "refund": 2345, "payer_total": 12345, "payer_refund": 2345},
}


def _event(event_type: str, resource: dict, *, key: str = APIV3_KEY, **changes) -> bytes:
    original_type = "refund" if event_type.startswith("REFUND") else "transaction"
    event = {
        "id": "EV-2018022511223320873",
        "create_time": "2025-06-01T14:30:05+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": wire.encrypt_resource(
                key,
                json.dumps(resource, ensure_ascii=False).encode(),
                nonce="fdasflkja484",
                associated_data=original_type,
            ),
            "associated_data": original_type,
            "nonce": "fdasflkja484",
        },
        **changes,
    }
    return json.dumps(event, ensure_ascii=False).encode()


def _headers(body: bytes, key: rsa.RSAPrivateKey, **changes: str) -> dict[str, str]:
    timestamp, nonce = changes.pop("timestamp", str(int(time.time()))), "c5ac7061fccab6bf"
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": wire.sign(wire.signing_text(timestamp, nonce, body.decode()), key),
        "Wechatpay-Serial": PLATFORM_SERIAL,
    }
    return {**headers, **changes}


def test_a_signed_payment_notification_is_decrypted_into_a_trade_result(channel, platform):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION)

    notification = channel.parse_notification(_headers(body, platform), body)

    assert notification.notify_id == "EV-2018022511223320873"
    assert notification.refund is None
    assert notification.result.out_trade_no == "pay_abcdefghijklmnopqrst"
    assert notification.result.provider_trade_no == "4200000985202506011234567890"
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.result.paid_at == datetime(2025, 6, 1, 14, 30, 2, tzinfo=BEIJING)


def test_headers_are_found_whatever_their_case(channel, platform):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION)
    headers = {name.lower(): value for name, value in _headers(body, platform).items()}

    assert channel.parse_notification(headers, body).result.amount == 12345


@pytest.mark.parametrize(
    ("event_type", "refund_status", "status"),
    [
        ("REFUND.SUCCESS", "SUCCESS", RefundStatus.SUCCEEDED),
        ("REFUND.CLOSED", "CLOSED", RefundStatus.FAILED),
        ("REFUND.ABNORMAL", "ABNORMAL", RefundStatus.PENDING),
    ],
)
def test_a_refund_notification_is_decrypted_into_a_refund_result(
    channel, platform, event_type, refund_status, status
):
    resource = {**REFUND, "refund_status": refund_status}
    body = _event(event_type, resource)

    notification = channel.parse_notification(_headers(body, platform), body)

    assert notification.result is None
    assert notification.refund.status == status
    assert notification.refund.out_refund_no == "rfd_abcdefghijklmnopqrs"
    assert notification.refund.out_trade_no == "pay_abcdefghijklmnopqrst"
    assert notification.refund.provider_refund_no == "50000000382019052709732678859"
    assert notification.refund.amount == 2345
    assert (notification.refund.refunded_at is not None) == (refund_status == "SUCCESS")


def test_a_notification_signed_with_another_key_is_rejected_before_decrypting(channel, stranger):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match="does not verify"):
        channel.parse_notification(_headers(body, stranger), body)


def test_a_notification_whose_body_changed_after_signing_is_rejected(channel, platform):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION)
    tampered = body.replace(b"EV-2018022511223320873", b"EV-2018022511223320874")

    with pytest.raises(InvalidNotification, match="does not verify"):
        channel.parse_notification(_headers(body, platform), tampered)


def test_a_signed_notification_sealed_with_another_apiv3_key_is_rejected(channel, platform):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION, key="y" * 32)

    with pytest.raises(InvalidNotification, match="does not decrypt"):
        channel.parse_notification(_headers(body, platform), body)


@pytest.mark.parametrize(
    ("header_changes", "message"),
    [
        ({"Wechatpay-Serial": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"}, "serial"),
        ({"timestamp": str(int(time.time()) - 301)}, "5 minutes"),
        ({"Wechatpay-Signature": ""}, "missing"),
    ],
    ids=["unknown-serial", "stale", "unsigned"],
)
def test_a_notification_with_doubtful_signature_headers_is_rejected(
    channel, platform, header_changes, message
):
    body = _event("TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match=message):
        channel.parse_notification(_headers(body, platform, **header_changes), body)


@pytest.mark.parametrize(
    ("event_type", "resource", "changes"),
    [
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "mchid": "1900000002"}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "amount": {"total": "12345"}}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "success_time": "2025-06-01 14:30:02"}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "trade_state": "PAID"}, {}),
        ("TRANSACTION.SUCCESS", TRANSACTION, {"id": ""}),
        ("TRANSACTION.SUCCESS", TRANSACTION, {"resource_type": "plain"}),
        ("COUPON.USE", TRANSACTION, {}),
        ("REFUND.SUCCESS", {**REFUND, "refund_status": "DONE"}, {}),
    ],
    ids=[
        "other-merchant",
        "text-amount",
        "naive-time",
        "unknown-state",
        "no-id",
        "not-encrypted",
        "unknown-event",
        "unknown-refund-status",
    ],
)
def test_a_genuine_notification_with_a_wrong_field_is_rejected(
    channel, platform, event_type, resource, changes
):
    body = _event(event_type, resource, **changes)

    with pytest.raises(InvalidNotification):
        channel.parse_notification(_headers(body, platform), body)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"", b"\xff\xfe", b'{"id":"a","id":"b"}'])
def test_a_malformed_notification_is_rejected(channel, platform, body):
    signed_over = body if body.isascii() else b""

    with pytest.raises(InvalidNotification):
        channel.parse_notification(_headers(signed_over, platform), body)


def test_acknowledging_answers_204_and_refusing_answers_a_fail_code():
    channel = WechatPayChannel.__new__(WechatPayChannel)

    accepted, refused = channel.acknowledge(accepted=True), channel.acknowledge(accepted=False)

    assert (accepted.status, accepted.body) == (204, b"")
    assert refused.status == 400
    assert json.loads(refused.body)["code"] == "FAIL"


def test_the_credentials_never_show_their_keys():
    credentials = WechatPayCredentials("1", "wx", "S", "PRIVATE-PEM", APIV3_KEY, "P", "PUBLIC")

    assert "PRIVATE-PEM" not in repr(credentials)
    assert APIV3_KEY not in repr(credentials)


# -- the bill -----------------------------------------------------------------------------


def test_a_published_trade_bill_is_read_with_its_totals_checked():
    bill = parse_trade_bill(SAMPLE_BILL.read_bytes())

    assert (bill.count, bill.settlement_total, bill.refund_total, bill.fee_total) == (
        45,
        47,
        14,
        8,
    )
    refund = bill.rows[0]
    assert (refund.trade_state, refund.refund_status, refund.refund_amount) == (
        "REFUND",
        "SUCCESS",
        1,
    )
    assert refund.out_trade_no == "autotest_20190216081946_82335"
    assert refund.trade_time == datetime(2019, 2, 19, 5, 1, 46, tzinfo=BEIJING)


def test_a_bill_whose_totals_do_not_match_its_lines_is_refused():
    content = SAMPLE_BILL.read_bytes().replace(b"`45.0,`0.47,", b"`45.0,`0.48,")

    with pytest.raises(ValueError, match="totals"):
        parse_trade_bill(content)


def test_a_bill_line_without_backticks_is_refused():
    content = SAMPLE_BILL.read_bytes().replace(b"`NATIVE", b"NATIVE", 1)

    with pytest.raises(ValueError, match="backtick"):
        parse_trade_bill(content)
