"""The portal's return address when it starts a payment: checked, and handed to the cashier."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from billing.models import PaymentAttempt
from tests.billing.conftest import create_order
from tests.billing.test_processor_flows import (  # noqa: F401 (fixtures)
    licensed_processors,
    portal_http,
)
from tests.integrations.test_cashier_return import pay_with_the_form

RETURN_URL = "https://portal.example.gov.cn/cases/BJ-2026-000123/paid"


def start(api, order: dict, **body) -> object:
    return api.post(
        f"/api/v1/payment-orders/{order['id']}/payments",
        {"channel": "public_platform", **body},
        format="json",
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("return_url", "problem"),
    [
        ("ftp://portal.example.gov.cn/paid", "absolute http or https"),
        ("/cases/1/paid", "absolute http or https"),
        ("https://user:secret@portal.example.gov.cn/paid", "user name or password"),
        ("https://portal.example.gov.cn/paid?case=1", "no query string or fragment"),
        ("https://portal.example.gov.cn/paid#done", "no query string or fragment"),
        ("https://intranet/paid", "public internet name"),
        ("https://portal.example.gov.cn/" + "p" * 260, "256"),
    ],
)
def test_a_return_address_the_cashiers_cannot_use_is_refused_before_any_call(
    portal, fixed_fee, return_url, problem
):
    order = create_order(portal)

    refused = start(portal, order, return_url=return_url)

    assert refused.status_code == 400, refused.content
    [message] = refused.json()["error"]["fields"]["return_url"]
    assert problem in message
    assert not PaymentAttempt.objects.exists()


@pytest.mark.django_db
def test_a_payer_address_that_is_not_an_ip_address_is_refused(portal, fixed_fee):
    refused = start(portal, create_order(portal), return_url=RETURN_URL, payer_ip="localhost")

    assert refused.status_code == 400
    assert "payer_ip" in refused.json()["error"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_the_platform_cashier_links_the_payer_back_to_the_portal(live_service, portal, fixed_fee):
    http = requests.Session()
    http.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    order = create_order(portal)

    attempt = http.post(
        f"{live_service.url}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "public_platform", "return_url": RETURN_URL},
    ).json()
    settled = requests.post(attempt["pay_url"], data={"result": "success"}, timeout=5)

    assert f'<a href="{RETURN_URL}">' in settled.text


@pytest.mark.django_db(transaction=True)
def test_alipay_with_a_return_address_is_a_page_pay_whose_long_url_is_kept(
    portal,
    portal_http,  # noqa: F811
):
    order = create_order(portal, case_number="市场监管-营业执照补办-二〇二六年第一二三号")

    answer = portal_http.post(
        f"{portal_http.base}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "alipay", "return_url": RETURN_URL},
    )
    attempt = answer.json()
    returned = pay_with_the_form(requests.get(attempt["pay_url"], timeout=5))

    assert answer.status_code == 201, answer.text
    assert len(attempt["pay_url"]) > 1000
    assert PaymentAttempt.objects.get(public_id=attempt["id"]).pay_url == attempt["pay_url"]
    assert returned.headers["Location"].startswith(f"{RETURN_URL}?")
    assert (
        dict(parse_qsl(urlsplit(returned.headers["Location"]).query))["out_trade_no"]
        == (attempt["id"])
    )
