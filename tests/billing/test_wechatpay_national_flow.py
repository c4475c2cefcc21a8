"""The money path through WeChat Pay in its national mode (SM2/SM3/SM4): the service
configured as the sandbox's SM2 merchant, over HTTP on one live server, pays and refunds
an order; a notification in the other scheme is refused, however genuine its signature."""

from __future__ import annotations

import json
import secrets
import time
import uuid

import pytest
import requests
from django.utils import timezone

from billing.models import OrderStatus, PaymentAttempt, PaymentNotification, PaymentOrder, Refund
from ledger.models import LedgerPosting
from sandboxes.wechatpay import wire
from sandboxes.wechatpay.schemes import RSA, SM2, Scheme
from tests.billing.conftest import create_order
from tests.billing.test_processor_flows import (  # noqa: F401 - fixtures
    licensed_processors,
    portal_http,
    start,
    wait_until_paid,
)
from tests.integrations.test_wechatpay_national import national_mode
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def national_service(portal_http, settings):  # noqa: F811 - the fixture imported above
    national_mode(settings)
    return portal_http


def test_an_order_is_paid_and_refunded_through_wechatpay_in_its_national_mode(national_service):
    http = national_service
    order = create_order(http.portal)
    attempt = start(http, order, "wechatpay").json()

    paid = requests.post(attempt["pay_url"], json={"result": "success"}, timeout=10)
    assert paid.status_code == 200, paid.text
    assert wait_until_paid(http, order)["paid_at"]
    refund = http.post(
        f"{http.base}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": 1000, "reason": "申请人撤回申请"},
        headers={"Idempotency-Key": f"national-{uuid.uuid4().hex}"},
    )

    assert refund.status_code == 201, refund.text
    settled = eventually(
        lambda: (r := Refund.objects.get(public_id=refund.json()["id"])).status != "pending" and r
    )
    assert settled.status == "succeeded"
    assert PaymentOrder.objects.get(public_id=order["id"]).status == "partially_refunded"
    assert LedgerPosting.objects.filter(kind="payment", reference=attempt["id"]).exists()
    received = PaymentNotification.objects.filter(channel="wechatpay")
    assert received.count() == 2
    assert all(n.verified for n in received)
    algorithms = {json.loads(n.raw_body)["resource"]["algorithm"] for n in received}
    assert algorithms == {"AEAD_SM4_GCM"}


def genuine_notification(settings, attempt: PaymentAttempt, scheme: Scheme) -> tuple[str, dict]:
    """The body and headers of the payment notification WeChat Pay would send for the
    attempt, signed and sealed in ``scheme`` with the sandbox platform's key."""
    platform = settings.SANDBOX_WECHATPAY["platform"][scheme.name]
    merchant = settings.WECHATPAY
    transaction = {
        "appid": merchant["appid"],
        "mchid": merchant["mchid"],
        "out_trade_no": attempt.public_id,
        "transaction_id": f"4200{secrets.randbelow(10**24):024d}",
        "trade_type": "NATIVE",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "success_time": wire.rfc3339(timezone.now()),
        "amount": {"total": attempt.amount, "payer_total": attempt.amount, "currency": "CNY"},
    }
    event = wire.notification(
        event_id=str(uuid.uuid4()),
        create_time=timezone.now(),
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=transaction,
        scheme=scheme,
        apiv3_key=merchant["apiv3_key"],
        nonce=secrets.token_urlsafe(9),
    )
    body = wire.json_text(event)
    headers = wire.signature_headers(
        body,
        scheme,
        platform["private_key_pem"],
        platform["serial_no"],
        timestamp=str(int(time.time())),
        nonce=secrets.token_hex(16),
    )
    return body, headers


def notify(http, order: dict, settings, scheme: Scheme) -> tuple[requests.Response, PaymentAttempt]:
    """Start paying ``order`` through WeChat Pay and post the service a genuine payment
    notification for it in ``scheme``, as WeChat Pay would."""
    start(http, order, "wechatpay")
    attempt = PaymentAttempt.objects.get(order__public_id=order["id"], channel="wechatpay")
    body, headers = genuine_notification(settings, attempt, scheme)
    response = requests.post(
        f"{http.base}/notify/wechatpay",
        data=body.encode(),
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )
    return response, attempt


def test_a_genuine_rsa_notification_is_refused_by_the_national_service(national_service, settings):
    order = create_order(national_service.portal)

    response, attempt = notify(national_service, order, settings, RSA)

    assert response.status_code == 400
    stored = PaymentNotification.objects.get(channel="wechatpay")
    assert (stored.verified, stored.outcome) == (False, "rejected")
    assert "not the configured WECHATPAY2-SM2-WITH-SM3" in stored.detail
    attempt.refresh_from_db()
    assert attempt.status == "pending"
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAYING
    assert not LedgerPosting.objects.filter(reference=attempt.public_id).exists()


def test_the_same_notification_in_sm2_pays_the_order(national_service, settings):
    order = create_order(national_service.portal)

    response, _ = notify(national_service, order, settings, SM2)

    assert response.status_code == 204, response.text
    assert PaymentNotification.objects.get(channel="wechatpay").verified
    assert wait_until_paid(national_service, order)["paid_at"]
