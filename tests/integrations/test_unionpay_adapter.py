"""The UnionPay adapter against its sandbox, over real HTTP on loopback.

The service's notify endpoint is stood in for by a small HTTP receiver; nothing here
patches the adapter's HTTP calls.
"""

from __future__ import annotations

import io
import queue
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial
from urllib.parse import parse_qsl

import pytest
import requests

from core.money import BEIJING
from core.outside import get_channel
from integrations.payments.base import (
    CreateTrade,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from integrations.payments.registry import build_channel
from integrations.payments.unionpay import UnionPayChannel, wire
from tests.integrations import helpers
from tests.integrations.helpers import StubServer, pay, unreachable_url, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def stub_server(stub_server) -> Callable[..., StubServer]:
    """Notify receivers that answer "ok", with no content type, to POSTs only."""
    return partial(
        stub_server,
        default=(200, b"ok"),
        content_type=None,
        path="/notify/unionpay",
        answer_get=False,
    )


@pytest.fixture
def receivers(stub_server) -> Callable[..., StubServer]:
    """Starts a notify receiver that answers with the given statuses in turn, then 200."""

    def start(statuses: list[int] = ()) -> StubServer:
        return stub_server([(status, b"ok") for status in statuses])

    return start


@pytest.fixture
def channel(live_service) -> UnionPayChannel:
    return get_channel("unionpay")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/unionpay"


def new_trade(notify_url: str, **overrides: object) -> CreateTrade:
    fields = {
        "out_trade_no": f"pay_{uuid.uuid4().hex[:24]}",
        "subject": "营业执照补办 工本费",
        "return_url": "https://portal.example.gov.cn/cases/1",
    }
    return helpers.new_trade(notify_url, **{**fields, **overrides})


def new_refund(trade: CreateTrade, notify_url: str, amount: int) -> RefundRequest:
    return RefundRequest(
        out_trade_no=trade.out_trade_no,
        out_refund_no=f"rf_{uuid.uuid4().hex[:24]}",
        amount=amount,
        total_amount=12345,
        reason="材料不全，退回工本费",
        notify_url=notify_url,
        opened_at=trade.opened_at,
        requested_at=datetime.now(BEIJING),
    )


def paid_trade(channel: UnionPayChannel, receiver: StubServer) -> CreateTrade:
    trade = new_trade(receiver.url)
    assert pay(channel.create_trade(trade).pay_url).status_code == 200
    receiver.next_request()
    return trade


def deliveries(sandbox: str, out_trade_no: str) -> list[dict]:
    return helpers.deliveries(sandbox, wire.order_id(out_trade_no))


# -- trades -----------------------------------------------------------------------------


def test_a_trade_is_unknown_until_the_payer_opens_it_then_pending_then_paid(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    unseen = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    page = requests.get(created.pay_url, timeout=5)
    waiting = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    paying = pay(created.pay_url)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert "/sandbox/unionpay/gateway/api/frontTransReq.do?" in created.pay_url
    assert created.provider_trade_no == wire.order_id(trade.out_trade_no)
    assert unseen.status == TradeStatus.NOT_FOUND
    assert page.status_code == 200
    assert "¥123.45" in page.text
    assert 'value="success"' in page.text and 'value="failed"' in page.text
    assert waiting.status == TradeStatus.PENDING
    assert paying.json()["status"] == "succeeded"
    assert paid.status == TradeStatus.SUCCEEDED
    assert (paid.amount, paid.provider_trade_no) == (12345, paying.json()["queryId"])
    assert abs(paid.paid_at - datetime.now(BEIJING)) < timedelta(minutes=1)


def test_the_merchants_auto_submitted_form_opens_the_cashier_whose_button_pays(channel, receiver):
    trade = new_trade(receiver.url)
    action, _, query = channel.create_trade(trade).pay_url.partition("?")
    form = dict(parse_qsl(query))

    opened = requests.post(action, data=form, timeout=5)
    page = requests.post(action, data={**form, "result": "success"}, timeout=5)

    assert opened.status_code == 200
    assert f'name="orderId" value="{form["orderId"]}"' in opened.text
    assert page.status_code == 200
    assert "支付成功" in page.text
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_a_failed_payment_is_reported_with_its_response_code(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, result="failed")

    result = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.FAILED
    assert result.failure_reason.startswith("01 ")


def test_creating_the_same_trade_again_returns_the_same_signed_form(channel, receiver):
    trade = new_trade(receiver.url)

    first = channel.create_trade(trade)
    requests.get(first.pay_url, timeout=5)
    replay = channel.create_trade(trade)

    assert replay == first
    assert requests.get(replay.pay_url, timeout=5).status_code == 200


def test_a_tampered_cashier_url_is_refused_by_the_gateway(channel, receiver):
    created = channel.create_trade(new_trade(receiver.url))

    page = requests.get(created.pay_url.replace("txnAmt=12345", "txnAmt=1"), timeout=5)

    assert page.status_code == 200  # UnionPay shows its error page to the payer
    assert "11 验证签名失败" in page.text
    assert "支付</button>" not in page.text


def test_closing_a_trade_the_gateway_never_saw_reports_not_found(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    assert (
        channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.NOT_FOUND
    )


def test_closing_an_open_trade_is_declined_because_unionpay_has_no_close(channel, receiver):
    trade = new_trade(receiver.url)
    requests.get(channel.create_trade(trade).pay_url, timeout=5)

    with pytest.raises(ProviderDeclined) as refused:
        channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert refused.value.code == "CLOSE_NOT_SUPPORTED"


def test_closing_a_paid_trade_reports_that_it_succeeded(channel, receiver):
    trade = paid_trade(channel, receiver)

    result = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.SUCCEEDED
    assert result.amount == 12345


def test_a_trade_past_its_pay_timeout_cannot_be_paid(channel, receiver):
    trade = new_trade(receiver.url, expires_at=datetime.now(BEIJING) + timedelta(seconds=1))
    created = channel.create_trade(trade)
    requests.get(created.pay_url, timeout=5)

    time.sleep(1.1)
    refused = pay(created.pay_url)

    assert refused.status_code == 409
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.FAILED
    )


# -- notifications ----------------------------------------------------------------------


def test_the_gateway_notifies_the_payment_and_the_adapter_accepts_it(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert notification.result.out_trade_no == trade.out_trade_no
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.notify_id == f"01-{notification.result.provider_trade_no}"


def test_unacknowledged_notifications_are_retried_on_the_schedule_until_http_200(
    channel, sandbox, receivers
):
    receiver = receivers([500, 404, 200])
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    wait_for(lambda: len(deliveries(sandbox, trade.out_trade_no)) >= 3)
    time.sleep(0.1)  # a fourth try would be due 8 ms (8 s / 1000) after the third
    tries = deliveries(sandbox, trade.out_trade_no)

    assert [(d["status_code"], d["acknowledged"]) for d in tries] == [
        (500, False),
        (404, False),
        (200, True),
    ]
    bodies = [receiver.next_request()[1] for _ in range(3)]
    assert len({channel.parse_notification({}, body).notify_id for body in bodies}) == 1


def test_a_lost_notification_can_be_sent_again_through_the_control_endpoint(
    channel, sandbox, receiver
):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, notify=False)
    resend = f"{sandbox}/_control/trades/{wire.order_id(trade.out_trade_no)}/notify"

    with pytest.raises(queue.Empty):
        receiver.next_request(timeout=0.3)
    answer = requests.post(resend, timeout=5).json()

    assert answer == {"status_code": 200, "body": "ok", "error": ""}
    assert channel.parse_notification(*receiver.next_request()).result.status == "succeeded"
    assert [d["trigger"] for d in deliveries(sandbox, trade.out_trade_no)] == ["control"]


# -- refunds and the bill ---------------------------------------------------------------


def test_a_partial_refund_is_accepted_then_notified_and_queried_as_succeeded(channel, receiver):
    trade = paid_trade(channel, receiver)
    request = new_refund(trade, receiver.url, 2000)

    accepted = channel.refund(request)
    notification = channel.parse_notification(*receiver.next_request())
    queried = channel.query_refund(
        out_trade_no=trade.out_trade_no,
        out_refund_no=request.out_refund_no,
        requested_at=request.requested_at,
    )
    again = channel.refund(request)

    assert accepted.status == RefundStatus.PENDING
    assert notification.refund.out_refund_no == request.out_refund_no
    assert notification.refund.status == RefundStatus.SUCCEEDED
    assert notification.refund.amount == 2000
    assert queried.status == RefundStatus.SUCCEEDED
    assert (queried.amount, queried.out_trade_no) == (2000, trade.out_trade_no)
    assert queried.provider_refund_no == accepted.provider_refund_no
    assert again.status == RefundStatus.SUCCEEDED  # the same out_refund_no refunds once


def test_a_refund_above_what_remains_refundable_is_declined(channel, receiver):
    trade = paid_trade(channel, receiver)
    channel.refund(new_refund(trade, receiver.url, 12000))

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, receiver.url, 346))

    assert refused.value.code == "33"


def test_refunding_an_unpaid_trade_is_declined(channel, receiver):
    trade = new_trade(receiver.url)
    requests.get(channel.create_trade(trade).pay_url, timeout=5)

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, receiver.url, 100))

    assert refused.value.code == "NOT_PAID"


def test_the_settlement_file_holds_the_payment_and_the_refund_as_fixed_width_records(
    channel, receiver
):
    trade = paid_trade(channel, receiver)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    refund = channel.refund(new_refund(trade, receiver.url, 2000))
    settle = datetime.strptime(f"{paid.paid_at.year}{paid.raw['settleDate']}", "%Y%m%d").date()

    archive = zipfile.ZipFile(io.BytesIO(channel.fetch_statement(settle)))
    (name,) = archive.namelist()
    lines = archive.read(name).decode("gbk").split("\r\n")
    records = {line[87:108]: line for line in lines if line}  # 查询流水号, field 10

    assert name == f"INN{settle:%y%m%d}88ZM_{channel.mer_id}"
    consume, refunded = records[paid.provider_trade_no], records[refund.provider_refund_no]
    assert consume[:3] == "S22" and refunded[:3] == "S30"
    assert consume[66:78] == "000000012345" and refunded[66:78] == "000000002000"
    assert wire.order_id(trade.out_trade_no) in consume
    assert all(len(line.encode("gbk")) == 607 for line in lines if line)


def test_a_date_without_transactions_has_no_file(channel):
    with pytest.raises(ProviderDeclined) as refused:
        channel.fetch_statement(date.today() - timedelta(days=200))

    assert refused.value.code == "98"


# -- failures ---------------------------------------------------------------------------


def test_an_unreachable_gateway_is_unavailable(settings, receiver):
    config = {**settings.UNIONPAY, "base_url": unreachable_url()}
    channel = UnionPayChannel(**config)
    trade = new_trade(receiver.url)
    channel.create_trade(trade)  # signs locally: no call

    with pytest.raises(ProviderUnavailable):
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)


def test_an_answer_signed_with_another_certificate_is_a_provider_error(
    live_service, settings, receiver
):
    stranger = settings.UNIONPAY["certificate_pem"]  # a valid certificate, not UnionPay's
    channel = UnionPayChannel(**{**settings.UNIONPAY, "unionpay_certificate_pem": stranger})
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    with pytest.raises(ProviderError, match="signature does not verify") as failure:
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert failure.type is ProviderError


def test_a_fresh_adapter_queries_closes_and_refunds_a_trade_another_instance_created(
    channel, receiver, settings
):
    def another_process() -> UnionPayChannel:
        # A new instance built from the settings, sharing nothing (get_channel would reuse one).
        return build_channel("unionpay", settings.UNIONPAY)

    trade = new_trade(receiver.url, opened_at=datetime.now(UTC))  # as the database gives it
    created = channel.create_trade(trade)
    requests.get(created.pay_url, timeout=5)

    waiting = another_process().query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    with pytest.raises(ProviderDeclined) as still_open:
        another_process().close_trade(trade.out_trade_no, opened_at=trade.opened_at)
    pay(created.pay_url)
    receiver.next_request()
    closed = another_process().close_trade(trade.out_trade_no, opened_at=trade.opened_at)
    request = new_refund(trade, receiver.url, 2000)
    accepted = another_process().refund(request)
    receiver.next_request()
    queried = another_process().query_refund(
        out_trade_no=trade.out_trade_no,
        out_refund_no=request.out_refund_no,
        requested_at=request.requested_at,
    )
    again = another_process().refund(request)

    assert waiting.status == TradeStatus.PENDING
    assert still_open.value.code == "CLOSE_NOT_SUPPORTED"
    assert (closed.status, closed.amount) == (TradeStatus.SUCCEEDED, 12345)
    assert accepted.status == RefundStatus.PENDING
    assert (queried.status, queried.amount) == (RefundStatus.SUCCEEDED, 2000)
    assert queried.provider_refund_no == accepted.provider_refund_no
    assert again.status == RefundStatus.SUCCEEDED
