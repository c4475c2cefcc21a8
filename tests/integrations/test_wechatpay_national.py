"""The WeChat Pay adapter in the national mode (国密: SM2/SM3/SM4) against its sandbox, over
real HTTP on loopback: requests signed ``WECHATPAY2-SM2-WITH-SM3``, answers and
notifications signed so and their resources sealed with AEAD_SM4_GCM, and each side
refusing the other scheme.

The sandbox has a merchant in each scheme (``WECHATPAY_MERCHANTS`` in
config/settings/local.py); ``national_mode`` points the service at its SM2 one, as
``WECHATPAY_SCHEME=sm2`` does.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import datetime

import pytest
import requests

from core.money import BEIJING
from core.outside import get_channel
from integrations.crypto import sm2, sm3, sm4
from integrations.payments.base import (
    InvalidNotification,
    ProviderDeclined,
    RefundStatus,
    TradeStatus,
)
from integrations.payments.wechatpay import WechatPayChannel
from integrations.payments.wechatpay.bill import parse_trade_bill
from tests.integrations.helpers import new_trade, pay, today_in_beijing
from tests.integrations.test_wechatpay_adapter import (
    new_refund,
    paid_trade,
    signed_query,
    wait_until_refunded,
)

pytestmark = pytest.mark.django_db(transaction=True)


def national_mode(settings) -> dict:
    """WECHATPAY as the sandbox's merchant whose certificate is SM2, set and returned."""
    settings.WECHATPAY = {
        **settings.WECHATPAY,
        **settings.WECHATPAY_MERCHANTS["sm2"],
        "scheme": "sm2",
    }
    return settings.WECHATPAY


def keys_of(settings, scheme: str) -> dict[str, str]:
    """A scheme's merchant key and WeChat's platform key and serial, as WECHATPAY holds
    them, without the merchant's identity."""
    merchant = settings.WECHATPAY_MERCHANTS[scheme]
    names = ("private_key_pem", "platform_serial_no", "platform_public_key_pem")
    return {name: merchant[name] for name in names}


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/wechatpay"


@pytest.fixture
def channel(live_service, settings) -> WechatPayChannel:
    national_mode(settings)
    return get_channel("wechatpay")


def test_a_national_trade_is_signed_sm2_and_paid_notified_and_queried(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    waiting = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    pay(created.pay_url)
    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert waiting.status == TradeStatus.PENDING
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SM2-WITH-SM3"
    assert base64.b64decode(headers["Wechatpay-Signature"])[0] == 0x30  # DER
    assert json.loads(body)["resource"]["algorithm"] == "AEAD_SM4_GCM"
    assert notification.result.out_trade_no == trade.out_trade_no
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert paid.status == TradeStatus.SUCCEEDED
    assert paid.provider_trade_no == notification.result.provider_trade_no


def test_a_national_refund_is_processed_then_notified_in_sm2(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    request = new_refund(trade, receiver.url)

    accepted = channel.refund(request)
    wait_until_refunded(channel, request)
    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert accepted.status == RefundStatus.PENDING
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SM2-WITH-SM3"
    assert notification.refund.out_refund_no == request.out_refund_no
    assert notification.refund.status == RefundStatus.SUCCEEDED
    assert notification.refund.amount == 2345


def test_a_national_trade_closes_with_a_signed_empty_answer(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    closed = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert closed.status == TradeStatus.CLOSED


def test_the_national_merchants_bill_holds_its_payment(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    bill = parse_trade_bill(channel.fetch_statement(today_in_beijing()))

    (row,) = [row for row in bill.rows if row.out_trade_no == trade.out_trade_no]
    assert (row.trade_state, row.settlement_amount) == ("SUCCESS", 12345)


def test_the_platform_certificate_is_sealed_with_sm4_under_the_sm3_of_the_apiv3_key(
    settings, sandbox
):
    config = national_mode(settings)

    answer = signed_query(
        config, sandbox, timestamp=int(time.time()), nonce=uuid.uuid4().hex, path="/v3/certificates"
    )
    refused = signed_query(
        config,
        sandbox,
        timestamp=int(time.time()),
        nonce=uuid.uuid4().hex,
        path="/v3/certificates?algorithm_type=SM2",
    )

    assert answer.status_code == 200
    assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SM2-WITH-SM3"
    (entry,) = answer.json()["data"]
    sealed = entry["encrypt_certificate"]
    assert (sealed["algorithm"], sealed["associated_data"]) == ("AEAD_SM4_GCM", "certificate")
    pem = sm4.gcm_open(
        sm3.digest(config["apiv3_key"].encode())[:16],
        base64.b64decode(sealed["ciphertext"]),
        nonce=sealed["nonce"].encode(),
        associated_data=b"certificate",
    )
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")
    assert (refused.status_code, refused.json()["code"]) == (400, "PARAM_ERROR")


# -- each side refuses the other scheme -------------------------------------------------


def test_a_national_merchants_request_signed_rsa_is_refused_401(settings, sandbox):
    config = national_mode(settings)

    answer = signed_query(
        {**config, **keys_of(settings, "rsa")},
        sandbox,
        timestamp=int(time.time()),
        nonce=uuid.uuid4().hex,
        scheme="rsa",
    )

    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert "the merchant signs WECHATPAY2-SM2-WITH-SM3" in answer.json()["message"]
    assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"


def test_an_rsa_merchants_request_signed_sm2_is_refused_401(settings, sandbox):
    signed_sm2 = {**settings.WECHATPAY, **keys_of(settings, "sm2")}  # as the RSA merchant

    answer = signed_query(
        signed_sm2, sandbox, timestamp=int(time.time()), nonce=uuid.uuid4().hex, scheme="sm2"
    )

    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert "the merchant signs WECHATPAY2-SHA256-RSA2048" in answer.json()["message"]


def test_a_national_merchants_request_with_a_forged_sm2_signature_is_refused_401(settings, sandbox):
    config = national_mode(settings)
    stranger = sm2.private_key_pem(sm2.generate_private_key())

    answer = signed_query(
        {**config, "private_key_pem": stranger},
        sandbox,
        timestamp=int(time.time()),
        nonce=uuid.uuid4().hex,
    )

    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert "does not verify" in answer.json()["message"]


def test_the_adapter_in_rsa_mode_is_refused_as_the_national_merchant(live_service, settings):
    config = national_mode(settings)
    settings.WECHATPAY = {**config, "scheme": "rsa", **keys_of(settings, "rsa")}

    with pytest.raises(ProviderDeclined) as refused:
        get_channel("wechatpay").query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert refused.value.code == "SIGN_ERROR"


def test_a_national_notification_rendered_by_the_sandbox_is_refused_by_an_rsa_channel(
    channel, sandbox, receiver, settings
):
    trade = paid_trade(channel, receiver.url)
    rendered = requests.post(
        f"{sandbox}/_control/trades/{trade.out_trade_no}/notify?send=false", timeout=5
    ).json()
    body = base64.b64decode(rendered["body_base64"])
    settings.WECHATPAY = {**settings.WECHATPAY, "scheme": "rsa", **keys_of(settings, "rsa")}

    assert channel.parse_notification(rendered["headers"], body).result.amount == 12345
    with pytest.raises(InvalidNotification, match="not the configured WECHATPAY2-SHA256-RSA2048"):
        get_channel("wechatpay").parse_notification(rendered["headers"], body)
