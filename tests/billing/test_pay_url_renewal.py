"""A pending page.pay attempt handed out again gets a link Alipay's gateway still accepts.

The gateway refuses a page.pay request signed more than 15 minutes ago; the payer who
comes back later, or the portal that asks again, gets the same request signed afresh, for
the same trade.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine

from billing.models import PaymentAttempt, PaymentOrder, Processor
from core.models import AuditRecord
from tests.billing.conftest import create_order
from tests.waiting import eventually

RETURN_URL = "https://portal.example.gov.cn/cases/BJ-2026-000123/paid"
OTHER_RETURN_URL = "https://portal.example.gov.cn/cases/BJ-2026-000123/back"
RENEWED = "payment_attempt.pay_url_renewed"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal_http(live_service, portal, fixed_fee, department) -> requests.Session:
    """The portal calling the live service, for a department that accepts Alipay."""
    Processor.objects.create(
        code="alipay",
        legal_name="支付宝（中国）网络技术有限公司",
        licence_number="Z2000133000011",
        licence_scope=["internet_payment", "mobile_payment"],
        licence_valid_until=date.today() + timedelta(days=365),
        max_amount=5_000_000,
    )
    department.accepted_channels = ["public_platform", "alipay"]
    department.save()
    http = requests.Session()
    http.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    return http


def ask_for_payment(http, live_service, order: dict, **body: str) -> dict:
    answer = http.post(
        f"{live_service.url}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "alipay", **body},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def sent(pay_url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(pay_url).query))


def test_a_payer_back_after_15_minutes_gets_a_fresh_link_to_the_same_trade(
    live_service, portal, portal_http
):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)
    cashier = requests.get(first["pay_url"], timeout=5)  # the payer opens it, and leaves
    assert "确认付款" in cashier.text

    with time_machine.travel(timedelta(minutes=16)):
        stale = requests.get(first["pay_url"], timeout=5)
        again = ask_for_payment(portal_http, live_service, order, return_url=OTHER_RETURN_URL)
        reopened = requests.get(again["pay_url"], timeout=5)
        action = unescape(re.search(r'<form method="post" action="([^"]*)"', reopened.text)[1])
        returned = requests.post(
            requests.compat.urljoin(reopened.url, action),
            data={"result": "success"},
            allow_redirects=False,
            timeout=5,
        )

    assert "isv.invalid-timestamp" in stale.text
    assert again["id"] == first["id"]
    assert again["pay_url"] != first["pay_url"]
    kept = ("method", "app_id", "notify_url", "return_url", "biz_content")
    assert {name: sent(again["pay_url"])[name] for name in kept} == {
        name: sent(first["pay_url"])[name] for name in kept
    }
    assert sent(again["pay_url"])["timestamp"] > sent(first["pay_url"])["timestamp"]
    assert reopened.url == cashier.url  # the cashier of the trade the first link opened
    assert returned.headers["Location"].startswith(f"{RETURN_URL}?")
    back = dict(parse_qsl(urlsplit(returned.headers["Location"]).query))
    assert back["out_trade_no"] == first["id"]
    attempt = PaymentAttempt.objects.get()
    assert attempt.pay_url == again["pay_url"]
    [renewal] = AuditRecord.objects.filter(action=RENEWED)
    assert (renewal.object_id, renewal.actor) == (first["id"], "client:portal")
    eventually(lambda: PaymentOrder.objects.get(public_id=order["id"]).status == "paid")
    attempt.refresh_from_db()
    assert (attempt.status, attempt.provider_trade_no) == ("succeeded", back["trade_no"])


def test_a_link_asked_for_again_within_minutes_is_handed_out_as_it_is(
    live_service, portal, portal_http
):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)

    with time_machine.travel(timedelta(minutes=4)):
        again = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)
        opened = requests.get(again["pay_url"], timeout=5)

    assert again["pay_url"] == first["pay_url"]
    assert "确认付款" in opened.text
    assert not AuditRecord.objects.filter(action=RENEWED).exists()


def test_a_qr_code_does_not_age_and_is_handed_out_as_it_is(live_service, portal, portal_http):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order)

    with time_machine.travel(timedelta(minutes=16)):
        again = ask_for_payment(portal_http, live_service, order)

    assert "/sandbox/alipay/qr/" in first["pay_url"]
    assert (again["id"], again["pay_url"]) == (first["id"], first["pay_url"])
    assert not AuditRecord.objects.filter(action=RENEWED).exists()
