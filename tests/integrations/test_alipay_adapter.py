"""The Alipay adapter against its sandbox, over real HTTP on loopback.

The merchant's notify endpoint and Alipay's outages are real HTTP servers too: nothing
here patches the adapter's HTTP calls.
"""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import pytest
import requests

from core.money import BEIJING
from core.outside import get_channel
from integrations.payments.alipay import AlipayChannel
from integrations.payments.alipay import channel as channel_module
from integrations.payments.alipay.wire import sign_content
from integrations.payments.base import (
    CreateTrade,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
    TradeStatus,
)
from integrations.payments.registry import CHANNEL_CODES
from tests.integrations.clocks import TOO_FAR, skew_clock
from tests.integrations.helpers import (
    StubServer,
    deliveries,
    new_key,
    new_trade,
    pay,
    public_pem,
    today_in_beijing,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

SUCCESS = (200, b"success")


@pytest.fixture
def stub_server(stub_server) -> Callable[..., StubServer]:
    """Stand-ins that answer in plain text, as the merchant's notify endpoint does."""
    return partial(
        stub_server,
        default=SUCCESS,
        content_type="text/plain",
        path="/notify/alipay",
        answer_get=False,
    )


@pytest.fixture
def channel(live_service) -> AlipayChannel:
    return get_channel("alipay")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/alipay"


def paid_trade(channel: AlipayChannel, notify_url: str, **overrides: object) -> CreateTrade:
    trade = new_trade(notify_url, **overrides)
    assert pay(channel.create_trade(trade).pay_url, notify=False).status_code == 200
    return trade


def refund_request(trade: CreateTrade, amount: int, out_refund_no: str = "") -> RefundRequest:
    return RefundRequest(
        out_trade_no=trade.out_trade_no,
        out_refund_no=out_refund_no or f"ref_{uuid.uuid4().hex[:20]}",
        amount=amount,
        total_amount=trade.amount,
        reason="申请人撤回申请",
        notify_url="",
        opened_at=trade.opened_at,
        requested_at=datetime.now(BEIJING),
    )


# -- trades -----------------------------------------------------------------------------


def test_a_trade_exists_once_scanned_and_succeeds_once_the_payer_pays(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    before_scan = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    assert requests.get(created.pay_url, timeout=5).status_code == 200
    waiting = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    assert pay(created.pay_url).json()["trade_status"] == "TRADE_SUCCESS"
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert "/sandbox/alipay/qr/" in created.pay_url
    assert before_scan.status == TradeStatus.NOT_FOUND
    assert (waiting.status, waiting.amount) == (TradeStatus.PENDING, 12345)
    assert paid.status == TradeStatus.SUCCEEDED
    assert (paid.amount, paid.provider_trade_no) == (12345, waiting.provider_trade_no)
    assert abs(paid.paid_at - datetime.now(BEIJING)) < timedelta(minutes=1)


def test_the_cashier_page_shows_the_amount_in_yuan_and_escapes_the_subject(channel, receiver):
    created = channel.create_trade(new_trade(receiver.url))

    page = requests.get(created.pay_url, timeout=5)

    assert "¥123.45" in page.text
    assert "营业执照补办 &lt;工本费&gt;" in page.text
    assert 'value="success"' in page.text and 'value="failed"' in page.text


def test_creating_the_same_trade_again_answers_the_same_qr_code(channel, receiver):
    trade = new_trade(receiver.url)

    first, second = channel.create_trade(trade), channel.create_trade(trade)

    assert first == second


def test_reusing_an_out_trade_no_for_another_amount_is_declined(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    with pytest.raises(ProviderDeclined) as declined:
        channel.create_trade(new_trade(receiver.url, out_trade_no=trade.out_trade_no, amount=1))

    assert declined.value.code == "ACQ.CONTEXT_INCONSISTENT"


def test_a_scanned_unpaid_trade_closes_and_can_no_longer_be_paid(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)
    requests.get(created.pay_url, timeout=5)

    closed = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert closed.status == TradeStatus.CLOSED
    assert pay(created.pay_url).status_code == 409


def test_closing_a_pre_order_nobody_scanned_finds_no_trade(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    assert (
        channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.NOT_FOUND
    )


def test_closing_a_paid_trade_reports_it_paid(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    result = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert (result.status, result.amount) == (TradeStatus.SUCCEEDED, 12345)


def test_a_failed_payment_closes_the_trade(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    assert pay(created.pay_url, result="failed", notify=False).status_code == 200

    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )


# -- notifications ----------------------------------------------------------------------


def test_the_payment_notification_reaches_the_merchant_and_parses(channel, receiver, sandbox):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert (notification.result.out_trade_no, notification.result.amount) == (
        trade.out_trade_no,
        12345,
    )
    wait_for(lambda: [d["acknowledged"] for d in deliveries(sandbox, trade.out_trade_no)] == [True])


def test_a_notification_is_retried_until_the_merchant_answers_success(
    channel, stub_server, sandbox
):
    receiver = stub_server([(500, b""), (200, b"fail")])
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    ids = {channel.parse_notification(*receiver.next_request()).notify_id for _ in range(3)}

    assert len(ids) == 1
    wait_for(lambda: len(deliveries(sandbox, trade.out_trade_no)) == 3)
    tries = deliveries(sandbox, trade.out_trade_no)
    assert [attempt["acknowledged"] for attempt in tries] == [False, False, True]


def test_a_failed_payment_notifies_a_closed_trade(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, result="failed")

    notification = channel.parse_notification(*receiver.next_request())

    assert notification.result.status == TradeStatus.CLOSED


def test_the_control_endpoint_resends_the_notification_now(channel, receiver, sandbox):
    trade = paid_trade(channel, receiver.url)

    answer = requests.post(f"{sandbox}/_control/trades/{trade.out_trade_no}/notify", timeout=5)

    assert answer.json() == {"status_code": 200, "body": "success", "error": ""}
    assert channel.parse_notification(*receiver.next_request()).result.amount == 12345


# -- refunds ----------------------------------------------------------------------------


def test_a_partial_refund_succeeds_once_and_is_found_by_its_query(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    request = refund_request(trade, 2345)

    refunded = channel.refund(request)
    repeated = channel.refund(request)
    queried = channel.query_refund(
        out_trade_no=trade.out_trade_no,
        out_refund_no=request.out_refund_no,
        requested_at=request.requested_at,
    )

    assert (refunded.status, refunded.amount) == (RefundStatus.SUCCEEDED, 2345)
    assert (repeated.status, repeated.amount) == (RefundStatus.SUCCEEDED, 2345)
    assert (queried.status, queried.amount) == (RefundStatus.SUCCEEDED, 2345)
    assert queried.refunded_at is not None
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_a_refund_above_what_remains_refundable_is_declined(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    channel.refund(refund_request(trade, 2345))

    with pytest.raises(ProviderDeclined) as declined:
        channel.refund(refund_request(trade, 10001))

    assert declined.value.code == "ACQ.REASON_TRADE_REFUND_FEE_ERR"


def test_a_refund_nobody_asked_for_is_not_found(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    result = channel.query_refund(
        out_trade_no=trade.out_trade_no,
        out_refund_no="ref_unknown",
        requested_at=datetime.now(BEIJING),
    )

    assert result.status == RefundStatus.NOT_FOUND


def test_a_trade_refunded_in_full_is_still_reported_paid(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    channel.refund(refund_request(trade, 12345))

    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_an_unpaid_trade_cannot_be_refunded(channel, receiver):
    trade = new_trade(receiver.url)
    requests.get(channel.create_trade(trade).pay_url, timeout=5)

    with pytest.raises(ProviderDeclined) as declined:
        channel.refund(refund_request(trade, 100))

    assert declined.value.code == "ACQ.TRADE_STATUS_ERROR"


# -- the bill ---------------------------------------------------------------------------


def test_todays_bill_lists_the_payment_and_the_refund_in_alipays_format(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    refund = refund_request(trade, 2345)
    channel.refund(refund)

    archive = zipfile.ZipFile(io.BytesIO(channel.fetch_statement(today_in_beijing())))
    detail = next(name for name in archive.namelist() if name.endswith("_业务明细.csv"))
    text = archive.read(detail).decode("gbk")
    rows = [row for row in csv.reader(io.StringIO(text)) if row and not row[0].startswith("#")]

    assert text.startswith("#支付宝业务明细查询")
    assert "#-----------------------------------------业务明细列表结束" in text
    assert rows[0][:3] == ["支付宝交易号", "商户订单号", "业务类型"]
    ours = [row for row in rows[1:] if row[1] == f"{trade.out_trade_no}\t"]
    assert [(row[2], row[11], row[12], row[21]) for row in ours] == [
        ("交易", "123.45", "123.45", ""),
        ("退款", "-23.45", "-23.45", refund.out_refund_no),
    ]


def test_a_trade_left_out_of_the_bill_is_missing_from_it(channel, receiver, sandbox):
    kept, left_out = paid_trade(channel, receiver.url), paid_trade(channel, receiver.url)

    answer = requests.post(
        f"{sandbox}/_control/trades/{left_out.out_trade_no}/leave-out-of-bill", timeout=5
    )
    bill = channel.parse_statement(channel.fetch_statement(today_in_beijing()))

    assert answer.status_code == 200, answer.text
    assert kept.out_trade_no in set(bill["ref"])
    assert left_out.out_trade_no not in set(bill["ref"])


def test_a_bill_for_a_day_to_come_is_declined(channel):
    with pytest.raises(ProviderDeclined) as declined:
        channel.fetch_statement(today_in_beijing() + timedelta(days=2))

    assert declined.value.code == "isp.bill_not_exist"


# -- failures ---------------------------------------------------------------------------


def test_an_unreachable_gateway_is_unavailable(settings, receiver):
    channel = AlipayChannel(**{**settings.ALIPAY, "base_url": "http://127.0.0.1:9/gateway.do"})

    with pytest.raises(ProviderUnavailable):
        channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))


def test_a_gateway_answering_503_is_unavailable(settings, stub_server):
    outage = stub_server([(503, b"busy")])
    channel = AlipayChannel(**{**settings.ALIPAY, "base_url": outage.url})

    with pytest.raises(ProviderUnavailable):
        channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))


def test_a_signed_answer_is_verified_over_its_text_as_sent(settings, stub_server):
    alipay = new_key()
    node = (
        '{ "code": "10000", "msg": "Success", "trade_no": "2025060122001400000000000001",\n'
        '  "out_trade_no": "pay_1", "trade_status": "WAIT_BUYER_PAY", "total_amount": "88.80",'
        ' "buyer_logon_id": "\\u6c99***" }'
    )
    body = f'{{"alipay_trade_query_response": {node}, "sign": "{sign_content(node, alipay)}"}}'
    gateway = stub_server([(200, body.encode())])
    channel = AlipayChannel(
        **{**settings.ALIPAY, "base_url": gateway.url, "alipay_public_key_pem": public_pem(alipay)}
    )

    result = channel.query_trade("pay_1", opened_at=datetime.now(BEIJING))

    assert (result.status, result.amount) == (TradeStatus.PENDING, 8880)


def test_answers_signed_by_another_key_are_an_error_not_a_decline(
    live_service, settings, stranger_pems
):
    channel = AlipayChannel(**{**settings.ALIPAY, "alipay_public_key_pem": stranger_pems[1]})

    with pytest.raises(ProviderError) as error:
        channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))

    assert not isinstance(error.value, ProviderDeclined | ProviderUnavailable)


def test_a_request_signed_by_an_unknown_app_key_is_declined(live_service, settings, stranger_pems):
    channel = AlipayChannel(**{**settings.ALIPAY, "private_key_pem": stranger_pems[0]})

    with pytest.raises(ProviderDeclined) as declined:
        channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))

    assert declined.value.code == "isv.invalid-signature"


def test_a_request_whose_timestamp_the_gateway_finds_stale_is_retryable(channel, monkeypatch):
    skew_clock(monkeypatch, channel_module, -TOO_FAR)

    with pytest.raises(ProviderUnavailable, match="clock") as refused:
        channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))

    assert "isv.invalid-timestamp" in str(refused.value)
    monkeypatch.undo()
    found = channel.query_trade("pay_any", opened_at=datetime.now(BEIJING))
    assert found.status == TradeStatus.NOT_FOUND


def test_the_registry_builds_the_alipay_channel_from_settings(live_service):
    assert "alipay" in CHANNEL_CODES
    assert isinstance(get_channel("alipay"), AlipayChannel)
