"""A restarted sandbox goes on retrying the notifications it had not got acknowledged.

Each notification's schedule (its trigger, the tries made, when the next is due) is kept in
its delivery log, journalled with its record. A restart is played in-process: every store
drops its records and reads its journal again (``state.reload_all``), then the sandboxes
resume (``common.resume_notifications``), as their server does on its first request.
Notifications go to a receiver on loopback that refuses them until told to accept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.conf import settings

from sandboxes import common, keys, state
from sandboxes.alipay import views as alipay
from sandboxes.alipay import wire as alipay_wire
from sandboxes.ems import views as ems
from sandboxes.ems import wire as ems_wire
from sandboxes.public_platform import views as public_platform
from sandboxes.sf import views as sf
from sandboxes.unionpay import views as unionpay
from sandboxes.wechatpay import views as wechatpay
from tests.waiting import eventually

REFUSED_TRY = {
    "time": "2026-03-01T10:00:00+08:00",
    "trigger": "schedule",
    "status_code": 503,
    "error": "",
    "acknowledged": False,
}


@dataclass(frozen=True)
class Request:
    body: bytes
    accepted: bool


class Receiver:
    """A notify URL on loopback: answers 503 until it accepts, then 200 with the answer it
    was given, and keeps every request it was sent."""

    def __init__(self) -> None:
        self.answer: str | None = None
        self.requests: list[Request] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answer = receiver.answer
                accepted = answer is not None
                receiver.requests.append(Request(body, accepted))
                reply = answer.encode() if accepted else b"busy"
                self.send_response(200 if accepted else 503)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def accept(self, answer: str) -> None:
        """From now on, acknowledge with ``answer``, in the provider's words."""
        self.answer = answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def journalled(settings, tmp_path) -> Iterator[None]:
    """Sandboxes whose stores are journalled, as their own server keeps them."""
    settings.SANDBOX_STATE_DIR = tmp_path
    state.reset_all()
    yield
    state.reset_all()  # and whatever still retries stops at its next try


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def restart() -> None:
    """What the sandboxes' process does when it starts again, short of the process."""
    state.reload_all()
    common.resume_notifications()


def retrying(name: str) -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(name)]


# -- Alipay, through its gateway and cashier --------------------------------------------


def precreate(client, out_trade_no: str, notify_url: str) -> str:
    """The QR code of a pre-order the app signs, as Alipay's gateway answers it."""
    params = {
        "app_id": settings.ALIPAY["app_id"],
        "method": "alipay.trade.precreate",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": alipay_wire.beijing_time(datetime.now(alipay_wire.BEIJING)),
        "version": "1.0",
        "notify_url": notify_url,
        "biz_content": json.dumps(
            {"out_trade_no": out_trade_no, "total_amount": "12.34", "subject": "营业执照工本费"}
        ),
    }
    app_key = keys.load_private_key(settings.ALIPAY["private_key_pem"])
    params["sign"] = alipay_wire.sign(alipay_wire.request_content(params), app_key)
    answer = client.post("/sandbox/alipay/gateway.do", params).json()
    return answer["alipay_trade_precreate_response"]["qr_code"]


def pay(client, qr_code: str) -> None:
    paid = client.post(urlsplit(qr_code).path, {"result": "success"}, "application/json")
    assert paid.status_code == 200, paid.content


def verified_alipay_form(body: bytes) -> dict[str, str]:
    fields = dict(parse_qsl(body.decode(), keep_blank_values=True))
    alipay_key = keys.load_public_key(settings.ALIPAY["alipay_public_key_pem"])
    content = alipay_wire.notification_content(fields)
    assert alipay_wire.verify(content, fields["sign"], alipay_key)
    return fields


def test_a_restarted_alipay_sandbox_resends_a_refused_notification_until_accepted(
    client, journalled, receiver, settings
):
    # The second try a second after the first: the restart comes before it is due.
    settings.SANDBOX_ALIPAY = {**settings.SANDBOX_ALIPAY, "time_scale": alipay.RETRY_DELAYS[0]}
    pay(client, precreate(client, "pay_resumed", receiver.url))
    key = alipay._key(settings.ALIPAY["app_id"], "pay_resumed")
    eventually(lambda: (alipay._trades[key].schedule or {}).get("tries") == 1)

    restart()
    receiver.accept("success")

    eventually(lambda: alipay._trades[key].acknowledged and alipay._trades[key].schedule is None)
    first, resent = receiver.requests
    assert (first.accepted, resent.accepted) == (False, True)
    # The same notification, signed again by Alipay's key for the try after the restart.
    before, after = verified_alipay_form(first.body), verified_alipay_form(resent.body)
    assert after["notify_id"] == before["notify_id"]
    assert (after["out_trade_no"], after["trade_status"]) == ("pay_resumed", "TRADE_SUCCESS")
    state.reload_all()
    trade = alipay._trades[key]
    assert trade.schedule is None
    assert [(d["status_code"], d["acknowledged"]) for d in trade.deliveries] == [
        (503, False),
        (200, True),
    ]


def test_an_acknowledged_alipay_notification_is_not_sent_again_after_a_restart(
    client, journalled, receiver
):
    receiver.accept("success")
    pay(client, precreate(client, "pay_answered", receiver.url))
    key = alipay._key(settings.ALIPAY["app_id"], "pay_answered")
    eventually(lambda: alipay._trades[key].acknowledged and alipay._trades[key].schedule is None)

    restart()

    assert retrying(f"alipay-notify-{key}") == []
    time.sleep(2 * alipay.RETRY_DELAYS[0] / common.time_scale("SANDBOX_ALIPAY"))
    assert len(receiver.requests) == 1


# -- every sandbox that retries ---------------------------------------------------------


def pending(trigger: str = "schedule") -> common.Schedule:
    """A schedule whose first try was refused and whose second is due now."""
    return {"trigger": trigger, "tries": 1, "next_at": datetime.now(UTC).isoformat()}


@dataclass(frozen=True)
class Pending:
    """A notification a sandbox had on its schedule when its process stopped."""

    notifier: common.Notifier[Any]
    key: str
    marker: str  # what the notification rebuilt from the record carries
    answer: str  # the receiver's acknowledgement, in the provider's words


def alipay_trade(url: str) -> Pending:
    now = datetime.now(alipay_wire.BEIJING).replace(microsecond=0)
    trade = alipay._Trade(
        app_id=settings.ALIPAY["app_id"],
        biz={"out_trade_no": "pay_alipay", "subject": "工本费", "total_amount": "12.34"},
        notify_url=url,
        amount=1234,
        qr_token="qr-alipay",
        expires_at=now + timedelta(hours=2),
        trade_no="2026030122001400000000000001",
        status=alipay_wire.TradeStatus.TRADE_SUCCESS,
        created_at=now,
        paid_at=now,
        notify_id="notify-alipay",
        deliveries=[REFUSED_TRY],
        schedule=pending(),
    )
    alipay._trades[trade.key] = trade
    return Pending(alipay._notifier, trade.key, "pay_alipay", "success")


def wechatpay_notice(url: str) -> Pending:
    notice = wechatpay._notice(
        settings.WECHATPAY["mchid"],
        url,
        "TRANSACTION.SUCCESS",
        "支付成功",
        "transaction",
        {"out_trade_no": "pay_wechat", "trade_state": "SUCCESS"},
    )
    notice.deliveries, notice.schedule = [REFUSED_TRY], pending()
    wechatpay._notices["trades/pay_wechat"] = notice
    return Pending(wechatpay._notifier, "trades/pay_wechat", notice.notify_id, "")


def unionpay_consume(url: str) -> Pending:
    request = {
        "version": "5.1.0",
        "encoding": "UTF-8",
        "signMethod": "01",
        "txnType": "01",
        "txnSubType": "01",
        "bizType": "000201",
        "accessType": "0",
        "merId": settings.UNIONPAY["mer_id"],
        "orderId": "payunionpay",
        "txnTime": "20260301100000",
        "txnAmt": "1234",
        "backUrl": url,
    }
    txn = unionpay._Txn(
        request=request,
        status="succeeded",
        query_id="2026030110000012345",
        trace_no="123456",
        trace_time="0301100000",
        completed_at=datetime.now(unionpay.BEIJING),
        settle_date=date.today(),
        deliveries=[REFUSED_TRY],
        schedule=pending(),
    )
    unionpay._txns[txn.key] = txn
    return Pending(unionpay._notifier, txn.key, "payunionpay", "ok")


def public_platform_refund(url: str) -> Pending:
    """A trade whose payment was acknowledged and whose refund's notification was not."""
    refund = public_platform._Refund(
        app_id=settings.PUBLIC_PLATFORM["app_id"],
        params={
            "out_trade_no": "pay_platform",
            "out_refund_no": "rf_platform",
            "refund_amount": 500,
            "reason": "",
            "notify_url": url,
        },
        refund_no="2026030100000000000000000002",
        fails=False,
        status="SUCCESS",
        refund_time="2026-03-01T10:05:00+08:00",
        outbox=public_platform._Outbox("notify-refund", False, [REFUSED_TRY], pending()),
    )
    trade = public_platform._Trade(
        app_id=settings.PUBLIC_PLATFORM["app_id"],
        params={"out_trade_no": "pay_platform", "amount": 1234, "notify_url": url},
        trade_no="2026030100000000000000000001",
        expires_at=datetime.now(public_platform.BEIJING) + timedelta(hours=2),
        status="SUCCESS",
        outbox=public_platform._Outbox("notify-trade", True, [{**REFUSED_TRY, "status_code": 200}]),
        refunds=[refund],
    )
    public_platform._trades["pay_platform"] = trade
    return Pending(public_platform._notifier, "pay_platform", "rf_platform", '{"code":"SUCCESS"}')


def sf_push(url: str) -> Pending:
    route = {"mailno": "SF1000000000001", "opCode": "50", "acceptTime": "2026-03-01 10:00:00"}
    push = sf._Push(url, [route], deliveries=[REFUSED_TRY], schedule=pending("route"))
    sf._pushes["SF1000000000001"] = [push]
    return Pending(sf._notifier, "SF1000000000001", "SF1000000000001", '{"return_code":"0000"}')


def ems_push(url: str) -> Pending:
    trace = {"waybillNo": "1151234567890", "opCode": "203", "opName": "收寄", "opDesc": "已收寄"}
    shipment = ems._Shipment(
        sender_no=settings.EMS["sender_no"],
        order={"logisticsOrderNo": "shp_ems", "pushUrl": url},
        waybill_no="1151234567890",
        booked_on=date.today(),
        traces=[trace],
        pushes=[ems._Outbox(trace, deliveries=[REFUSED_TRY], schedule=pending())],
    )
    ems._shipments["1151234567890"] = shipment
    # The trace is sealed, and SM4-ECB seals the same text the same way every time.
    pushed = json.dumps({**trace, "orderNo": "shp_ems"}, ensure_ascii=False, separators=(",", ":"))
    sealed = ems_wire.seal(pushed, settings.EMS["secret"])
    return Pending(ems._notifier, "1151234567890", sealed, '{"code":"00000"}')


@pytest.mark.parametrize(
    "stopped_with",
    [alipay_trade, wechatpay_notice, unionpay_consume, public_platform_refund, sf_push, ems_push],
)
def test_every_sandbox_that_retries_resumes_its_notifications_after_a_restart(
    journalled, receiver, stopped_with
):
    notification = stopped_with(receiver.url)
    receiver.accept(notification.answer)

    restart()

    def settled() -> bool:
        logs = notification.notifier.logs(notification.notifier.store[notification.key])
        return all(log.acknowledged and log.schedule is None for log in logs)

    eventually(settled)
    [request] = receiver.requests
    assert notification.marker in request.body.decode()
    state.reload_all()  # what the journal says
    assert settled()


# -- the schedule -----------------------------------------------------------------------


@dataclass
class Message:
    """A record that is its own delivery log."""

    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


class Sender:
    """A sender that records each try, acknowledged from the ``acknowledge_from``-th on."""

    def __init__(self, acknowledge_from: int | None = None) -> None:
        self.acknowledge_from = acknowledge_from
        self.tries: list[tuple[str, datetime]] = []

    def __call__(self, key: str, message: Message, log: Message, trigger: str) -> None:
        self.tries.append((trigger, datetime.now(UTC)))
        acknowledged = (
            self.acknowledge_from is not None and len(self.tries) >= self.acknowledge_from
        )
        log.deliveries.append({"trigger": trigger, "acknowledged": acknowledged})
        log.acknowledged = log.acknowledged or acknowledged


@pytest.fixture
def messages(journalled, settings, monkeypatch) -> state.Store[Message]:
    monkeypatch.setattr(common, "_notifiers", [])  # only this test's notifier resumes
    settings.SANDBOX_RESUMED = {"time_scale": 100.0}
    return state.Store("resumed-messages", encode=asdict, decode=lambda data: Message(**data))


def notifier(messages: state.Store[Message], sender: Sender) -> common.Notifier[Message]:
    """4 tries: now, then after 1, 2 and 3 s of real time, sped up a hundredfold."""
    return common.Notifier(
        "resumed-message",
        messages,
        messages.lock,
        retry_delays=(1, 2, 3),
        time_scale_setting="SANDBOX_RESUMED",
        logs=lambda message: [message],
        send=sender,
    )


def test_a_resumed_schedule_makes_only_the_tries_it_had_left_and_then_stops(messages):
    sender = Sender()
    notifier(messages, sender)
    messages["m1"] = Message(schedule={**pending("replay"), "tries": 2})

    restart()

    eventually(lambda: messages["m1"].schedule is None)
    assert [trigger for trigger, _ in sender.tries] == ["replay", "replay"]
    (_, third), (_, fourth) = sender.tries
    assert fourth - third >= timedelta(seconds=3 / 100)
    state.reload_all()
    assert (messages["m1"].schedule, len(messages["m1"].deliveries)) == (None, 2)


def test_a_resumed_try_waits_until_it_is_due(messages):
    sender = Sender(acknowledge_from=1)
    notifier(messages, sender)
    due = datetime.now(UTC) + timedelta(seconds=0.3)
    messages["m1"] = Message(
        schedule={"trigger": "schedule", "tries": 1, "next_at": due.isoformat()}
    )

    restart()

    eventually(lambda: messages["m1"].acknowledged)
    [(_, tried_at)] = sender.tries
    assert tried_at >= due


def test_a_schedule_is_journalled_as_it_goes_and_stops_once_acknowledged(messages):
    sender = Sender(acknowledge_from=2)
    schedules = notifier(messages, sender)
    messages["m1"] = Message()

    schedules.start("m1", messages["m1"])

    eventually(lambda: messages["m1"].acknowledged and messages["m1"].schedule is None)
    journal = [
        json.loads(line)["record"]["schedule"]
        for line in (settings.SANDBOX_STATE_DIR / "resumed-messages.jsonl").read_text().splitlines()
    ]
    assert [entry and entry["tries"] for entry in journal] == [None, 0, 1, None]
    assert len(sender.tries) == 2


def test_without_a_journal_nothing_is_resumed(messages, settings):
    sender = Sender()
    notifier(messages, sender)
    settings.SANDBOX_STATE_DIR = None
    messages["m1"] = Message(schedule=pending())

    common.resume_notifications()

    assert retrying("resumed-message") == []
    assert sender.tries == []
