"""A payment sandbox's control notify endpoint with ``?send=false``: the trade's signed
notification is answered, not posted nor logged, and the service accepts it when a client
posts it itself. Over HTTP, with the service and the sandboxes on one live server."""

from __future__ import annotations

import base64

import pytest
import requests

from billing.models import OrderStatus, PaymentOrder
from integrations.payments.unionpay.wire import order_id
from tests.billing.conftest import create_order, portal  # noqa: F401 - fixture
from tests.billing.test_processor_flows import (  # noqa: F401 - fixtures
    licensed_processors,
    portal_http,
    start,
)

pytestmark = pytest.mark.django_db(transaction=True)

CHANNELS = ["public_platform", "alipay", "wechatpay", "unionpay"]


@pytest.fixture(params=CHANNELS)
def paid_trade(request, portal_http):  # noqa: F811 - the fixture imported above
    """An order whose trade on the channel is paid at the sandbox's cashier without a
    notification, and the URL of the trade's controls there."""
    channel = request.param
    order = create_order(portal_http.portal)
    attempt = start(portal_http, order, channel).json()
    paid = requests.post(attempt["pay_url"], json={"result": "success", "notify": False})
    assert paid.status_code == 200, paid.text
    trade = order_id(attempt["id"]) if channel == "unionpay" else attempt["id"]
    return order, f"{portal_http.base}/sandbox/{channel}/_control/trades/{trade}"


def order_status(order: dict) -> str:
    return PaymentOrder.objects.get(public_id=order["id"]).status


def deliveries(control: str) -> list[dict]:
    return requests.get(f"{control}/deliveries").json()["deliveries"]


def test_a_rendered_notification_is_not_sent_and_the_service_accepts_it(paid_trade):
    order, control = paid_trade

    rendered = requests.post(f"{control}/notify?send=false").json()

    assert order_status(order) == OrderStatus.PAYING
    assert deliveries(control) == []
    body = base64.b64decode(rendered["body_base64"])
    answer = requests.post(rendered["url"], data=body, headers=rendered["headers"])
    assert 200 <= answer.status_code < 300, answer.text
    assert order_status(order) == OrderStatus.PAID
    assert deliveries(control) == []


def test_without_send_false_the_control_sends_the_notification(paid_trade):
    order, control = paid_trade

    answer = requests.post(f"{control}/notify").json()

    assert 200 <= answer["status_code"] < 300, answer
    assert order_status(order) == OrderStatus.PAID
    assert [d["trigger"] for d in deliveries(control)] == ["control"]
