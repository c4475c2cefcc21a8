"""The WeChat Pay adapter against its sandbox, over real HTTP on loopback.

Stand-ins for WeChat's other behaviours (an outage, an unsigned answer) and for the
service's notify endpoint are real HTTP servers too: nothing here patches the adapter's
HTTP calls.
"""

from __future__ import annotations

import json
import queue
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

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
from integrations.payments.registry import CHANNEL_CODES
from integrations.payments.wechatpay import WechatPayChannel, WechatPayCredentials, wire
from integrations.payments.wechatpay import channel as channel_module
from integrations.payments.wechatpay.bill import parse_trade_bill
from integrations.payments.wechatpay.schemes import build_scheme
from sandboxes.wechatpay.schemes import RSA
from tests.integrations.clocks import TOO_FAR, skew_clock
from tests.integrations.helpers import (
    StubServer,
    deliveries,
    new_trade,
    pay,
    today_in_beijing,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

ACK = (204, b"")


@pytest.fixture
def stub_server(stub_server) -> Callable[..., StubServer]:
    """Stand-ins that acknowledge with 204, as the service's notify endpoint does."""
    return partial(stub_server, default=ACK)


@pytest.fixture
def channel(live_service) -> WechatPayChannel:
    return get_channel("wechatpay")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/wechatpay"


def configured_channel(settings, *, base_url: str = "", **overrides: str) -> WechatPayChannel:
    config = {**settings.WECHATPAY, **overrides}
    fields = WechatPayCredentials.__dataclass_fields__
    credentials = WechatPayCredentials(**{name: config[name] for name in fields})
    return WechatPayChannel(base_url=base_url or config["base_url"], credentials=credentials)


def new_refund(trade: CreateTrade, notify_url: str, **overrides: object) -> RefundRequest:
    fields = {
        "out_trade_no": trade.out_trade_no,
        "out_refund_no": f"rfd_{uuid.uuid4().hex[:20]}",
        "amount": 2345,
        "total_amount": trade.amount,
        "reason": "多缴退费",
        "notify_url": notify_url,
        "opened_at": trade.opened_at,
        "requested_at": datetime.now(BEIJING),
    }
    return RefundRequest(**{**fields, **overrides})


def paid_trade(channel: WechatPayChannel, notify_url: str) -> CreateTrade:
    trade = new_trade(notify_url)
    pay(channel.create_trade(trade).pay_url, notify=False)
    return trade


def wait_until_refunded(channel: WechatPayChannel, request: RefundRequest) -> None:
    """Until the sandbox has processed the refund (it does so a moment after accepting it)."""
    wait_for(
        lambda: channel.query_refund(
            out_trade_no=request.out_trade_no,
            out_refund_no=request.out_refund_no,
            requested_at=request.requested_at,
        ).status
        == RefundStatus.SUCCEEDED
    )


# -- trades ---------------------------------------------------------------------------


def test_a_new_trade_waits_for_payment_and_succeeds_once_the_payer_pays(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    waiting = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    answer = pay(created.pay_url).json()
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert "/sandbox/wechatpay/cashier/" in created.pay_url
    assert waiting.status == TradeStatus.PENDING
    assert (waiting.amount, waiting.provider_trade_no, waiting.paid_at) == (12345, "", None)
    assert answer["trade_state"] == "SUCCESS"
    assert paid.status == TradeStatus.SUCCEEDED
    assert paid.amount == 12345
    assert paid.provider_trade_no == answer["transaction_id"]
    assert abs(paid.paid_at - datetime.now(BEIJING)) < timedelta(minutes=1)
    assert paid.raw["attach"] == "11010012345678901238"


def test_wechat_notifies_the_payment_and_the_adapter_accepts_it(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["event_type"] == "TRANSACTION.SUCCESS"
    assert notification.notify_id
    assert notification.result.out_trade_no == trade.out_trade_no
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.result.paid_at.utcoffset() == timedelta(hours=8)


def test_the_cashier_page_shows_the_amount_in_yuan_and_escapes_the_description(channel, receiver):
    created = channel.create_trade(new_trade(receiver.url))

    page = requests.get(created.pay_url, timeout=5)

    assert page.status_code == 200
    assert "¥123.45" in page.text
    assert "营业执照补办 &lt;工本费&gt;" in page.text
    assert 'value="success"' in page.text
    assert 'value="failed"' in page.text


def test_the_cashier_form_pays_the_trade(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    page = requests.post(created.pay_url, data={"result": "success"}, timeout=5)

    assert "支付成功" in page.text
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_a_failed_payment_is_reported_with_its_reason_and_not_notified(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, result="failed")

    result = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.FAILED
    assert result.failure_reason == "支付失败，请重新下单支付"
    with pytest.raises(queue.Empty):
        receiver.next_request(timeout=0.3)


def test_creating_the_same_trade_again_returns_the_same_code_url(channel, receiver):
    trade = new_trade(receiver.url)

    assert channel.create_trade(trade) == channel.create_trade(trade)


def test_reusing_an_out_trade_no_with_other_parameters_is_declined(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    with pytest.raises(ProviderDeclined) as refused:
        channel.create_trade(new_trade(receiver.url, out_trade_no=trade.out_trade_no, amount=1))

    assert refused.value.code == "OUT_TRADE_NO_USED"


def test_creating_a_trade_that_was_paid_is_declined_as_paid(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    with pytest.raises(ProviderDeclined) as refused:
        channel.create_trade(trade)

    assert refused.value.code == "ORDERPAID"


def test_a_trade_with_an_invalid_parameter_is_declined(channel, receiver):
    with pytest.raises(ProviderDeclined) as refused:
        channel.create_trade(new_trade(receiver.url, amount=0))

    assert refused.value.code == "PARAM_ERROR"
    assert "amount" in str(refused.value)


def test_querying_an_unknown_trade_reports_not_found(channel):
    assert (
        channel.query_trade("pay_never_created", opened_at=datetime.now(BEIJING)).status
        == TradeStatus.NOT_FOUND
    )


def test_closing_an_unpaid_trade_closes_it_and_the_cashier_refuses_payment(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    closed = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)
    refused = pay(created.pay_url)

    assert closed.status == TradeStatus.CLOSED
    assert refused.status_code == 409
    assert refused.json()["trade_state"] == "CLOSED"
    assert (
        channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )


def test_closing_a_paid_trade_reports_that_it_succeeded(channel, receiver):
    trade = paid_trade(channel, receiver.url)

    result = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.SUCCEEDED
    assert result.amount == 12345


def test_closing_an_unknown_trade_reports_not_found(channel):
    assert (
        channel.close_trade("pay_never_created", opened_at=datetime.now(BEIJING)).status
        == TradeStatus.NOT_FOUND
    )


def test_a_trade_past_its_time_expire_is_closed_and_cannot_be_paid(channel, receiver):
    trade = new_trade(receiver.url, expires_at=datetime.now(BEIJING) + timedelta(seconds=2))
    created = channel.create_trade(trade)

    time.sleep(2.1)

    assert pay(created.pay_url).status_code == 409
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )


# -- refunds ----------------------------------------------------------------------------


def test_a_partial_refund_is_processed_then_succeeds_and_is_notified(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    request = new_refund(trade, receiver.url)

    accepted = channel.refund(request)
    wait_until_refunded(channel, request)
    notification = channel.parse_notification(*receiver.next_request())

    assert accepted.status == RefundStatus.PENDING
    assert (accepted.amount, accepted.out_trade_no) == (2345, trade.out_trade_no)
    assert accepted.provider_refund_no.startswith("50")
    assert notification.refund.out_refund_no == request.out_refund_no
    assert notification.refund.status == RefundStatus.SUCCEEDED
    assert notification.refund.amount == 2345
    assert notification.refund.refunded_at is not None
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_asking_for_the_same_refund_again_refunds_once(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    request = new_refund(trade, receiver.url, amount=trade.amount)

    first, again = channel.refund(request), channel.refund(request)

    assert again.provider_refund_no == first.provider_refund_no
    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, receiver.url, amount=1))
    assert refused.value.code == "INVALID_REQUEST"


def test_a_refund_above_what_remains_refundable_is_declined(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    channel.refund(new_refund(trade, receiver.url, amount=10000))

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, receiver.url, amount=2346))

    assert refused.value.code == "INVALID_REQUEST"
    assert channel.refund(new_refund(trade, receiver.url, amount=2345)).amount == 2345


def test_refunding_an_unknown_or_unpaid_trade_is_declined(channel, receiver):
    unpaid = new_trade(receiver.url)
    channel.create_trade(unpaid)

    with pytest.raises(ProviderDeclined) as unknown:
        channel.refund(new_refund(new_trade(receiver.url), receiver.url))
    with pytest.raises(ProviderDeclined) as not_paid:
        channel.refund(new_refund(unpaid, receiver.url))

    assert unknown.value.code == "RESOURCE_NOT_EXISTS"
    assert not_paid.value.code == "INVALID_REQUEST"


def test_querying_an_unknown_refund_reports_not_found(channel):
    result = channel.query_refund(
        out_trade_no="pay_x", out_refund_no="rfd_never_created", requested_at=datetime.now(BEIJING)
    )

    assert result.status == RefundStatus.NOT_FOUND


# -- the bill ---------------------------------------------------------------------------


def test_todays_statement_holds_the_payment_and_the_refund_in_wechats_format(channel, receiver):
    trade = paid_trade(channel, receiver.url)
    refund = new_refund(trade, receiver.url)
    channel.refund(refund)

    content = channel.fetch_statement(today_in_beijing())
    bill = parse_trade_bill(content)
    rows = [row for row in bill.rows if row.out_trade_no == trade.out_trade_no]

    assert content.startswith("\ufeff交易时间,公众账号ID,商户号".encode())
    assert "\r\n总交易单数,应结订单总金额,".encode() in content
    assert [(row.trade_state, row.settlement_amount, row.refund_amount) for row in rows] == [
        ("SUCCESS", 12345, 0),
        ("REFUND", 0, 2345),
    ]
    assert rows[0].fee == 74  # 0.60% of ¥123.45, rounded to the fen
    assert rows[1].out_refund_no == refund.out_refund_no


def test_a_date_without_trades_has_no_statement(channel):
    with pytest.raises(ProviderDeclined) as refused:
        channel.fetch_statement(date(2020, 1, 1))

    assert refused.value.code == "NO_STATEMENT_EXIST"


# -- refusals and failures --------------------------------------------------------------


def test_an_unreachable_gateway_is_unavailable(settings):
    channel = configured_channel(settings, base_url="http://127.0.0.1:9")

    with pytest.raises(ProviderUnavailable):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))


def test_an_answer_that_does_not_verify_with_the_platform_key_is_a_provider_error(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, platform_public_key_pem=stranger_pems[1])

    with pytest.raises(ProviderError, match="does not verify") as failure:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert failure.type is ProviderError


def test_an_answer_signed_under_an_unknown_platform_serial_is_a_provider_error(
    live_service, settings
):
    channel = configured_channel(settings, platform_serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B")

    with pytest.raises(ProviderError, match="serial") as failure:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert failure.type is ProviderError


def test_a_request_signed_with_an_unregistered_key_is_declined(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, private_key_pem=stranger_pems[0])

    with pytest.raises(ProviderDeclined) as refused:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert refused.value.code == "SIGN_ERROR"


def test_a_request_that_reaches_wechat_too_late_is_retryable(channel, monkeypatch):
    skew_clock(monkeypatch, channel_module, -TOO_FAR, readings=1)  # signed, then held

    with pytest.raises(ProviderUnavailable, match=r"SIGN_ERROR answered 120[01] s after.*clock"):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    found = channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))
    assert found.status == TradeStatus.NOT_FOUND


@pytest.mark.parametrize("offset", [-TOO_FAR, TOO_FAR], ids=["behind", "ahead"])
def test_a_clock_that_differs_from_wechats_is_retryable(channel, monkeypatch, offset):
    skew_clock(monkeypatch, channel_module, offset)

    with pytest.raises(ProviderUnavailable, match="clock"):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    monkeypatch.undo()
    found = channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))
    assert found.status == TradeStatus.NOT_FOUND


def test_a_gateway_answering_a_server_error_is_unavailable(settings, stub_server):
    gateway = stub_server([(500, b'{"code":"SYSTEM_ERROR","message":"busy"}')])
    channel = configured_channel(settings, base_url=gateway.url)

    with pytest.raises(ProviderUnavailable, match="HTTP 500"):
        channel.create_trade(new_trade("https://service.example/notify"))


def test_an_unsigned_answer_is_a_provider_error(settings, stub_server):
    gateway = stub_server([(200, b'{"out_trade_no":"pay_anything","trade_state":"SUCCESS"}')])
    channel = configured_channel(settings, base_url=gateway.url)

    with pytest.raises(ProviderError, match="missing") as failure:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert failure.type is ProviderError


def test_requests_carry_a_verifiable_authorization_over_method_path_and_body(settings, stub_server):
    gateway = stub_server([(503, b""), (503, b"")])
    channel = configured_channel(settings, base_url=gateway.url)
    trade = new_trade("https://service.example/notify")
    for call in (
        lambda: channel.create_trade(trade),
        lambda: channel.query_trade("pay_1", opened_at=datetime.now(BEIJING)),
    ):
        with pytest.raises(ProviderUnavailable):
            call()

    post_headers, post_body = gateway.next_request()
    get_headers, get_body = gateway.next_request()
    merchant = settings.SANDBOX_WECHATPAY["merchants"][settings.WECHATPAY["mchid"]]

    def verifies(headers: dict, method: str, url_path: str, body: bytes) -> bool:
        pairs = headers["Authorization"].split(" ", 1)[1].split(",")
        params = {name: value.strip('"') for name, value in (p.split("=", 1) for p in pairs)}
        text = wire.request_text(
            method, url_path, params["timestamp"], params["nonce_str"], body.decode()
        )
        return RSA.verify(text, params["signature"], merchant["public_key_pem"])

    assert post_headers["Authorization"].startswith("WECHATPAY2-SHA256-RSA2048 mchid=")
    assert json.loads(post_body)["amount"] == {"total": 12345, "currency": "CNY"}
    assert json.loads(post_body)["time_expire"].endswith("+08:00")
    assert verifies(post_headers, "POST", "/v3/pay/transactions/native", post_body)
    assert get_body == b""
    assert verifies(
        get_headers, "GET", "/v3/pay/transactions/out-trade-no/pay_1?mchid=1900000001", b""
    )


def signed_query(
    config: dict, sandbox: str, *, timestamp: int, nonce: str, scheme: str = "", path: str = ""
) -> requests.Response:
    """A GET of ``path`` (an order query unless given) signed as ``config`` (a WECHATPAY
    setting) says, in its scheme or the one named, sent to the sandbox as it is."""
    mchid = config["mchid"]
    path = path or f"/v3/pay/transactions/out-trade-no/pay_anything?mchid={mchid}"
    url_path = f"/sandbox/wechatpay{path}"
    signer = build_scheme(
        scheme or config["scheme"],
        private_key_pem=config["private_key_pem"],
        platform_public_key_pem=config["platform_public_key_pem"],
        apiv3_key=config["apiv3_key"],
    )
    text = wire.request_text("GET", url_path, str(timestamp), nonce, "")
    header = wire.authorization(
        signer.signature_type,
        mchid=mchid,
        serial_no=config["merchant_serial_no"],
        nonce=nonce,
        timestamp=str(timestamp),
        signature=signer.sign(text),
    )
    origin = sandbox.removesuffix("/sandbox/wechatpay")
    return requests.get(origin + url_path, headers={"Authorization": header}, timeout=5)


def test_wechat_refuses_a_request_more_than_five_minutes_old(settings, sandbox):
    stale = int(time.time()) - 360

    answer = signed_query(settings.WECHATPAY, sandbox, timestamp=stale, nonce="N1" * 8)

    assert answer.status_code == 401
    assert answer.json()["code"] == "SIGN_ERROR"
    assert "5 minutes" in answer.json()["message"]


def test_wechat_refuses_a_replayed_request(settings, sandbox):
    nonce = secrets.token_hex(16)

    first = signed_query(settings.WECHATPAY, sandbox, timestamp=int(time.time()), nonce=nonce)
    replay = signed_query(settings.WECHATPAY, sandbox, timestamp=int(time.time()), nonce=nonce)

    assert (first.status_code, first.json()["code"]) == (404, "ORDER_NOT_EXIST")
    assert (replay.status_code, replay.json()["code"]) == (401, "SIGN_ERROR")


# -- notification delivery --------------------------------------------------------------


def test_unacknowledged_notifications_are_retried_on_the_schedule_until_acknowledged(
    channel, sandbox, stub_server
):
    receiver = stub_server([(500, b'{"code":"FAIL","message":"busy"}'), (404, b""), (200, b"")])
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    wait_for(lambda: len(deliveries(sandbox, trade.out_trade_no)) >= 3)
    time.sleep(0.4)  # a fourth try would be due 180 ms (3 minutes / 1000) after the third
    tries = deliveries(sandbox, trade.out_trade_no)

    assert [(d["status_code"], d["acknowledged"]) for d in tries] == [
        (500, False),
        (404, False),
        (200, True),
    ]
    times = [datetime.fromisoformat(d["time"]) for d in tries]
    assert times[1] - times[0] >= timedelta(milliseconds=15)
    assert times[2] - times[1] >= timedelta(milliseconds=15)
    notify_ids = {json.loads(receiver.next_request()[1])["id"] for _ in range(3)}
    assert len(notify_ids) == 1


def test_a_lost_notification_can_be_sent_again_through_the_control_endpoint(
    channel, sandbox, receiver
):
    trade = paid_trade(channel, receiver.url)
    resend = f"{sandbox}/_control/trades/{trade.out_trade_no}/notify"

    assert deliveries(sandbox, trade.out_trade_no) == []
    first = requests.post(resend, timeout=5).json()
    again = requests.post(resend, timeout=5).json()
    notifications = [channel.parse_notification(*receiver.next_request()) for _ in range(2)]

    assert first == {"status_code": 204, "body": "", "error": ""}
    assert again == first
    assert notifications[0].notify_id == notifications[1].notify_id
    triggers = [d["trigger"] for d in deliveries(sandbox, trade.out_trade_no)]
    assert triggers == ["control", "control"]


def test_the_control_endpoint_has_nothing_to_send_for_an_unpaid_trade(channel, sandbox, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    answer = requests.post(f"{sandbox}/_control/trades/{trade.out_trade_no}/notify", timeout=5)

    assert answer.status_code == 409
    assert answer.json()["code"] == "NO_NOTIFICATION"


def test_the_sandbox_front_page_lists_trades_with_their_cashier(channel, sandbox, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    page = requests.get(f"{sandbox}/", timeout=5)

    assert trade.out_trade_no in page.text
    assert created.pay_url.split("/sandbox", 1)[1] in page.text


# -- the registry -----------------------------------------------------------------------


def test_the_registry_builds_the_channel_from_the_settings_of_the_moment(settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "base_url": "https://api.mch.weixin.qq.com/"}

    channel = get_channel("wechatpay")

    assert "wechatpay" in CHANNEL_CODES
    assert channel.code == "wechatpay"
    assert channel.base_url == "https://api.mch.weixin.qq.com"


def test_the_registry_names_missing_configuration_without_showing_keys(settings):
    settings.WECHATPAY = {**settings.WECHATPAY, "apiv3_key": ""}

    with pytest.raises(ImproperlyConfigured, match="apiv3_key") as missing:
        get_channel("wechatpay")

    assert "BEGIN" not in str(missing.value)
