"""The public platform adapter against its sandbox, over real HTTP on loopback.

Stand-ins for the platform's other behaviours (an outage, an unsigned answer, a slow
answer) and for the service's notify endpoint are real HTTP servers too: nothing here
patches the adapter's HTTP calls.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ImproperlyConfigured

from integrations.payments import signing
from integrations.payments.base import (
    CreateTrade,
    InvalidNotification,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    TradeStatus,
)
from integrations.payments.public_platform import BEIJING, PublicPlatformChannel
from integrations.payments.registry import CHANNEL_CODES, UnknownChannel, get_channel

ACK = (200, b'{"code":"SUCCESS"}')


class StubServer:
    """An HTTP server on loopback that records each POST and plays back canned answers."""

    def __init__(self, answers: list[tuple[int, bytes]] = (), *, delay: float = 0) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        pending = list(answers)
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((dict(self.headers), body))
                time.sleep(delay)
                status, answer = pending.pop(0) if pending else ACK
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def next_request(self, timeout: float = 5) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stub_server() -> Iterator[Callable[..., StubServer]]:
    servers: list[StubServer] = []

    def start(answers: list[tuple[int, bytes]] = (), **options: float) -> StubServer:
        servers.append(StubServer(answers, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def receiver(stub_server) -> StubServer:
    """The service's notify endpoint, acknowledging every notification."""
    return stub_server()


@pytest.fixture
def channel(live_service) -> PublicPlatformChannel:
    return get_channel("public_platform")


@pytest.fixture
def sandbox(live_service) -> str:
    return f"{live_service.url}/sandbox/public_platform"


def key_pems(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger_pems() -> tuple[str, str]:
    """A key pair that neither the platform nor the merchant holds."""
    return key_pems(new_key())


def configured_channel(settings, **overrides: object) -> PublicPlatformChannel:
    return PublicPlatformChannel(**{**settings.PUBLIC_PLATFORM, **overrides})


def new_trade(notify_url: str, **overrides: object) -> CreateTrade:
    fields = {
        "out_trade_no": f"pay_{uuid.uuid4().hex[:20]}",
        "payment_code": "11010012345678901238",
        "amount": 12345,
        "subject": "营业执照补办 <工本费>",
        "department_code": "110100-SCJG",
        "notify_url": notify_url,
        "expires_at": datetime.now(BEIJING) + timedelta(hours=1),
        "return_url": "https://portal.example.gov.cn/cases/1",
    }
    return CreateTrade(**{**fields, **overrides})


def pay(pay_url: str, **choice: object) -> requests.Response:
    return requests.post(pay_url, json={"result": "success", **choice}, timeout=5)


def deliveries(sandbox: str, out_trade_no: str) -> list[dict]:
    url = f"{sandbox}/_control/trades/{out_trade_no}/deliveries"
    return requests.get(url, timeout=5).json()["deliveries"]


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- trades ---------------------------------------------------------------------------


def test_a_new_trade_waits_for_payment_and_succeeds_once_the_payer_pays(channel, receiver):
    trade = new_trade(receiver.url)

    created = channel.create_trade(trade)
    waiting = channel.query_trade(trade.out_trade_no)
    assert pay(created.pay_url).json()["trade_status"] == "SUCCESS"
    paid = channel.query_trade(trade.out_trade_no)

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
    assert channel.query_trade(trade.out_trade_no).status == TradeStatus.SUCCEEDED


def test_a_failed_payment_is_reported_with_its_reason(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    pay(created.pay_url, result="failed")
    result = channel.query_trade(trade.out_trade_no)

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
    result = channel.query_trade("pay_never_created")

    assert result.status == TradeStatus.NOT_FOUND


def test_closing_an_unpaid_trade_closes_it_and_the_cashier_refuses_payment(channel, receiver):
    trade = new_trade(receiver.url)
    created = channel.create_trade(trade)

    closed = channel.close_trade(trade.out_trade_no)
    refused = pay(created.pay_url)

    assert closed.status == TradeStatus.CLOSED
    assert refused.status_code == 409
    assert refused.json()["trade_status"] == "CLOSED"
    assert channel.query_trade(trade.out_trade_no).status == TradeStatus.CLOSED
    assert channel.close_trade(trade.out_trade_no).status == TradeStatus.CLOSED


def test_closing_a_paid_trade_reports_that_it_succeeded(channel, receiver):
    trade = new_trade(receiver.url)
    pay(channel.create_trade(trade).pay_url)

    result = channel.close_trade(trade.out_trade_no)

    assert result.status == TradeStatus.SUCCEEDED
    assert result.amount == 12345
    assert result.paid_at is not None


def test_closing_an_unknown_trade_reports_not_found(channel):
    assert channel.close_trade("pay_never_created").status == TradeStatus.NOT_FOUND


def test_a_trade_past_its_expire_time_is_closed_and_cannot_be_paid(channel, receiver):
    trade = new_trade(receiver.url, expires_at=datetime.now(BEIJING) + timedelta(seconds=2))
    created = channel.create_trade(trade)

    time.sleep(2.1)
    refused = pay(created.pay_url)

    assert refused.status_code == 409
    assert channel.query_trade(trade.out_trade_no).status == TradeStatus.CLOSED


# -- refusals and failures --------------------------------------------------------------


def test_an_answer_that_does_not_verify_with_the_platform_key_is_a_provider_error(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, platform_public_key_pem=stranger_pems[1])

    with pytest.raises(ProviderError, match="signature does not verify") as failure:
        channel.query_trade("pay_anything")

    assert failure.type is ProviderError


def test_a_request_signed_with_an_unregistered_key_is_declined(
    live_service, settings, stranger_pems
):
    channel = configured_channel(settings, private_key_pem=stranger_pems[0])

    with pytest.raises(ProviderDeclined) as refused:
        channel.query_trade("pay_anything")

    assert refused.value.code == "INVALID_SIGNATURE"


def test_a_request_from_an_unknown_app_is_declined(live_service, settings):
    channel = configured_channel(settings, app_id="unknown-app")

    with pytest.raises(ProviderDeclined) as refused:
        channel.query_trade("pay_anything")

    assert refused.value.code == "INVALID_APP_ID"


def test_an_unreachable_platform_is_unavailable(settings):
    channel = configured_channel(settings, base_url=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(ProviderUnavailable):
        channel.query_trade("pay_anything")


def test_a_platform_answering_a_server_error_is_unavailable(settings, stub_server):
    platform = stub_server([(503, b"<html>busy</html>")])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        channel.create_trade(new_trade("https://service.example/notify"))


def test_a_platform_answering_too_slowly_is_unavailable(settings, stub_server):
    platform = stub_server(delay=1)
    channel = configured_channel(settings, base_url=platform.url, timeout=(1, 0.2))

    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        channel.query_trade("pay_anything")


def test_an_unsigned_answer_is_a_provider_error(settings, stub_server):
    unsigned = {"code": "SUCCESS", "message": "OK", "data": {"out_trade_no": "pay_anything"}}
    platform = stub_server([(200, json.dumps(unsigned).encode())])
    channel = configured_channel(settings, base_url=platform.url)

    with pytest.raises(ProviderError, match="signature does not verify") as failure:
        channel.query_trade("pay_anything")

    assert failure.type is ProviderError


def test_requests_are_signed_json_with_a_fresh_timestamp_and_nonce(settings, stub_server):
    platform = stub_server([(503, b""), (503, b"")])
    channel = configured_channel(settings, base_url=platform.url)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            channel.query_trade("pay_anything")

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

    assert channel.query_trade(trade.out_trade_no).status == TradeStatus.SUCCEEDED
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
        {"notify_type": "refund.status_sync"},
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

    assert CHANNEL_CODES == ("public_platform",)
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
