"""The public platform adapter against its sandbox, over real HTTP on loopback.

Stand-ins for the platform's other behaviours (an outage, an unsigned answer, a slow
answer) and for the service's notify endpoint are real HTTP servers too: nothing here
patches the adapter's HTTP calls.
"""

from __future__ import annotations

import csv
import hashlib
import json
import queue
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

from core.money import BEIJING
from core.outside import get_channel
from integrations.payments import signing
from integrations.payments.base import (
    CreateTrade,
    InvalidNotification,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeStatus,
)
from integrations.payments.public_platform import PublicPlatformChannel
from integrations.payments.public_platform import channel as channel_module
from integrations.payments.registry import CHANNEL_CODES, UnknownChannel
from tests.integrations import helpers
from tests.integrations.clocks import TOO_FAR, skew_clock
from tests.integrations.helpers import (
    StubServer,
    deliveries,
    key_pems,
    new_key,
    pay,
    today_in_beijing,
    unreachable_url,
    wait_for,
)

ACK = (200, b'{"code":"SUCCESS"}')


@pytest.fixture
def stub_server(stub_server) -> Callable[..., StubServer]:
    """Stand-ins that acknowledge as the service's notify endpoint once their answers run out."""
    return partial(stub_server, default=ACK)


@pytest.fixture
def channel(live_service) -> PublicPlatformChannel:
    return get_channel("public_platform")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/public_platform"


def configured_channel(settings, **overrides: object) -> PublicPlatformChannel:
    return PublicPlatformChannel(**{**settings.PUBLIC_PLATFORM, **overrides})


def new_trade(notify_url: str, **overrides: object) -> CreateTrade:
    return helpers.new_trade(
        notify_url, **{"return_url": "https://portal.example.gov.cn/cases/1", **overrides}
    )


def paid_trade(channel: PublicPlatformChannel) -> CreateTrade:
    """A trade paid at the cashier, without a payment notification."""
    trade = new_trade("https://service.example/notify")
    pay(channel.create_trade(trade).pay_url, notify=False)
    return trade


def new_refund(
    trade: CreateTrade, amount: int, notify_url: str, **overrides: object
) -> RefundRequest:
    fields = {
        "out_trade_no": trade.out_trade_no,
        "out_refund_no": f"rf_{uuid.uuid4().hex[:20]}",
        "amount": amount,
        "total_amount": trade.amount,
        "reason": "重复缴费",
        "notify_url": notify_url,
        "opened_at": trade.opened_at,
        "requested_at": datetime.now(BEIJING),
    }
    return RefundRequest(**{**fields, **overrides})


def settled_refund(channel: PublicPlatformChannel, refund: RefundRequest) -> RefundResult:
    """The refund's result once the platform has decided it."""
    deadline = time.monotonic() + 5
    while True:
        result = channel.query_refund(
            out_trade_no=refund.out_trade_no,
            out_refund_no=refund.out_refund_no,
            requested_at=refund.requested_at,
        )
        if result.status != RefundStatus.PENDING:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("the refund did not settle in time")
        time.sleep(0.02)


def fail_next_refund(sandbox: str, out_trade_no: str) -> requests.Response:
    return requests.post(f"{sandbox}/_control/trades/{out_trade_no}/fail-next-refund", timeout=5)


def signed_answer(settings, data: dict) -> bytes:
    """A SUCCESS answer signed with the sandbox platform's key, as a stand-in would send it."""
    key = signing.load_private_key(settings.SANDBOX_PUBLIC_PLATFORM["platform_private_key_pem"])
    return json.dumps(
        signing.signed({"code": "SUCCESS", "message": "OK", "data": data}, key)
    ).encode()


# -- trades ---------------------------------------------------------------------------


def test_a_new_trade_waits_for_payment_and_succeeds_once_the_payer_pays(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    waiting = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    assert pay(created.pay_url).json()["trade_status"] == "SUCCESS"
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert created.pay_url.endswith(f"/sandbox/public_platform/cashier/{created.provider_trade_no}")
    assert waiting.status == TradeStatus.PENDING
    assert (waiting.amount, waiting.provider_trade_no) == (12345, created.provider_trade_no)
    assert paid.status == TradeStatus.SUCCEEDED
    assert paid.amount == 12345
    assert paid.paid_at is not None
    assert abs(paid.paid_at - datetime.now(BEIJING)) < timedelta(minutes=1)


def test_the_cashier_page_shows_the_amount_in_yuan_and_escapes_the_subject(channel, receiver):
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

    assert page.status_code == 200
    assert "支付成功" in page.text
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )


def test_a_failed_payment_is_reported_with_its_reason(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    pay(created.pay_url, result="failed")
    result = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.FAILED
    assert result.failure_reason == "BANK_DECLINED"
    assert result.paid_at is None


def test_creating_the_same_trade_again_returns_the_first_trade(channel, receiver):
    trade = new_trade(receiver.url)

    first = channel.create_trade(trade)
    replay = channel.create_trade(trade)

    assert replay == first


def test_reusing_an_out_trade_no_with_other_parameters_is_declined(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    with pytest.raises(ProviderDeclined) as refused:
        channel.create_trade(new_trade(receiver.url, out_trade_no=trade.out_trade_no, amount=1))

    assert refused.value.code == "OUT_TRADE_NO_USED"


def test_a_trade_with_an_invalid_parameter_is_declined(channel, receiver):
    with pytest.raises(ProviderDeclined) as refused:
        channel.create_trade(new_trade(receiver.url, amount=0))

    assert refused.value.code == "INVALID_PARAMETER"
    assert "amount" in str(refused.value)


def test_querying_an_unknown_trade_reports_not_found(channel):
    result = channel.query_trade("pay_never_created", opened_at=datetime.now(BEIJING))

    assert result.status == TradeStatus.NOT_FOUND


def test_closing_an_unpaid_trade_closes_it_and_the_cashier_refuses_payment(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    closed = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)
    refused = pay(created.pay_url)

    assert closed.status == TradeStatus.CLOSED
    assert refused.status_code == 409
    assert refused.json()["trade_status"] == "CLOSED"
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )
    assert (
        channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )


def test_closing_a_paid_trade_reports_that_it_succeeded(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    result = channel.close_trade(trade.out_trade_no, opened_at=trade.opened_at)

    assert result.status == TradeStatus.SUCCEEDED
    assert result.amount == 12345
    assert result.paid_at is not None


def test_closing_an_unknown_trade_reports_not_found(channel):
    assert (
        channel.close_trade("pay_never_created", opened_at=datetime.now(BEIJING)).status
        == TradeStatus.NOT_FOUND
    )


def test_a_trade_past_its_expire_time_is_closed_and_cannot_be_paid(channel, receiver):
    trade = new_trade(receiver.url, expires_at=datetime.now(BEIJING) + timedelta(seconds=2))
    created = channel.create_trade(trade)

    time.sleep(2.1)
    refused = pay(created.pay_url)

    assert refused.status_code == 409
    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.CLOSED
    )


# -- refusals and failures --------------------------------------------------------------


def test_an_answer_that_does_not_verify_with_the_platform_key_is_a_provider_error(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, platform_public_key_pem=stranger_pems[1])

    with pytest.raises(ProviderError, match="signature does not verify") as failure:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert failure.type is ProviderError


def test_a_request_signed_with_an_unregistered_key_is_declined(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, private_key_pem=stranger_pems[0])

    with pytest.raises(ProviderDeclined) as refused:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert refused.value.code == "INVALID_SIGNATURE"


def test_a_request_from_an_unknown_app_is_declined(live_service, settings):
    channel = configured_channel(settings, app_id="unknown-app")

    with pytest.raises(ProviderDeclined) as refused:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert refused.value.code == "INVALID_APP_ID"


@pytest.mark.parametrize("offset", [-TOO_FAR, TOO_FAR], ids=["late", "early"])
def test_a_request_whose_timestamp_the_platform_finds_stale_is_retryable(
    channel, monkeypatch, offset
):
    skew_clock(monkeypatch, channel_module, offset)

    with pytest.raises(ProviderUnavailable, match="clock") as refused:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert "INVALID_TIMESTAMP" in str(refused.value)
    monkeypatch.undo()
    found = channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))
    assert found.status == TradeStatus.NOT_FOUND


def test_an_unreachable_platform_is_unavailable(settings):
    channel = configured_channel(settings, base_url=unreachable_url())

    with pytest.raises(ProviderUnavailable):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))


def test_a_platform_answering_a_server_error_is_unavailable(settings, stub_server):
    platform = stub_server([(503, b"<html>busy</html>")])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        channel.create_trade(new_trade("https://service.example/notify"))


def test_a_platform_answering_too_slowly_is_unavailable(settings, stub_server):
    platform = stub_server(delay=1)
    channel = configured_channel(settings, base_url=platform.url, timeout=(1, 0.2))

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))


def test_an_unsigned_answer_is_a_provider_error(settings, stub_server):
    unsigned = {"code": "SUCCESS", "message": "OK", "data": {"out_trade_no": "pay_anything"}}
    platform = stub_server([(200, json.dumps(unsigned).encode())])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="signature does not verify") as failure:
        channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    assert failure.type is ProviderError


def test_requests_are_signed_json_with_a_fresh_timestamp_and_nonce(settings, stub_server):
    platform = stub_server([(503, b""), (503, b"")])
    channel = configured_channel(settings, base_url=platform.url)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            channel.query_trade("pay_anything", opened_at=datetime.now(BEIJING))

    (headers, first), (_, second) = platform.next_request(), platform.next_request()
    request = signing.loads_object(first)
    merchant_key = settings.SANDBOX_PUBLIC_PLATFORM["merchant_public_keys"][request["app_id"]]

    assert headers["Content-Type"].startswith("application/json")
    assert signing.verify(request, signing.load_public_key(merchant_key))
    assert request["method"] == "trade.query"
    assert request["biz_content"] == {"out_trade_no": "pay_anything"}
    assert request["timestamp"].endswith("+08:00")
    assert request["nonce"] != signing.loads_object(second)["nonce"]


def _gateway_request(settings, **overrides: object) -> dict:
    envelope = {
        "app_id": settings.PUBLIC_PLATFORM["app_id"],
        "method": "trade.query",
        "version": "1.0",
        "timestamp": datetime.now(BEIJING).isoformat(timespec="seconds"),
        "nonce": uuid.uuid4().hex,
        "biz_content": {"out_trade_no": "pay_anything"},
        **overrides,
    }
    key = signing.load_private_key(settings.PUBLIC_PLATFORM["private_key_pem"])
    return signing.signed(envelope, key)


def _post_gateway(sandbox: str, settings, envelope: dict) -> dict:
    answer = requests.post(f"{sandbox}/gateway/trade/query", json=envelope, timeout=5).json()
    platform_key = signing.load_public_key(settings.PUBLIC_PLATFORM["platform_public_key_pem"])
    assert signing.verify(answer, platform_key)
    return answer


def test_the_platform_refuses_a_request_more_than_five_minutes_old(sandbox, settings):
    stale = (datetime.now(BEIJING) - timedelta(minutes=6)).isoformat(timespec="seconds")

    answer = _post_gateway(sandbox, settings, _gateway_request(settings, timestamp=stale))

    assert answer["code"] == "INVALID_TIMESTAMP"
    assert answer["data"] is None


def test_the_platform_refuses_a_replayed_request(sandbox, settings):
    envelope = _gateway_request(settings)

    first = _post_gateway(sandbox, settings, envelope)
    replay = _post_gateway(sandbox, settings, envelope)

    assert first["code"] == "TRADE_NOT_EXIST"
    assert replay["code"] == "NONCE_USED"


# -- notifications ----------------------------------------------------------------------


def test_the_platform_notifies_the_payment_and_the_adapter_accepts_it(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)
    pay(created.pay_url)

    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert headers["Content-Type"].startswith("application/json")
    assert notification.notify_id
    assert notification.result.out_trade_no == trade.out_trade_no
    assert notification.result.provider_trade_no == created.provider_trade_no
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.result.paid_at.utcoffset() == timedelta(hours=8)


def test_a_failed_payment_is_notified_as_failed(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, result="failed")

    notification = channel.parse_notification(*receiver.next_request())

    assert notification.result.status == TradeStatus.FAILED
    assert notification.result.failure_reason == "BANK_DECLINED"


def test_a_notification_with_a_tampered_amount_is_rejected(channel, receiver):
    pay(channel.create_trade(new_trade(receiver.url)).pay_url)
    headers, body = receiver.next_request()
    tampered = {**json.loads(body), "amount": 1}

    with pytest.raises(InvalidNotification, match="signature"):
        channel.parse_notification(headers, json.dumps(tampered).encode())


def test_a_notification_checked_with_another_platform_key_is_rejected(
    channel, receiver, settings, stranger_pems
):
    pay(channel.create_trade(new_trade(receiver.url)).pay_url)
    suspicious = configured_channel(settings, platform_public_key_pem=stranger_pems[1])

    with pytest.raises(InvalidNotification, match="signature"):
        suspicious.parse_notification(*receiver.next_request())


def test_unacknowledged_notifications_are_retried_on_the_schedule_until_acknowledged(
    channel, sandbox, stub_server
):
    receiver = stub_server([(500, b"oops"), (200, b"OK"), ACK])
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    wait_for(lambda: len(deliveries(sandbox, trade.out_trade_no)) >= 3)
    time.sleep(0.5)  # a fourth try would be due 180 ms (3 minutes / 1000) after the third
    tries = deliveries(sandbox, trade.out_trade_no)

    assert [(d["status_code"], d["acknowledged"]) for d in tries] == [
        (500, False),
        (200, False),
        (200, True),
    ]
    times = [datetime.fromisoformat(d["time"]) for d in tries]
    assert times[1] - times[0] >= timedelta(milliseconds=15)
    assert times[2] - times[1] >= timedelta(milliseconds=30)
    notify_ids = {json.loads(receiver.next_request()[1])["notify_id"] for _ in range(3)}
    assert len(notify_ids) == 1


def test_a_lost_notification_can_be_sent_again_through_the_control_endpoint(
    channel, sandbox, receiver
):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url, notify=False)
    resend = f"{sandbox}/_control/trades/{trade.out_trade_no}/notify"

    assert (
        channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).status
        == TradeStatus.SUCCEEDED
    )
    assert deliveries(sandbox, trade.out_trade_no) == []
    with pytest.raises(queue.Empty):
        receiver.next_request(timeout=0.3)

    first = requests.post(resend, timeout=5).json()
    again = requests.post(resend, timeout=5).json()
    notifications = [channel.parse_notification(*receiver.next_request()) for _ in range(2)]

    assert first == {"status_code": 200, "body": '{"code":"SUCCESS"}', "error": ""}
    assert again == first
    assert notifications[0].notify_id == notifications[1].notify_id
    assert [d["trigger"] for d in deliveries(sandbox, trade.out_trade_no)] == ["control"] * 2


def test_the_control_endpoint_has_nothing_to_send_for_an_unpaid_trade(channel, sandbox, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    answer = requests.post(f"{sandbox}/_control/trades/{trade.out_trade_no}/notify", timeout=5)

    assert answer.status_code == 409
    assert answer.json()["code"] == "NO_NOTIFICATION"


# -- refunds --------------------------------------------------------------------------


def test_a_paid_trade_is_refunded_in_part_then_for_the_rest(channel, receiver):
    trade = paid_trade(channel)
    part, rest = new_refund(trade, 5000, receiver.url), new_refund(trade, 7345, receiver.url)

    asked = [channel.refund(part), channel.refund(rest)]
    settled = [settled_refund(channel, part), settled_refund(channel, rest)]

    assert [result.status for result in asked] == [RefundStatus.PENDING] * 2
    assert [result.amount for result in asked] == [5000, 7345]
    assert asked[0].refunded_at is None
    assert asked[0].out_trade_no == trade.out_trade_no
    assert asked[0].provider_refund_no != asked[1].provider_refund_no
    assert [result.status for result in settled] == [RefundStatus.SUCCEEDED] * 2
    assert [result.amount for result in settled] == [5000, 7345]
    assert [r.provider_refund_no for r in settled] == [r.provider_refund_no for r in asked]
    assert settled[0].out_refund_no == part.out_refund_no
    assert abs(settled[0].refunded_at - datetime.now(BEIJING)) < timedelta(minutes=1)
    assert settled[0].refunded_at.utcoffset() == timedelta(hours=8)


def test_refunding_more_than_remains_of_the_trade_is_declined(channel, receiver):
    trade = paid_trade(channel)
    channel.refund(new_refund(trade, 10000, receiver.url))

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, 2346, receiver.url))
    rest = channel.refund(new_refund(trade, 2345, receiver.url))

    assert refused.value.code == "REFUND_AMOUNT_EXCEEDED"
    assert rest.amount == 2345


def test_asking_for_the_same_refund_again_returns_it_and_takes_no_more_money(channel, receiver):
    trade = paid_trade(channel)
    refund = new_refund(trade, 12345, receiver.url)

    first = channel.refund(refund)
    replay = channel.refund(refund)
    settled = settled_refund(channel, refund)
    replay_after_settling = channel.refund(refund)

    # A second refund of the whole amount would have been refused as exceeding the trade.
    assert replay.provider_refund_no == first.provider_refund_no
    assert replay.amount == 12345
    assert replay_after_settling == settled
    assert replay_after_settling.status == RefundStatus.SUCCEEDED


def test_reusing_an_out_refund_no_with_other_parameters_is_declined(channel, receiver):
    trade = paid_trade(channel)
    refund = new_refund(trade, 5000, receiver.url)
    channel.refund(refund)

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, 5001, receiver.url, out_refund_no=refund.out_refund_no))

    assert refused.value.code == "OUT_REFUND_NO_USED"


def test_a_trade_that_is_not_paid_cannot_be_refunded(channel, receiver):
    trade = new_trade(receiver.url)
    channel.create_trade(trade)

    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(trade, 100, receiver.url))

    assert refused.value.code == "TRADE_NOT_PAID"


def test_refunding_an_unknown_trade_is_declined(channel, receiver):
    with pytest.raises(ProviderDeclined) as refused:
        channel.refund(new_refund(new_trade(receiver.url), 100, receiver.url))

    assert refused.value.code == "TRADE_NOT_EXIST"


def test_querying_a_refund_the_platform_does_not_have_reports_not_found(channel, receiver):
    trade, other = paid_trade(channel), paid_trade(channel)
    refund = new_refund(trade, 100, receiver.url)
    channel.refund(refund)

    unknown = channel.query_refund(
        out_trade_no=trade.out_trade_no,
        out_refund_no="rf_never",
        requested_at=datetime.now(BEIJING),
    )
    other_trade = channel.query_refund(
        out_trade_no=other.out_trade_no,
        out_refund_no=refund.out_refund_no,
        requested_at=refund.requested_at,
    )
    no_trade = channel.query_refund(
        out_trade_no="pay_never", out_refund_no="rf_never", requested_at=datetime.now(BEIJING)
    )

    assert unknown == RefundResult(
        out_refund_no="rf_never", status=RefundStatus.NOT_FOUND, out_trade_no=trade.out_trade_no
    )
    assert other_trade.status == RefundStatus.NOT_FOUND
    assert no_trade.status == RefundStatus.NOT_FOUND


def test_the_platform_notifies_the_refund_and_the_adapter_parses_it(channel, receiver):
    trade = paid_trade(channel)
    refund = new_refund(trade, 5000, receiver.url)
    asked = channel.refund(refund)

    headers, body = receiver.next_request()
    notification = channel.parse_notification(headers, body)

    assert json.loads(body)["notify_type"] == "refund.status_sync"
    assert notification.notify_id
    assert notification.result is None
    assert notification.refund.status == RefundStatus.SUCCEEDED
    assert notification.refund.out_refund_no == refund.out_refund_no
    assert notification.refund.out_trade_no == trade.out_trade_no
    assert notification.refund.provider_refund_no == asked.provider_refund_no
    assert notification.refund.amount == 5000
    assert notification.refund.refunded_at.utcoffset() == timedelta(hours=8)


def test_an_unacknowledged_refund_notification_is_retried_with_the_same_notify_id(
    channel, stub_server
):
    receiver = stub_server([(500, b"oops"), (200, b"OK")])
    channel.refund(new_refund(paid_trade(channel), 100, receiver.url))

    tries = [channel.parse_notification(*receiver.next_request()) for _ in range(3)]
    with pytest.raises(queue.Empty):
        receiver.next_request(timeout=0.3)  # the third try was acknowledged

    assert len({notification.notify_id for notification in tries}) == 1


def test_a_refund_made_to_fail_is_reported_failed_and_its_amount_can_be_refunded_again(
    channel, sandbox, receiver
):
    trade = paid_trade(channel)
    failing, again = new_refund(trade, 12345, receiver.url), new_refund(trade, 12345, receiver.url)

    control = fail_next_refund(sandbox, trade.out_trade_no)
    asked = channel.refund(failing)
    notification = channel.parse_notification(*receiver.next_request())
    failed = settled_refund(channel, failing)
    channel.refund(again)

    assert control.status_code == 200
    assert asked.status == RefundStatus.PENDING
    assert notification.refund.status == RefundStatus.FAILED
    assert notification.refund.failure_reason == "PAYER_ACCOUNT_ABNORMAL"
    assert (failed.status, failed.refunded_at, failed.amount) == (RefundStatus.FAILED, None, 12345)
    assert settled_refund(channel, again).status == RefundStatus.SUCCEEDED


def test_the_fail_next_refund_control_needs_a_known_trade(sandbox):
    assert fail_next_refund(sandbox, "pay_never_created").status_code == 404


def test_a_refund_to_a_platform_answering_a_server_error_is_unavailable(settings, stub_server):
    platform = stub_server([(502, b"<html>bad gateway</html>")])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderUnavailable, match="HTTP 502"):
        channel.refund(new_refund(new_trade(platform.url), 100, platform.url))


def test_a_refund_answer_about_another_refund_is_a_provider_error(settings, stub_server):
    trade = new_trade("https://service.example/notify")
    other = {"out_trade_no": trade.out_trade_no, "out_refund_no": "rf_other"}
    platform = stub_server([(200, signed_answer(settings, other))])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="not about") as failure:
        channel.refund(new_refund(trade, 100, platform.url))

    assert failure.type is ProviderError


# -- statements -------------------------------------------------------------------------


def statement_rows(statement: bytes) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """The header, the records and the totals line of a statement."""
    lines = list(csv.reader(statement.decode("utf-8").splitlines()))
    header, *records, totals = lines
    return header, [dict(zip(header, record, strict=True)) for record in records], totals


def test_the_statement_lists_the_days_payments_and_refunds_and_their_totals(
    channel, sandbox, receiver
):
    trade = paid_trade(channel)
    refund, failing = new_refund(trade, 5000, receiver.url), new_refund(trade, 100, receiver.url)
    channel.refund(refund)
    settled_refund(channel, refund)
    fail_next_refund(sandbox, trade.out_trade_no)
    channel.refund(failing)
    settled_refund(channel, failing)
    paid_at = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at).paid_at

    header, records, totals = statement_rows(channel.fetch_statement(paid_at.date()))
    mine = [record for record in records if record["out_trade_no"] == trade.out_trade_no]

    assert header == [
        "record_type",
        "trade_no",
        "out_trade_no",
        "out_refund_no",
        "payment_code",
        "department_code",
        "amount_fen",
        "fee_fen",
        "status",
        "time",
    ]
    assert [(r["record_type"], r["out_refund_no"], r["amount_fen"]) for r in mine] == [
        ("PAYMENT", "", "12345"),
        ("REFUND", refund.out_refund_no, "5000"),
    ]
    assert {(r["payment_code"], r["department_code"], r["fee_fen"], r["status"]) for r in mine} == {
        (trade.payment_code, trade.department_code, "0", "SUCCESS")
    }
    assert datetime.fromisoformat(mine[0]["time"]) == paid_at
    assert mine[1]["time"].endswith("+08:00")
    sums = {
        kind: sum(int(r["amount_fen"]) for r in records if r["record_type"] == kind)
        for kind in ("PAYMENT", "REFUND")
    }
    assert totals == ["#total", str(len(records)), str(sums["PAYMENT"]), str(sums["REFUND"])]


def test_the_statement_of_a_day_without_trades_has_a_header_and_zero_totals(channel):
    statement = channel.fetch_statement(date(2000, 1, 1))

    assert statement == (
        b"record_type,trade_no,out_trade_no,out_refund_no,payment_code,department_code,"
        b"amount_fen,fee_fen,status,time\n#total,0,0,0\n"
    )


def test_the_statement_of_a_day_to_come_is_declined(channel):
    tomorrow = today_in_beijing() + timedelta(days=1)

    with pytest.raises(ProviderDeclined) as refused:
        channel.fetch_statement(tomorrow)

    assert refused.value.code == "INVALID_PARAMETER"


def test_a_statement_that_does_not_match_its_signed_sha256_is_a_provider_error(
    settings, stub_server
):
    download = stub_server([(200, b"record_type\n#total,0,0,0\n")])
    answer = {
        "bill_date": "2025-06-01",
        "download_url": f"{download.url}/bill",
        "sha256": hashlib.sha256(b"another file").hexdigest(),
    }
    platform = stub_server([(200, signed_answer(settings, answer))])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="sha256"):
        channel.fetch_statement(date(2025, 6, 1))


# -- notifications the sandbox cannot produce, signed here with a stand-in platform key --


@pytest.fixture(scope="module")
def stand_in() -> tuple[PublicPlatformChannel, rsa.RSAPrivateKey]:
    """A channel trusting a platform key that these tests hold, and that key."""
    platform = new_key()
    channel = PublicPlatformChannel(
        base_url="http://127.0.0.1:9",
        app_id="app-0001",
        private_key_pem=key_pems(new_key())[0],
        platform_public_key_pem=key_pems(platform)[1],
    )
    return channel, platform


NOTIFICATION = {
    "notify_id": "6f1c0d2e8a7b4c2d9e0f1a2b3c4d5e6f",
    "notify_time": "2025-06-01T14:30:05+08:00",
    "notify_type": "trade.status_sync",
    "app_id": "app-0001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "trade_no": "202506010000000000001234",
    "payment_code": "11010012345678901238",
    "amount": 12345,
    "trade_status": "SUCCESS",
    "paid_time": "2025-06-01T14:30:02+08:00",
    "fail_reason": "",
}


def _signed_body(key: rsa.RSAPrivateKey, **changes: object) -> bytes:
    return json.dumps(signing.signed({**NOTIFICATION, **changes}, key), ensure_ascii=False).encode()


def test_a_well_formed_notification_parses_into_a_trade_result(stand_in):
    channel, platform = stand_in

    notification = channel.parse_notification({}, _signed_body(platform))

    assert notification.notify_id == NOTIFICATION["notify_id"]
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.result.paid_at == datetime(2025, 6, 1, 14, 30, 2, tzinfo=BEIJING)


@pytest.mark.parametrize("amount", ["12345", 123.45, True, -1, None])
def test_a_notification_whose_amount_is_not_whole_fen_is_rejected(stand_in, amount):
    channel, platform = stand_in

    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, _signed_body(platform, amount=amount))


@pytest.mark.parametrize(
    "changes",
    [
        {"app_id": "another-app"},
        {"notify_type": "trade.refunded"},
        {"notify_id": ""},
        {"trade_status": "REFUNDED"},
        {"paid_time": "2025-06-01T14:30:02"},
        {"paid_time": None},
    ],
    ids=["other-app", "other-type", "no-notify-id", "unknown-status", "naive-time", "no-time"],
)
def test_a_signed_notification_with_a_wrong_field_is_rejected(stand_in, changes):
    channel, platform = stand_in

    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, _signed_body(platform, **changes))


REFUND_NOTIFICATION = {
    "notify_id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
    "notify_time": "2025-06-02T10:00:03+08:00",
    "notify_type": "refund.status_sync",
    "app_id": "app-0001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "out_refund_no": "rf_abcdefghijklmnopqrst",
    "refund_no": "202506020000000000005678",
    "refund_amount": 5000,
    "refund_status": "SUCCESS",
    "refund_time": "2025-06-02T10:00:02+08:00",
    "fail_reason": "",
}


def _signed_refund_body(key: rsa.RSAPrivateKey, **changes: object) -> bytes:
    message = {**REFUND_NOTIFICATION, **changes}
    return json.dumps(signing.signed(message, key), ensure_ascii=False).encode()


def test_a_well_formed_refund_notification_parses_into_a_refund_result(stand_in):
    channel, platform = stand_in

    notification = channel.parse_notification({}, _signed_refund_body(platform))

    assert notification.notify_id == REFUND_NOTIFICATION["notify_id"]
    assert notification.result is None
    assert notification.refund == RefundResult(
        out_refund_no="rf_abcdefghijklmnopqrst",
        status=RefundStatus.SUCCEEDED,
        amount=5000,
        out_trade_no="pay_abcdefghijklmnopqrst",
        provider_refund_no="202506020000000000005678",
        refunded_at=datetime(2025, 6, 2, 10, 0, 2, tzinfo=BEIJING),
    )


def test_a_failed_refund_notification_carries_its_reason_and_no_time(stand_in):
    channel, platform = stand_in
    body = _signed_refund_body(
        platform, refund_status="FAILED", refund_time=None, fail_reason="PAYER_ACCOUNT_ABNORMAL"
    )

    refund = channel.parse_notification({}, body).refund

    assert (refund.status, refund.refunded_at) == (RefundStatus.FAILED, None)
    assert refund.failure_reason == "PAYER_ACCOUNT_ABNORMAL"


@pytest.mark.parametrize(
    "changes",
    [
        {"refund_amount": 50.0},
        {"refund_amount": "5000"},
        {"refund_amount": True},
        {"refund_status": "REFUNDED"},
        {"refund_status": ["SUCCESS"]},
        {"refund_time": "2025-06-02T10:00:02"},
        {"refund_time": None},
        {"refund_no": ""},
        {"app_id": "another-app"},
    ],
    ids=[
        "float-amount",
        "text-amount",
        "bool-amount",
        "unknown-status",
        "list-status",
        "naive-time",
        "no-time",
        "no-refund-no",
        "other-app",
    ],
)
def test_a_signed_refund_notification_with_a_wrong_field_is_rejected(stand_in, changes):
    channel, platform = stand_in

    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, _signed_refund_body(platform, **changes))


def test_a_refund_notification_missing_a_field_is_rejected(stand_in):
    channel, platform = stand_in
    incomplete = {key: value for key, value in REFUND_NOTIFICATION.items() if key != "refund_no"}
    body = json.dumps(signing.signed(incomplete, platform)).encode()

    with pytest.raises(InvalidNotification, match="refund_no"):
        channel.parse_notification({}, body)


def test_a_notification_missing_a_field_is_rejected(stand_in):
    channel, platform = stand_in
    incomplete = {key: value for key, value in NOTIFICATION.items() if key != "trade_no"}
    body = json.dumps(signing.signed(incomplete, platform)).encode()

    with pytest.raises(InvalidNotification, match="trade_no"):
        channel.parse_notification({}, body)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"", b"amount=12345&sign=abc"])
def test_a_malformed_notification_is_rejected(stand_in, body):
    channel, _ = stand_in

    with pytest.raises(InvalidNotification):
        channel.parse_notification({}, body)


def test_acknowledging_answers_what_the_platform_expects(stand_in):
    channel, _ = stand_in

    accepted = channel.acknowledge(accepted=True)
    refused = channel.acknowledge(accepted=False)

    assert (accepted.status, accepted.body, accepted.content_type) == (
        200,
        b'{"code":"SUCCESS"}',
        "application/json",
    )
    assert refused.status == 400
    assert json.loads(refused.body)["code"] == "FAIL"


# -- the registry -----------------------------------------------------------------------


def test_the_registry_builds_the_channel_from_the_settings_of_the_moment(settings):
    settings.PUBLIC_PLATFORM = {**settings.PUBLIC_PLATFORM, "base_url": "https://pay.example/"}

    channel = get_channel("public_platform")

    assert "public_platform" in CHANNEL_CODES
    assert channel.code == "public_platform"
    assert channel.base_url == "https://pay.example"


def test_the_registry_refuses_an_unknown_channel_code():
    with pytest.raises(UnknownChannel):
        get_channel("cash_in_an_envelope")


def test_the_registry_names_missing_configuration_without_showing_keys(settings):
    settings.PUBLIC_PLATFORM = {**settings.PUBLIC_PLATFORM, "private_key_pem": None}

    with pytest.raises(ImproperlyConfigured, match="private_key_pem") as missing:
        get_channel("public_platform")

    assert "BEGIN" not in str(missing.value)
