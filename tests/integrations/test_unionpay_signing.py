"""UnionPay signMethod 01 (version 5.1.0) and notification parsing: no database, no network."""

from __future__ import annotations

import hashlib
from datetime import datetime
from urllib.parse import urlencode

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from core.money import BEIJING
from integrations.payments.base import InvalidNotification, RefundStatus, TradeStatus
from integrations.payments.unionpay import UnionPayChannel, wire
from tests.integrations.helpers import certificate_pem, key_and_certificate, private_pem

MER_ID = "777290058110048"


@pytest.fixture(scope="module")
def unionpay_side() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return key_and_certificate("unionpay signing")


@pytest.fixture(scope="module")
def stranger() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    return key_and_certificate("stranger")


@pytest.fixture(scope="module")
def channel(unionpay_side) -> UnionPayChannel:
    merchant_key, merchant_certificate = key_and_certificate("merchant")
    return UnionPayChannel(
        base_url="http://127.0.0.1:9",
        mer_id=MER_ID,
        private_key_pem=private_pem(merchant_key),
        certificate_pem=certificate_pem(merchant_certificate),
        unionpay_certificate_pem=certificate_pem(unionpay_side[1]),
    )


# The field set of the gateway refund (退货) request in UnionPay's demo, with sample values.
REFUND_REQUEST = {
    "version": "5.1.0",
    "encoding": "UTF-8",
    "signMethod": "01",
    "txnType": "04",
    "txnSubType": "00",
    "bizType": "000201",
    "accessType": "0",
    "channelType": "07",
    "backUrl": "https://pay.example.gov.cn/notify/unionpay",
    "orderId": "RFab2cd3ef4gh5ij6kl7mn8op9q",
    "merId": MER_ID,
    "origQryId": "202506011430021234567",
    "txnTime": "20250601150000",
    "txnAmt": "2000",
    "certId": "68759663125",
    "reqReserved": "",
}


def test_the_string_to_sign_sorts_fields_by_name_and_leaves_out_empty_ones_and_the_signature():
    message = {**REFUND_REQUEST, "signature": "ignored"}

    assert wire.string_to_sign(message) == (
        "accessType=0&backUrl=https://pay.example.gov.cn/notify/unionpay&bizType=000201"
        "&certId=68759663125&channelType=07&encoding=UTF-8&merId=777290058110048"
        "&orderId=RFab2cd3ef4gh5ij6kl7mn8op9q&origQryId=202506011430021234567"
        "&signMethod=01&txnAmt=2000&txnSubType=00&txnTime=20250601150000&txnType=04"
        "&version=5.1.0"
    )


def test_what_the_key_signs_is_the_lowercase_hex_sha256_of_the_string_to_sign():
    expected = hashlib.sha256(wire.string_to_sign(REFUND_REQUEST).encode()).hexdigest()

    digest = wire.signed_digest(REFUND_REQUEST)

    assert digest == expected.encode()
    assert digest.decode() == digest.decode().lower()
    assert len(digest) == 64


def test_a_signed_message_carries_the_certificate_serial_in_decimal_and_verifies(unionpay_side):
    key, certificate = unionpay_side

    message = wire.signed(REFUND_REQUEST, key, certificate)

    assert message["certId"] == str(certificate.serial_number)
    assert message["certId"].isdigit()
    assert wire.verify(message, certificate)


def test_changing_a_signed_field_or_the_signer_breaks_the_signature(unionpay_side, stranger):
    key, certificate = unionpay_side
    message = wire.signed(REFUND_REQUEST, key, certificate)

    assert not wire.verify({**message, "txnAmt": "20000"}, certificate)
    assert not wire.verify(message, stranger[1])
    assert not wire.verify({**message, "signature": "not base64!"}, certificate)


def test_the_answer_format_keeps_brackets_and_equals_signs_inside_values():
    text = "respCode=00&respMsg=成功[a&b=c]&reserved={x=1&y=2}&signature=ab+/c=="

    assert wire.parse_answer(text) == {
        "respCode": "00",
        "respMsg": "成功[a&b=c]",
        "reserved": "{x=1&y=2}",
        "signature": "ab+/c==",
    }


@pytest.mark.parametrize("text", ["", "respCode", "a=1&a=2", "=1"])
def test_a_malformed_answer_is_refused(text):
    with pytest.raises(ValueError):
        wire.parse_answer(text)


def test_our_ids_map_to_order_ids_without_underscores_and_back():
    assert wire.order_id("pay_k5qz3w7xv2m4n6p8r0ta2b3c") == "PAYk5qz3w7xv2m4n6p8r0ta2b3c"
    assert wire.our_id("PAYk5qz3w7xv2m4n6p8r0ta2b3c") == "pay_k5qz3w7xv2m4n6p8r0ta2b3c"
    assert wire.our_id(wire.order_id("20250601abc")) == "20250601abc"


@pytest.mark.parametrize("our", ["pay_a", "pay_never_created", "Pay_abcdefgh", "pay-abcdefgh"])
def test_ids_unionpay_cannot_carry_are_refused(our):
    with pytest.raises(ValueError):
        wire.order_id(our)


def test_a_trace_time_in_january_after_a_december_order_is_in_the_next_year():
    moment = wire.trace_moment("0101000005", "20251231235959")

    assert moment == datetime(2026, 1, 1, 0, 0, 5, tzinfo=BEIJING)


# -- notifications ----------------------------------------------------------------------

CONSUME_NOTIFICATION = {
    "version": "5.1.0",
    "encoding": "UTF-8",
    "signMethod": "01",
    "txnType": "01",
    "txnSubType": "01",
    "bizType": "000201",
    "accessType": "0",
    "merId": MER_ID,
    "orderId": "PAYk5qz3w7xv2m4n6p8r0ta2b3c",
    "txnTime": "20250601142800",
    "txnAmt": "12345",
    "currencyCode": "156",
    "queryId": "202506011430021234567",
    "traceNo": "123456",
    "traceTime": "0601143002",
    "settleDate": "0601",
    "respCode": "00",
    "respMsg": "成功[0000000]",
}


def _body(fields: dict[str, str], key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> bytes:
    with_cert = {**fields, "signPubKeyCert": certificate_pem(certificate)}
    return urlencode({**with_cert, "signature": wire.sign(with_cert, key)}).encode()


def test_a_payment_notification_parses_into_a_trade_result(channel, unionpay_side):
    notification = channel.parse_notification({}, _body(CONSUME_NOTIFICATION, *unionpay_side))

    assert notification.notify_id == "01-202506011430021234567"
    assert notification.refund is None
    result = notification.result
    assert result.out_trade_no == "pay_k5qz3w7xv2m4n6p8r0ta2b3c"
    assert result.status == TradeStatus.SUCCEEDED
    assert result.amount == 12345
    assert result.provider_trade_no == "202506011430021234567"
    assert result.paid_at == datetime(2025, 6, 1, 14, 30, 2, tzinfo=BEIJING)


def test_a_refund_notification_parses_into_a_refund_result(channel, unionpay_side):
    refund = {
        **CONSUME_NOTIFICATION,
        "txnType": "04",
        "txnSubType": "00",
        "orderId": "RFab2cd3ef4gh5ij6kl7mn8op9q",
        "txnAmt": "2000",
        "queryId": "202506011500001234567",
        "origQryId": "202506011430021234567",
        "traceTime": "0601150001",
        "txnTime": "20250601150000",
    }

    notification = channel.parse_notification({}, _body(refund, *unionpay_side))

    assert notification.result is None
    assert notification.refund.out_refund_no == "rf_ab2cd3ef4gh5ij6kl7mn8op9q"
    assert notification.refund.status == RefundStatus.SUCCEEDED
    assert notification.refund.amount == 2000
    assert notification.refund.refunded_at == datetime(2025, 6, 1, 15, 0, 1, tzinfo=BEIJING)


def test_a_failed_payment_is_notified_with_its_response_code(channel, unionpay_side):
    failed = {**CONSUME_NOTIFICATION, "respCode": "01", "respMsg": "交易失败"}

    result = channel.parse_notification({}, _body(failed, *unionpay_side)).result

    assert result.status == TradeStatus.FAILED
    assert result.failure_reason == "01 交易失败"
    assert result.paid_at is None


def test_a_notification_signed_by_another_key_is_rejected_even_with_the_right_certificate(
    channel, unionpay_side, stranger
):
    with_cert = {**CONSUME_NOTIFICATION, "signPubKeyCert": certificate_pem(unionpay_side[1])}
    forged = {**with_cert, "signature": wire.sign(with_cert, stranger[0])}

    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification({}, urlencode(forged).encode())


def test_a_notification_carrying_another_signing_certificate_is_rejected(channel, stranger):
    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification({}, _body(CONSUME_NOTIFICATION, *stranger))


def test_a_notification_with_a_tampered_amount_is_rejected(channel, unionpay_side):
    body = _body(CONSUME_NOTIFICATION, *unionpay_side).replace(b"txnAmt=12345", b"txnAmt=1")

    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification({}, body)


@pytest.mark.parametrize(
    "changes",
    [{"merId": "898000000000001"}, {"txnAmt": "12.30"}, {"txnType": "31"}, {"queryId": ""}],
    ids=["other-merchant", "yuan-amount", "other-txn-type", "no-query-id"],
)
def test_a_signed_notification_with_a_wrong_field_is_rejected(channel, unionpay_side, changes):
    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, _body({**CONSUME_NOTIFICATION, **changes}, *unionpay_side))


@pytest.mark.parametrize(
    "body", [b"", b"{}", b"txnAmt=1&txnAmt=2", b"\xff\xfe", b"just text"], ids=str
)
def test_a_malformed_notification_is_rejected(channel, body):
    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, body)


def test_acknowledging_answers_http_200_which_is_what_stops_unionpay_retrying(channel):
    accepted = channel.acknowledge(accepted=True)
    refused = channel.acknowledge(accepted=False)

    assert (accepted.status, accepted.body) == (200, b"ok")
    assert refused.status != 200
