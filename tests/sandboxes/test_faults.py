"""Faults put into the sandboxes through their one control, as the service meets them.

Everything runs over HTTP against the live server: the service's adapters call the
sandboxes, and the sandboxes notify the service, as in tests/billing/test_payment_flow.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
import requests
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.utils import timezone

from billing.models import OrderStatus, PaymentNotification, PaymentOrder
from billing.services import attempts
from core.outside import (
    bank_format,
    get_bank,
    get_channel,
    get_courier,
    get_receipt_platform,
    parse_bank_statement,
)
from integrations.errors import ProviderError, ProviderUnavailable, StatementInvalid
from integrations.payments.alipay import AlipayChannel
from integrations.payments.base import TradeStatus
from integrations.revenue.http_json.records import parse_daily_records
from integrations.revenue.http_json.system import HttpJsonRevenueSystem
from ledger.models import LedgerPosting
from sandboxes import state
from tests.billing.conftest import create_order, portal_api
from tests.integrations.helpers import new_trade, pay, today_in_beijing, unreachable_url
from tests.waiting import eventually

FAULTS = "/sandbox/_control/faults"


@pytest.fixture(autouse=True)
def _cleared() -> Iterator[None]:
    """Every fault is cleared after each test: the sandboxes live as long as the process."""
    yield
    Client().delete(FAULTS)


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox"


def put(sandbox: str, party: str, **faults: Any) -> dict[str, Any]:
    answer = requests.post(f"{sandbox}/_control/faults/{party}", json=faults, timeout=5)
    assert answer.status_code == 200, answer.content
    return answer.json()


def faults_of(sandbox: str, party: str) -> dict[str, Any]:
    return requests.get(f"{sandbox}/_control/faults/{party}", timeout=5).json()


# -- the control ------------------------------------------------------------------------


def post(client: Client, path: str, body: object) -> HttpResponse:
    return client.post(path, body, content_type="application/json")


def test_a_partys_faults_are_set_read_and_cleared(client):
    healthy = client.get(f"{FAULTS}/sf").json()

    post(client, f"{FAULTS}/sf", {"down": True, "notifications": {"drop": 2}})
    changed = post(
        client, f"{FAULTS}/sf", {"slow_seconds": 0.5, "notifications": {"delay_seconds": 3}}
    )
    listed = client.get(FAULTS).json()
    cleared = client.delete(f"{FAULTS}/sf").json()

    assert healthy == {
        "down": False,
        "slow_seconds": 0,
        "notifications": {"drop": 0, "duplicate": 0, "delay": 0, "delay_seconds": 0},
        "malformed_next_file": False,
        "leave_out_of_bill": [],
    }
    changed = changed.json()
    assert (changed["down"], changed["slow_seconds"]) == (True, 0.5)
    # A plan of notifications replaces the last; delay_seconds alone delays the next one.
    assert changed["notifications"] == {"drop": 0, "duplicate": 0, "delay": 1, "delay_seconds": 3}
    assert listed == {"sf": changed}
    assert cleared == healthy == client.get(f"{FAULTS}/sf").json()
    assert client.get(FAULTS).json() == {}


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"down": "yes"},
        {"slow_seconds": -1},
        {"slow_seconds": 86400},
        {"notifications": {"drop": 1.5}},
        {"notifications": {"delay": 1}},
        {"notifications": {"lose": 1}},
        {"leave_out_of_bill": "pay_1"},
        {"flood": True},
    ],
)
def test_faults_that_cannot_be_given_are_refused_and_change_nothing(client, body):
    answer = post(client, f"{FAULTS}/alipay", body)

    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_faults"
    assert client.get(FAULTS).json() == {}


def test_an_unknown_party_has_no_faults(client):
    answer = post(client, f"{FAULTS}/dhl", {"down": True})

    assert answer.status_code == 404
    assert answer.json()["code"] == "unknown_party"


def test_the_reset_clears_every_fault(client):
    post(client, f"{FAULTS}/alipay", {"down": True})
    post(client, f"{FAULTS}/banks", {"malformed_next_file": True})

    assert client.post("/sandbox/_control/reset").status_code == 204

    assert client.get(FAULTS).json() == {}


@pytest.fixture
def journalled(settings, tmp_path) -> Iterator[None]:
    """Sandboxes whose stores are journalled, as their own server keeps them."""
    settings.SANDBOX_STATE_DIR = tmp_path
    state.reset_all()
    yield
    state.reset_all()


def test_an_outage_outlasts_a_restart_of_the_sandboxes(client, journalled):
    post(client, f"{FAULTS}/sms", {"down": True})

    state.reload_all()  # what a restarted process does, short of the process

    assert client.post("/sandbox/sms/").status_code == 503


# -- down and slow ----------------------------------------------------------------------


def test_a_party_down_answers_503_to_the_adapter_but_keeps_its_cashier_and_controls(sandbox):
    channel = get_channel("alipay")
    trade = new_trade(unreachable_url())
    created = channel.create_trade(trade)

    put(sandbox, "alipay", down=True)
    with pytest.raises(ProviderUnavailable) as unavailable:
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    gateway = requests.post(f"{sandbox}/alipay/gateway.do", timeout=5)
    paid = pay(created.pay_url, notify=False)
    deliveries = requests.get(
        f"{sandbox}/alipay/_control/trades/{trade.out_trade_no}/deliveries", timeout=5
    )
    requests.delete(f"{sandbox}/_control/faults/alipay", timeout=5)
    queried = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert unavailable.value.http_status == 503
    assert (gateway.status_code, gateway.content) == (503, b"")
    assert paid.status_code == 200
    assert deliveries.status_code == 200
    assert queried.status == TradeStatus.SUCCEEDED


def test_a_slow_party_times_the_adapter_out(sandbox):
    config = settings.ALIPAY
    names = ("base_url", "app_id", "private_key_pem", "alipay_public_key_pem")
    impatient = AlipayChannel(**{name: config[name] for name in names}, timeout=(3.0, 0.3))
    trade = new_trade(unreachable_url())

    put(sandbox, "alipay", slow_seconds=1)
    started = time.monotonic()
    with pytest.raises(ProviderUnavailable, match="Timeout"):
        impatient.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    gave_up_after = time.monotonic() - started
    answered = requests.post(f"{sandbox}/alipay/gateway.do", timeout=5)

    assert gave_up_after < 1
    assert answered.status_code == 200  # late, but the gateway's own answer


# -- notifications ----------------------------------------------------------------------


@pytest.fixture
def paying(live_service, fixed_fee) -> Callable[[], dict[str, Any]]:
    """Pays a new order at the public platform's cashier; answers its payment attempt."""
    portal = portal_api()
    http = requests.Session()
    http.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]

    def pay_an_order() -> dict[str, Any]:
        order = create_order(portal)
        attempt = http.post(
            f"{live_service.url}/api/v1/payment-orders/{order['id']}/payments",
            json={"channel": "public_platform"},
            timeout=10,
        ).json()
        assert pay(attempt["pay_url"]).status_code == 200
        return {**attempt, "order": order["id"]}

    return pay_an_order


def order_status(attempt: dict[str, Any]) -> str:
    return PaymentOrder.objects.get(public_id=attempt["order"]).status


def notified(attempt: dict[str, Any]) -> list[str]:
    found = PaymentNotification.objects.filter(out_trade_no=attempt["id"]).order_by("id")
    return list(found.values_list("outcome", flat=True))


def deliveries(sandbox: str, attempt: dict[str, Any]) -> list[dict[str, Any]]:
    url = f"{sandbox}/public_platform/_control/trades/{attempt['id']}/deliveries"
    return requests.get(url, timeout=5).json()["deliveries"]


def test_a_dropped_notification_never_arrives_and_the_order_waits_for_the_sweeper(sandbox, paying):
    put(sandbox, "public_platform", notifications={"drop": 1})

    dropped = paying()
    time.sleep(1)
    still_paying = order_status(dropped)
    plan_left = faults_of(sandbox, "public_platform")["notifications"]
    delivered = paying()
    eventually(lambda: order_status(delivered) == OrderStatus.PAID)
    attempts.payment_attempts_query_overdue(now=timezone.now() + timedelta(minutes=2))

    assert still_paying == OrderStatus.PAYING
    assert (notified(dropped), deliveries(sandbox, dropped)) == ([], [])
    assert plan_left["drop"] == 0
    assert order_status(dropped) == OrderStatus.PAID  # asked for by the sweeper


def test_a_duplicated_notification_is_delivered_twice_and_applied_once(sandbox, paying):
    put(sandbox, "public_platform", notifications={"duplicate": 1})

    attempt = paying()

    assert eventually(lambda: len(notified(attempt)) == 2)
    assert sorted(notified(attempt)) == ["applied", "duplicate"]
    assert len(deliveries(sandbox, attempt)) == 2
    assert order_status(attempt) == OrderStatus.PAID
    assert LedgerPosting.objects.filter(kind="payment", reference=attempt["id"]).count() == 1


def test_a_delayed_notification_is_overtaken_by_a_later_one(sandbox, paying):
    put(sandbox, "public_platform", notifications={"delay_seconds": 2})

    held_back, later = paying(), paying()
    eventually(lambda: order_status(later) == OrderStatus.PAID)
    overtaken = order_status(held_back)
    eventually(lambda: order_status(held_back) == OrderStatus.PAID)

    assert overtaken == OrderStatus.PAYING
    first, second = (
        PaymentNotification.objects.get(out_trade_no=attempt["id"]).received_at
        for attempt in (later, held_back)
    )
    assert second - first > timedelta(seconds=1)


# -- files ------------------------------------------------------------------------------


def payment_bill(code: str) -> Callable[[], Any]:
    channel = get_channel(code)
    return lambda: channel.parse_statement(channel.fetch_statement(today_in_beijing()))


def paid_today(code: str) -> Callable[[], Any]:
    """The channel's bill of a day it has a payment on (it serves no bill of a day without)."""
    channel = get_channel(code)
    trade = new_trade(unreachable_url())
    pay(channel.create_trade(trade).pay_url, notify=False)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    settled = paid.paid_at.date()
    if code == "unionpay":  # its file is of a settlement date, which it answers as MMDD
        settled = datetime.strptime(f"{settled.year}{paid.raw['settleDate']}", "%Y%m%d").date()
    return lambda: channel.parse_statement(channel.fetch_statement(settled))


def freight_bill(code: str) -> Callable[[], Any]:
    courier = get_courier(code)
    return lambda: courier.parse_freight_bill(courier.fetch_freight_bill(today_in_beijing()))


def bank_statement(code: str) -> Callable[[], Any]:
    bank, account = get_bank(code), settings.BANKS[code]["accounts"][0]
    yesterday = today_in_beijing() - timedelta(days=1)
    return lambda: parse_bank_statement(bank.fetch_statement(account, yesterday), bank_format(code))


def revenue_file() -> Callable[[], Any]:
    code = "hz-fiscal"  # the development system the sandbox has
    system = HttpJsonRevenueSystem(
        base_url=f"{settings.SANDBOX_BASE_URL}/sandbox/revenue/{code}",
        app_key="backoffice",
        secret=settings.SANDBOX_REVENUE["systems"][code],
    )
    return lambda: parse_daily_records(system.fetch_daily_records(today_in_beijing()))


def receipt_day_file() -> Callable[[], Any]:
    platform = get_receipt_platform()
    return lambda: platform.parse_day_file(platform.fetch_day_file(today_in_beijing()))


FILES: dict[str, tuple[str, Callable[[], Callable[[], Any]], type[Exception]]] = {
    "alipay": ("alipay", partial(payment_bill, "alipay"), StatementInvalid),
    "public_platform": (
        "public_platform",
        partial(payment_bill, "public_platform"),
        StatementInvalid,
    ),
    # The adapter reads the bill as it downloads it, and reports a bad one as the provider's.
    "wechatpay": ("wechatpay", partial(paid_today, "wechatpay"), ProviderError),
    "unionpay": ("unionpay", partial(paid_today, "unionpay"), StatementInvalid),
    # A courier's bill parser reports a bad bill as the courier's error.
    "sf": ("sf", partial(freight_bill, "sf"), ProviderError),
    "ems": ("ems", partial(freight_bill, "ems"), ProviderError),
    "camt053": ("banks", partial(bank_statement, "icbc"), StatementInvalid),
    "mt940": ("banks", partial(bank_statement, "abc"), StatementInvalid),
    "csv": ("banks", partial(bank_statement, "ccb"), StatementInvalid),
    "revenue": ("revenue", revenue_file, StatementInvalid),
    "receipts": ("receipts", receipt_day_file, StatementInvalid),
}


@pytest.mark.parametrize("file", FILES)
def test_the_next_file_is_malformed_once_and_the_parser_refuses_it(sandbox, file):
    party, reader, error = FILES[file]
    read = reader()

    put(sandbox, party, malformed_next_file=True)
    with pytest.raises(error):
        read()
    read()

    assert faults_of(sandbox, party)["malformed_next_file"] is False


def test_a_channel_leaves_listed_numbers_out_of_its_bill(sandbox):
    channel = get_channel("wechatpay")
    left_out, kept = new_trade(unreachable_url()), new_trade(unreachable_url())
    for trade in (left_out, kept):
        pay(channel.create_trade(trade).pay_url, notify=False)

    put(sandbox, "wechatpay", leave_out_of_bill=[left_out.out_trade_no])
    refs = set(channel.parse_statement(channel.fetch_statement(today_in_beijing()))["ref"])

    assert kept.out_trade_no in refs
    assert left_out.out_trade_no not in refs
