"""The public platform in its national scheme (SM2 with SM3), adapter and sandbox over HTTP.

The sandbox has an app of each scheme (settings.PUBLIC_PLATFORM_APPS); here the service is
configured as the SM2 one. Each side must refuse a message that declares the other scheme,
however well it is signed in it: a downgrade to RSA2 is a forgery like any other.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial

import pytest
import requests

from core.money import BEIJING
from core.outside import get_channel
from integrations.crypto import sm2
from integrations.payments import signing
from integrations.payments.base import (
    InvalidNotification,
    ProviderDeclined,
    ProviderError,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from integrations.payments.public_platform import PublicPlatformChannel
from tests.integrations.helpers import StubServer, new_trade, pay, today_in_beijing

ACK = (200, b'{"code":"SUCCESS"}')
SM2_APP = "sandbox-app-sm2"
RSA2_APP = "sandbox-app-0001"


@pytest.fixture
def stub_server(stub_server) -> Callable[..., StubServer]:
    """Stand-ins that acknowledge as the service's notify endpoint once their answers run out."""
    return partial(stub_server, default=ACK)


@pytest.fixture
def sm2_settings(live_service, settings):
    """The service configured as the sandbox's SM2 app."""
    settings.PUBLIC_PLATFORM = {
        **settings.PUBLIC_PLATFORM,
        **settings.PUBLIC_PLATFORM_APPS["SM2"],
        "sign_type": "SM2",
    }
    return settings


@pytest.fixture
def channel(sm2_settings) -> PublicPlatformChannel:
    return get_channel("public_platform")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/public_platform"


def platform_key(settings, sign_type: str):
    """The sandbox platform's private key of the scheme, as a signing key of ours."""
    if sign_type == "SM2":
        return sm2.load_private_key(
            settings.SANDBOX_PUBLIC_PLATFORM["platform_sm2_private_key_pem"]
        )
    return signing.load_private_key(settings.SANDBOX_PUBLIC_PLATFORM["platform_private_key_pem"])


def platform_signed(settings, message: dict, sign_type: str) -> bytes:
    """``message`` signed by the platform's genuine key of ``sign_type``."""
    key = platform_key(settings, sign_type)
    return json.dumps(signing.signed(message, key, signing.SCHEMES[sign_type])).encode()


# -- round trips ------------------------------------------------------------------------


def test_a_trade_is_created_paid_notified_and_queried_in_sm2(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    assert pay(created.pay_url).json()["trade_status"] == "SUCCESS"
    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)
    queried = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert json.loads(body)["sign_type"] == "SM2"
    assert json.loads(body)["app_id"] == SM2_APP
    assert notification.result.out_trade_no == trade.out_trade_no
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert queried.status == TradeStatus.SUCCEEDED
    assert queried.provider_trade_no == created.provider_trade_no


def test_a_refund_is_asked_for_notified_and_billed_in_sm2(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)
    receiver.next_request()  # the payment's notification
    refund = RefundRequest(
        out_trade_no=trade.out_trade_no,
        out_refund_no=f"rf_{uuid.uuid4().hex[:20]}",
        amount=5000,
        total_amount=trade.amount,
        reason="重复缴费",
        notify_url=receiver.url,
        opened_at=trade.opened_at,
        requested_at=datetime.now(BEIJING),
    )

    asked = channel.refund(refund)
    headers, body = receiver.next_request()
    notified = channel.parse_notification(headers, body).refund
    bill = channel.parse_statement(channel.fetch_statement(today_in_beijing()))

    assert asked.status == RefundStatus.PENDING
    assert json.loads(body)["sign_type"] == "SM2"
    assert (notified.out_refund_no, notified.status) == (
        refund.out_refund_no,
        RefundStatus.SUCCEEDED,
    )
    assert notified.amount == 5000
    lines = bill[bill["ref"].isin([trade.out_trade_no, refund.out_refund_no])]
    assert sorted(zip(lines["kind"], lines["amount"], strict=True)) == [
        ("payment", 12345),
        ("refund", 5000),
    ]


# -- the platform's side: requests --------------------------------------------------------


def gateway_request(settings, app_id: str, sign_type: str, private_key) -> dict:
    envelope = {
        "app_id": app_id,
        "method": "trade.query",
        "version": "1.0",
        "timestamp": datetime.now(BEIJING).isoformat(timespec="seconds"),
        "nonce": uuid.uuid4().hex,
        "biz_content": {"out_trade_no": "pay_anything"},
    }
    return signing.signed(envelope, private_key, signing.SCHEMES[sign_type])


def post_gateway(sandbox: str, envelope: dict) -> dict:
    return requests.post(f"{sandbox}/gateway/trade/query", json=envelope, timeout=5).json()


def sm2_merchant_key(settings) -> sm2.PrivateKey:
    return sm2.load_private_key(settings.PUBLIC_PLATFORM_APPS["SM2"]["private_key_pem"])


def rsa_merchant_key(settings):
    return signing.load_private_key(settings.PUBLIC_PLATFORM_APPS["RSA2"]["private_key_pem"])


def answer_verifies(settings, answer: dict, sign_type: str) -> bool:
    app = settings.PUBLIC_PLATFORM_APPS[sign_type]
    scheme = signing.SCHEMES[sign_type]
    return signing.verify(answer, scheme.load_public_key(app["platform_public_key_pem"]), scheme)


def test_the_platform_takes_a_genuine_sm2_request_and_answers_in_sm2(sandbox, settings):
    envelope = gateway_request(settings, SM2_APP, "SM2", sm2_merchant_key(settings))

    answer = post_gateway(sandbox, envelope)

    assert answer["code"] == "TRADE_NOT_EXIST"  # past every check of the envelope
    assert answer["sign_type"] == "SM2"
    assert answer_verifies(settings, answer, "SM2")


def test_the_platform_refuses_an_sm2_apps_request_signed_in_rsa2(sandbox, settings):
    envelope = gateway_request(settings, SM2_APP, "RSA2", rsa_merchant_key(settings))

    answer = post_gateway(sandbox, envelope)

    assert answer["code"] == "INVALID_SIGNATURE"
    assert "SM2" in answer["message"]
    assert answer["sign_type"] == "SM2" and answer_verifies(settings, answer, "SM2")


def test_the_platform_refuses_an_rsa2_apps_request_signed_in_sm2(sandbox, settings):
    envelope = gateway_request(settings, RSA2_APP, "SM2", sm2_merchant_key(settings))

    answer = post_gateway(sandbox, envelope)

    assert answer["code"] == "INVALID_SIGNATURE"
    assert answer["sign_type"] == "RSA2" and answer_verifies(settings, answer, "RSA2")


@pytest.mark.parametrize("forgery", ["another-key", "tampered"])
def test_the_platform_refuses_a_forged_or_tampered_sm2_request(sandbox, settings, forgery):
    key = sm2.generate_private_key() if forgery == "another-key" else sm2_merchant_key(settings)
    envelope = gateway_request(settings, SM2_APP, "SM2", key)
    if forgery == "tampered":
        envelope["biz_content"] = {"out_trade_no": "pay_another"}

    answer = post_gateway(sandbox, envelope)

    assert answer["code"] == "INVALID_SIGNATURE"
    assert answer["message"] == "the request's signature does not verify"


def test_an_unknown_app_is_answered_in_the_scheme_its_request_says(sm2_settings):
    unknown = PublicPlatformChannel(**{**sm2_settings.PUBLIC_PLATFORM, "app_id": "unknown-app"})

    with pytest.raises(ProviderDeclined) as refused:
        unknown.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert refused.value.code == "INVALID_APP_ID"


# -- our side: answers and notifications ----------------------------------------------------


def configured_channel(settings, **overrides: object) -> PublicPlatformChannel:
    return PublicPlatformChannel(**{**settings.PUBLIC_PLATFORM, **overrides})


def test_a_genuine_rsa2_answer_is_refused_by_the_sm2_merchant(sm2_settings, stub_server):
    answer = {"code": "SUCCESS", "message": "OK", "data": {"out_trade_no": "pay_anything"}}
    platform = stub_server([(200, platform_signed(sm2_settings, answer, "RSA2"))])
    channel = configured_channel(sm2_settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="sign_type 'RSA2' is not the configured SM2"):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))


def test_a_tampered_sm2_answer_is_refused(sm2_settings, stub_server):
    answer = {"code": "TRADE_NOT_EXIST", "message": "no such trade", "data": None}
    signed = json.loads(platform_signed(sm2_settings, answer, "SM2"))
    tampered = {**signed, "code": "SUCCESS", "data": {"out_trade_no": "pay_anything"}}
    platform = stub_server([(200, json.dumps(tampered).encode())])
    channel = configured_channel(sm2_settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="signature does not verify"):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))


NOTIFICATION = {
    "notify_id": "6f1c0d2e8a7b4c2d9e0f1a2b3c4d5e6f",
    "notify_time": "2025-06-01T14:30:05+08:00",
    "notify_type": "trade.status_sync",
    "app_id": SM2_APP,
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "trade_no": "202506010000000000001234",
    "payment_code": "11010012345678901238",
    "amount": 12345,
    "trade_status": "SUCCESS",
    "paid_time": "2025-06-01T14:30:02+08:00",
    "fail_reason": "",
}


def test_a_genuine_sm2_notification_of_the_platform_is_accepted(channel, sm2_settings):
    body = platform_signed(sm2_settings, NOTIFICATION, "SM2")

    assert channel.parse_notification({}, body).result.status == TradeStatus.SUCCEEDED


def test_a_genuine_rsa2_notification_is_refused_by_the_sm2_merchant(channel, sm2_settings):
    body = platform_signed(sm2_settings, NOTIFICATION, "RSA2")

    with pytest.raises(InvalidNotification, match="sign_type 'RSA2' is not the configured SM2"):
        channel.parse_notification({}, body)


def test_a_genuine_sm2_notification_is_refused_by_the_rsa2_merchant(live_service, settings):
    rsa2 = get_channel("public_platform")
    body = platform_signed(settings, {**NOTIFICATION, "app_id": RSA2_APP}, "SM2")

    with pytest.raises(InvalidNotification, match="sign_type 'SM2' is not the configured RSA2"):
        rsa2.parse_notification({}, body)


@pytest.mark.parametrize("forgery", ["another-key", "tampered-amount", "relabelled-rsa2"])
def test_a_forged_or_tampered_sm2_notification_is_refused(channel, sm2_settings, forgery):
    if forgery == "another-key":
        message = signing.signed(NOTIFICATION, sm2.generate_private_key(), signing.SM2)
    else:
        message = json.loads(platform_signed(sm2_settings, NOTIFICATION, "SM2"))
        message |= {"amount": 1} if forgery == "tampered-amount" else {"sign_type": "RSA2"}

    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, json.dumps(message).encode())
