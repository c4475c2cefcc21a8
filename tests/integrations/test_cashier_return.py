"""Every channel's cashier sends the payer back to the portal's return address.

The adapter puts the address where its provider reads it (Alipay's page.pay return_url,
WeChat Pay's H5 redirect_url, UnionPay's frontUrl, the platform's return_url); the payer
opens the pay_url in the provider's sandbox, pays with the page's own form, and is led
back: by a redirect, a form the browser submits, or a link, as the provider does it.
"""

from __future__ import annotations

import re
import uuid
from html import unescape
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from django.conf import settings

from core.outside import get_channel
from integrations.payments import signing
from integrations.payments.alipay.wire import signed_content, verify_content
from integrations.payments.base import TradeStatus
from tests.integrations.helpers import new_trade

pytestmark = pytest.mark.django_db(transaction=True)

RETURN_URL = "https://portal.example.gov.cn/cases/SC-2026-000777/paid"
NOTIFY_URL = "http://127.0.0.1:9/notify"  # nothing listens: the tests pay with notify off


def open_cashier(pay_url: str) -> requests.Response:
    """The payer's browser opening the pay_url, following the provider's redirects."""
    page = requests.get(pay_url, timeout=5)
    assert page.status_code == 200, page.text
    return page


def pay_with_the_form(page: requests.Response, **fields: str) -> requests.Response:
    """Press the cashier page's pay button: POST its form to its own action, unfollowed."""
    action = unescape(re.search(r'<form method="post" action="([^"]*)"', page.text)[1])
    return requests.post(
        requests.compat.urljoin(page.url, action),
        data={**fields, "result": "success"},
        allow_redirects=False,
        timeout=5,
    )


def hidden_fields(html: str) -> dict[str, str]:
    found = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', html)
    return {name: unescape(value) for name, value in found}


def test_alipay_opens_a_page_pay_and_returns_the_payer_with_signed_return_parameters(
    live_service,
):
    channel = get_channel("alipay")
    trade = new_trade(NOTIFY_URL, return_url=RETURN_URL)

    created = channel.create_trade(trade)
    sent = dict(parse_qsl(urlsplit(created.pay_url).query))
    page = open_cashier(created.pay_url)
    returned = pay_with_the_form(page)

    assert (sent["method"], sent["return_url"]) == ("alipay.trade.page.pay", RETURN_URL)
    assert "FAST_INSTANT_TRADE_PAY" in sent["biz_content"]
    assert returned.status_code == 302
    location = returned.headers["Location"]
    assert location.startswith(f"{RETURN_URL}?")
    back = dict(parse_qsl(urlsplit(location).query))
    assert back["method"] == "alipay.trade.page.pay.return"
    assert (back["out_trade_no"], back["total_amount"]) == (trade.out_trade_no, "123.45")
    alipay_key = signing.load_public_key(settings.ALIPAY["alipay_public_key_pem"])
    content = signed_content(back, exclude=("sign", "sign_type"))
    assert verify_content(content, back["sign"], alipay_key)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    assert (paid.status, paid.provider_trade_no) == (TradeStatus.SUCCEEDED, back["trade_no"])


def test_alipay_without_a_return_address_keeps_the_qr_code(live_service):
    created = get_channel("alipay").create_trade(new_trade(NOTIFY_URL))

    assert "/sandbox/alipay/qr/" in created.pay_url


def test_an_alipay_page_pay_url_altered_on_the_way_is_refused_by_the_gateway(live_service):
    created = get_channel("alipay").create_trade(new_trade(NOTIFY_URL, return_url=RETURN_URL))
    elsewhere = created.pay_url.replace(quote(RETURN_URL, safe=""), quote("https://evil.test/x"))

    refused = requests.get(elsewhere, timeout=5)

    assert "isv.invalid-signature" in refused.text
    assert "确认付款" not in refused.text


def test_wechatpay_h5_appends_the_encoded_redirect_url_and_its_cashier_goes_back_to_it(
    live_service,
):
    channel = get_channel("wechatpay")
    trade = new_trade(NOTIFY_URL, return_url=RETURN_URL, payer_ip="203.0.113.7")

    created = channel.create_trade(trade)
    page = open_cashier(created.pay_url)
    returned = pay_with_the_form(page)

    assert created.pay_url.endswith(f"&redirect_url={quote(RETURN_URL, safe='')}")
    assert (returned.status_code, returned.headers["Location"]) == (302, RETURN_URL)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    assert paid.status == TradeStatus.SUCCEEDED


def test_wechatpay_without_the_payers_address_answers_a_native_code(live_service):
    trade = new_trade(NOTIFY_URL, return_url=RETURN_URL)

    created = get_channel("wechatpay").create_trade(trade)

    assert "redirect_url" not in created.pay_url and "prepay_id" not in created.pay_url


def test_unionpay_sends_the_payer_to_front_url_with_the_signed_front_notification(
    live_service,
):
    channel = get_channel("unionpay")
    trade = new_trade(
        NOTIFY_URL, out_trade_no=f"pay_{uuid.uuid4().hex[:24]}", return_url=RETURN_URL
    )

    created = channel.create_trade(trade)
    page = open_cashier(created.pay_url)
    settled = pay_with_the_form(page, **hidden_fields(page.text))

    assert dict(parse_qsl(urlsplit(created.pay_url).query))["frontUrl"] == RETURN_URL
    assert settled.status_code == 200
    assert f'<form id="front" method="post" action="{RETURN_URL}">' in settled.text
    front = channel.parse_notification({}, urlencode(hidden_fields(settled.text)).encode())
    assert (front.result.out_trade_no, front.result.status) == (
        trade.out_trade_no,
        TradeStatus.SUCCEEDED,
    )


def test_the_public_platform_cashier_links_back_after_paying(live_service):
    created = get_channel("public_platform").create_trade(
        new_trade(NOTIFY_URL, return_url=RETURN_URL)
    )

    settled = pay_with_the_form(open_cashier(created.pay_url))

    assert settled.status_code == 200
    assert f'<a href="{RETURN_URL}">' in settled.text
