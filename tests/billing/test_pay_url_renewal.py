"""A pending page.pay attempt handed out again gets a link Alipay's gateway still accepts.

The gateway refuses a page.pay request signed more than 15 minutes ago; the payer who
comes back later, or the portal that asks again, gets the same request signed afresh, for
the same trade.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import time_machine

from billing.models import PaymentAttempt, PaymentOrder
from core.models import AuditRecord
from tests.billing.conftest import create_order
from tests.billing.test_processor_flows import (  # noqa: F401 (fixtures)
    licensed_processors,
    portal_http,
)
from tests.integrations.test_cashier_return import pay_with_the_form
from tests.waiting import eventually

RETURN_URL = "https://portal.example.gov.cn/cases/BJ-2026-000123/paid"
OTHER_RETURN_URL = "https://portal.example.gov.cn/cases/BJ-2026-000123/back"
RENEWED = "payment_attempt.pay_url_renewed"

pytestmark = pytest.mark.django_db(transaction=True)


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
    live_service,
    portal,
    portal_http,  # noqa: F811
):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)
    cashier = requests.get(first["pay_url"], timeout=5)  # the payer opens it, and leaves
    assert "确认付款" in cashier.text

    with time_machine.travel(timedelta(minutes=16)):
        stale = requests.get(first["pay_url"], timeout=5)
        again = ask_for_payment(portal_http, live_service, order, return_url=OTHER_RETURN_URL)
        reopened = requests.get(again["pay_url"], timeout=5)
        returned = pay_with_the_form(reopened)

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
    live_service,
    portal,
    portal_http,  # noqa: F811
):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)

    with time_machine.travel(timedelta(minutes=4)):
        again = ask_for_payment(portal_http, live_service, order, return_url=RETURN_URL)
        opened = requests.get(again["pay_url"], timeout=5)

    assert again["pay_url"] == first["pay_url"]
    assert "确认付款" in opened.text
    assert not AuditRecord.objects.filter(action=RENEWED).exists()


def test_a_qr_code_does_not_age_and_is_handed_out_as_it_is(
    live_service,
    portal,
    portal_http,  # noqa: F811
):
    order = create_order(portal)
    first = ask_for_payment(portal_http, live_service, order)

    with time_machine.travel(timedelta(minutes=16)):
        again = ask_for_payment(portal_http, live_service, order)

    assert "/sandbox/alipay/qr/" in first["pay_url"]
    assert (again["id"], again["pay_url"]) == (first["id"], first["pay_url"])
    assert not AuditRecord.objects.filter(action=RENEWED).exists()
