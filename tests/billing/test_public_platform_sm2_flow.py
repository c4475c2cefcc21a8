"""The money path with the public platform in SM2: the service configured as the sandbox's
SM2 app, over HTTP on one live server, pays and refunds an order; a notification in the
other scheme is refused, however genuine its RSA2 signature."""

from __future__ import annotations

import json
import time

import pytest
import requests
from django.utils import timezone

from billing.models import (
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    Refund,
)
from integrations.payments import signing
from tests.billing.conftest import create_order, paid_at_platform
from tests.billing.test_payment_flow import assert_refused_with_nothing_applied
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sm2_service(live_service, settings):
    settings.PUBLIC_PLATFORM = {
        **settings.PUBLIC_PLATFORM,
        **settings.PUBLIC_PLATFORM_APPS["SM2"],
        "sign_type": "SM2",
    }
    return live_service


def test_an_order_is_paid_and_refunded_through_the_platform_in_sm2(sm2_service, portal, fixed_fee):
    order, http = paid_at_platform(portal, sm2_service.url)

    refund = http.post(
        f"{sm2_service.url}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": 1000, "reason": "申请人撤回申请"},
        headers={"Idempotency-Key": "sm2-refund"},
    )

    assert refund.status_code == 201, refund.text
    settled = eventually(
        lambda: (r := Refund.objects.get(public_id=refund.json()["id"])).status != "pending" and r
    )
    assert settled.status == "succeeded"
    assert PaymentOrder.objects.get(public_id=order["id"]).status == "partially_refunded"
    received = PaymentNotification.objects.filter(channel="public_platform")
    assert received.count() == 2
    assert all(n.verified for n in received)
    assert {json.loads(n.raw_body)["sign_type"] for n in received} == {"SM2"}


def test_a_genuine_rsa2_notification_is_refused_by_the_sm2_service(
    sm2_service, portal, fixed_fee, settings
):
    order = create_order(portal)
    http = requests.Session()
    http.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    http.post(
        f"{sm2_service.url}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "public_platform"},
    )
    attempt = PaymentAttempt.objects.select_related("order").get(order__public_id=order["id"])
    platform_rsa_key = signing.load_private_key(
        settings.SANDBOX_PUBLIC_PLATFORM["platform_private_key_pem"]
    )
    notification = {
        "notify_id": f"N{time.monotonic_ns()}",
        "notify_time": timezone.now().isoformat(),
        "notify_type": "trade.status_sync",
        "app_id": settings.PUBLIC_PLATFORM["app_id"],
        "out_trade_no": attempt.public_id,
        "trade_no": attempt.provider_trade_no,
        "payment_code": attempt.order.payment_code,
        "amount": attempt.amount,
        "trade_status": "SUCCESS",
        "paid_time": timezone.now().isoformat(),
    }

    response = requests.post(
        f"{sm2_service.url}/notify/public_platform",
        data=json.dumps(signing.signed(notification, platform_rsa_key)),
        headers={"Content-Type": "application/json"},
    )

    assert_refused_with_nothing_applied(response, attempt, order)
