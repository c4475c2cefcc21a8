"""A payment through each licensed processor, from create to paid, over HTTP through its sandbox."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
import requests

from billing.models import PaymentAttempt, PaymentNotification, Processor
from ledger.models import LedgerPosting
from tests.billing.conftest import create_order

pytestmark = pytest.mark.django_db(transaction=True)

PROCESSORS = {
    "alipay": "支付宝（中国）网络技术有限公司",
    "wechatpay": "财付通支付科技有限公司",
    "unionpay": "银联商务股份有限公司",
}


@pytest.fixture
def licensed_processors(db):
    for priority, (code, name) in enumerate(PROCESSORS.items(), start=20):
        Processor.objects.create(
            code=code,
            legal_name=name,
            licence_number=f"Z20000{priority}000011",
            licence_scope=["internet_payment", "mobile_payment", "bank_card_acquiring"],
            licence_valid_until=date.today() + timedelta(days=365),
            max_amount=5_000_000,
            priority=priority,
        )


@pytest.fixture
def portal_http(live_service, portal, fixed_fee, department, licensed_processors):
    department.accepted_channels = ["public_platform", *PROCESSORS]
    department.save()
    session = requests.Session()
    session.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    session.base = live_service.url
    session.portal = portal
    return session


def start(http, order: dict, channel: str) -> requests.Response:
    return http.post(
        f"{http.base}/api/v1/payment-orders/{order['id']}/payments", json={"channel": channel}
    )


def wait_until_paid(http, order: dict, seconds: float = 15.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = http.get(f"{http.base}/api/v1/payment-orders/{order['id']}").json()
        if current["status"] == "paid":
            return current
        time.sleep(0.05)
    raise AssertionError(f"order {order['id']} stayed {current['status']}")


@pytest.mark.parametrize("channel", list(PROCESSORS))
def test_a_payment_through_each_processor_goes_from_create_to_paid(portal_http, channel):
    order = create_order(portal_http.portal)
    attempt = start(portal_http, order, channel).json()
    assert attempt["channel"] == channel
    assert portal_http.get(attempt["pay_url"]).status_code == 200  # the payer opens the cashier

    paid = requests.post(attempt["pay_url"], json={"result": "success"})

    assert paid.status_code == 200, paid.text
    assert wait_until_paid(portal_http, order)["paid_at"]
    stored = PaymentNotification.objects.filter(out_trade_no=attempt["id"], verified=True)
    assert stored.first().outcome == "applied"
    posting = LedgerPosting.objects.get(kind="payment", reference=attempt["id"])
    assert {e.account.code for e in posting.entries.all()} == {
        f"clearing:{channel}",
        "payable:SCJG01",
    }


def test_auto_falls_over_to_the_next_channel_when_one_does_not_answer(portal_http, settings):
    settings.ALIPAY = {**settings.ALIPAY, "base_url": "http://127.0.0.1:9/gateway.do"}
    Processor.objects.filter(code="public_platform").update(priority=90)
    order = create_order(portal_http.portal)

    response = start(portal_http, order, "auto")

    assert response.status_code == 201, response.text
    attempt = response.json()
    assert attempt["channel"] == "wechatpay"
    unanswered = PaymentAttempt.objects.get(order__public_id=order["id"], channel="alipay")
    assert unanswered.status == "unknown"
    chosen = PaymentAttempt.objects.get(public_id=attempt["id"])
    assert chosen.routing["requested"] == "auto"
    assert chosen.routing["candidates"][:2] == ["alipay", "wechatpay"]


def test_a_processor_that_keeps_timing_out_is_taken_out_of_rotation(portal_http, settings):
    settings.ALIPAY = {**settings.ALIPAY, "base_url": "http://127.0.0.1:9/gateway.do"}
    for _ in range(3):
        order = create_order(portal_http.portal)
        assert start(portal_http, order, "alipay").status_code == 503

    order = create_order(portal_http.portal)
    refused = start(portal_http, order, "alipay")
    routed = start(portal_http, order, "auto").json()

    assert refused.status_code == 422
    assert "circuit open" in refused.json()["error"]["message"]
    assert routed["channel"] != "alipay"


def test_a_payer_who_pays_twice_through_two_channels_gets_the_second_back(portal_http, task_worker):
    order = create_order(portal_http.portal)
    first = start(portal_http, order, "public_platform").json()
    second = start(portal_http, order, "wechatpay").json()

    requests.post(first["pay_url"], json={"result": "success"})
    wait_until_paid(portal_http, order)
    requests.post(second["pay_url"], json={"result": "success"})

    deadline = time.monotonic() + 15
    while True:
        doubled = PaymentAttempt.objects.get(public_id=second["id"])
        refund = doubled.refunds.first()
        if refund is not None and refund.status == "succeeded":
            break
        assert time.monotonic() < deadline, "the second payment was not refunded"
        time.sleep(0.1)
    assert (doubled.status, doubled.settles_order, doubled.refund_due) == ("succeeded", False, True)
    assert refund.amount == doubled.received_amount == 3000
    assert refund.kind == "unsettled_payment"
    assert PaymentAttempt.objects.get(public_id=first["id"]).settles_order
