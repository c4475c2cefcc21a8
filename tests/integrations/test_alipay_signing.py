"""Alipay RSA2 signing, amounts and notification parsing: pure functions, no database."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from integrations.payments.alipay import AlipayChannel
from integrations.payments.alipay.wire import (
    fen,
    sign_content,
    signed_content,
    top_level_raw_values,
    verify_content,
    yuan,
)
from integrations.payments.base import InvalidNotification, TradeStatus
from tests.integrations.helpers import key_pems, new_key

APP_ID = "2021000000000001"

# The asynchronous notification example of Alipay's "verify the signature yourself" guide.
DOCUMENTED_NOTIFICATION = {
    "total_amount": "2.00",
    "buyer_id": "2088102116773037",
    "body": "大乐透2.1",
    "trade_no": "2016071921001003030200089909",
    "refund_fee": "0.00",
    "notify_time": "2016-07-19 14:10:49",
    "subject": "大乐透2.1",
    "sign_type": "RSA2",
    "charset": "utf-8",
    "notify_type": "trade_status_sync",
    "out_trade_no": "0719141034-6418",
    "gmt_close": "2016-07-19 14:10:46",
    "gmt_payment": "2016-07-19 14:10:47",
    "trade_status": "TRADE_SUCCESS",
    "version": "1.0",
    "sign": "kPbQIjX+xQc8F0/A6/AocELIjhhZnGbcBN6G4MM/HmfWL4ZiHM6fWl5NQhzXJusaklZ1LFuMo+lHQUEL",
    "gmt_create": "2016-07-19 14:10:44",
    "app_id": "2015102700040153",
    "seller_id": "2088102119685838",
    "notify_id": "4a91b7a78a503640467525113fb7d8bg8e",
}


@pytest.fixture(scope="module")
def alipay_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def stranger_key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def channel(alipay_key) -> AlipayChannel:
    app_private, _ = key_pems(new_key())
    return AlipayChannel(
        base_url="http://127.0.0.1:9/gateway.do",
        app_id=APP_ID,
        private_key_pem=app_private,
        alipay_public_key_pem=key_pems(alipay_key)[1],
    )


def notification_fields(**overrides: str) -> dict[str, str]:
    fields = {
        "notify_time": "2025-06-01 14:30:05",
        "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786",
        "app_id": APP_ID,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": "2025060122001400000000000001",
        "out_trade_no": "pay_0123456789",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "123.45",
        "receipt_amount": "123.45",
        "subject": "营业执照补办 & 工本费",
        "gmt_create": "2025-06-01 14:29:50",
        "gmt_payment": "2025-06-01 14:30:01",
    }
    return {**fields, **overrides}


def signed_form(fields: dict[str, str], key: rsa.RSAPrivateKey) -> dict[str, str]:
    content = signed_content(fields, exclude=("sign", "sign_type"))
    return {**fields, "sign": sign_content(content, key)}


def form_body(fields: dict[str, str]) -> bytes:
    return urlencode(fields).encode()


# -- the string to sign -----------------------------------------------------------------


def test_the_documented_notification_is_checked_over_every_field_but_sign_and_sign_type():
    content = signed_content(DOCUMENTED_NOTIFICATION, exclude=("sign", "sign_type"))

    assert content == (
        "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8"
        "&gmt_close=2016-07-19 14:10:46&gmt_create=2016-07-19 14:10:44"
        "&gmt_payment=2016-07-19 14:10:47&notify_id=4a91b7a78a503640467525113fb7d8bg8e"
        "&notify_time=2016-07-19 14:10:49&notify_type=trade_status_sync"
        "&out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838"
        "&subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909"
        "&trade_status=TRADE_SUCCESS&version=1.0"
    )


def test_a_request_signs_sign_type_and_biz_content_as_sent_without_url_encoding():
    params = {
        "timestamp": "2014-07-24 03:07:50",
        "method": "alipay.trade.query",
        "app_id": "2014072300007148",
        "sign_type": "RSA2",
        "biz_content": '{"out_trade_no":"20150320010101001"}',
        "charset": "utf-8",
        "version": "1.0",
        "sign": "ignored",
    }

    assert signed_content(params, exclude=("sign",)) == (
        'app_id=2014072300007148&biz_content={"out_trade_no":"20150320010101001"}'
        "&charset=utf-8&method=alipay.trade.query&sign_type=RSA2"
        "&timestamp=2014-07-24 03:07:50&version=1.0"
    )


def test_a_signature_verifies_with_the_signers_public_key_only(alipay_key, stranger_key):
    signature = sign_content("a=1&b=缴费", alipay_key)

    assert verify_content("a=1&b=缴费", signature, alipay_key.public_key())
    assert not verify_content("a=1&b=缴费", signature, stranger_key.public_key())
    assert not verify_content("a=1&b=缴费 ", signature, alipay_key.public_key())
    assert not verify_content("a=1&b=缴费", "not base64!", alipay_key.public_key())


def test_an_answer_is_checked_over_its_response_object_exactly_as_it_came():
    body = (
        '{ "alipay_trade_query_response" : {"code": "10000", "msg":"\\u6210\\u529f"} '
        ',"sign":"c2ln"}'
    )

    raw = top_level_raw_values(body)

    assert raw["alipay_trade_query_response"] == '{"code": "10000", "msg":"\\u6210\\u529f"}'
    assert json.loads(raw["sign"]) == "c2ln"


@pytest.mark.parametrize("body", ['["a"]', '{"a":1,"a":2}', '{"a":1} trailing', '{"a" 1}'])
def test_an_answer_that_is_not_one_object_with_unique_keys_is_refused(body):
    with pytest.raises(ValueError):
        top_level_raw_values(body)


# -- amounts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount"), [("30.00", 3000), ("12.3", 1230), ("12", 1200), ("0.01", 1)]
)
def test_yuan_amounts_become_fen_without_floats(text, amount):
    assert fen(text) == amount


@pytest.mark.parametrize("text", ["12.301", "-1.00", "1e3", "01.00", " 1.00", "", 12.3, None])
def test_amounts_with_more_than_two_decimals_or_another_shape_are_refused(text):
    with pytest.raises(ValueError):
        fen(text)


def test_fen_are_written_as_yuan_with_two_decimals():
    assert [yuan(3000), yuan(1), yuan(123456)] == ["30.00", "0.01", "1234.56"]


# -- notifications ----------------------------------------------------------------------


def test_a_signed_notification_is_accepted_and_parsed(channel, alipay_key):
    body = form_body(signed_form(notification_fields(), alipay_key))

    notification = channel.parse_notification({}, body)

    assert notification.notify_id == "ac05099524730693a8b330c5ecf72da9786"
    result = notification.result
    assert result.status == TradeStatus.SUCCEEDED
    assert (result.out_trade_no, result.amount) == ("pay_0123456789", 12345)
    assert result.provider_trade_no == "2025060122001400000000000001"
    assert result.paid_at.isoformat() == "2025-06-01T14:30:01+08:00"


def test_a_closed_unpaid_trade_is_reported_closed(channel, alipay_key):
    fields = notification_fields(trade_status="TRADE_CLOSED", gmt_close="2025-06-01 16:00:00")
    del fields["gmt_payment"]

    result = channel.parse_notification({}, form_body(signed_form(fields, alipay_key))).result

    assert result.status == TradeStatus.CLOSED
    assert result.paid_at is None


def test_a_trade_closed_by_a_full_refund_is_still_reported_paid(channel, alipay_key):
    fields = notification_fields(trade_status="TRADE_CLOSED", refund_fee="123.45")

    result = channel.parse_notification({}, form_body(signed_form(fields, alipay_key))).result

    assert result.status == TradeStatus.SUCCEEDED


def test_a_notification_signed_by_another_key_is_refused(channel, stranger_key):
    body = form_body(signed_form(notification_fields(), stranger_key))

    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification({}, body)


def test_a_notification_with_a_tampered_field_is_refused(channel, alipay_key):
    fields = signed_form(notification_fields(), alipay_key)

    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification({}, form_body({**fields, "total_amount": "0.01"}))


def test_a_notification_for_another_app_is_refused(channel, alipay_key):
    body = form_body(signed_form(notification_fields(app_id="2021999999999999"), alipay_key))

    with pytest.raises(InvalidNotification, match="app_id"):
        channel.parse_notification({}, body)


@pytest.mark.parametrize(
    "body",
    [
        b"not a form",
        b"\xff\xfe=1",
        b"a=1&a=2",
        form_body(notification_fields()),  # unsigned
    ],
)
def test_a_malformed_or_unsigned_notification_is_refused(channel, body):
    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, body)


def test_a_signed_notification_with_an_amount_of_three_decimals_is_refused(channel, alipay_key):
    body = form_body(signed_form(notification_fields(total_amount="1.001"), alipay_key))

    with pytest.raises(InvalidNotification, match="yuan"):
        channel.parse_notification({}, body)


def test_the_acknowledgement_is_the_literal_word_success(channel):
    accepted, refused = channel.acknowledge(accepted=True), channel.acknowledge(accepted=False)

    assert (accepted.status, accepted.body) == (200, b"success")
    assert refused.body != b"success"
