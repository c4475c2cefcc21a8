"""The WeChat Pay sandbox against WeChat's community client library ``wechatpayv3``.

The library signs its requests, downloads the platform certificate from
``/v3/certificates`` (decrypting it with the APIv3 key), verifies every 2xx answer by the
``Wechatpay-*`` headers, and verifies and decrypts notifications. None of our code is in
between: a disagreement between the sandbox and WeChat's documents that the library
relies on fails here. Everything goes over HTTP on loopback.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core
from wechatpayv3.type import RequestType

from sandboxes.wechatpay import wire

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """The merchant's notify_url: records each notification and acknowledges it (204)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/notify/wechatpay"

    def next_notification(self, timeout: float = 5) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def connect(gateway: str, monkeypatch, config: dict, notify_url: str) -> WeChatPay:
    """The library, pointed at the sandbox, with the merchant's keys.

    The library has no setting for its gateway (``Core._gate_way``) and downloads the
    platform certificates from api.mch.weixin.qq.com as it is built; so the download is
    held back until the gateway is the sandbox's.
    """
    with monkeypatch.context() as held_back:
        held_back.setattr(Core, "_init_certificates", lambda core: None)
        wxpay = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE,
            mchid=config["mchid"],
            private_key=config["private_key_pem"],
            cert_serial_no=config["merchant_serial_no"],
            appid=config["appid"],
            apiv3_key=config["apiv3_key"],
            notify_url=notify_url,
        )
    wxpay._core._gate_way = gateway
    wxpay._core._init_certificates()
    return wxpay


@pytest.fixture
def gateway(live_service) -> str:
    return f"{live_service.url}/sandbox/wechatpay"


@pytest.fixture
def wxpay(gateway, monkeypatch, settings, receiver) -> WeChatPay:
    return connect(gateway, monkeypatch, settings.WECHATPAY, receiver.url)


def new_order(wxpay: WeChatPay, **fields: object) -> tuple[str, dict]:
    """A Native order placed through the library (which sends no time_expire)."""
    out_trade_no = f"lib_{uuid.uuid4().hex[:20]}"
    order = {"description": "营业执照补办 工本费", "out_trade_no": out_trade_no}
    code, message = wxpay.pay(**{**order, "amount": {"total": 12345}, **fields})
    assert code == 200, message
    return out_trade_no, json.loads(message)


def pay(code_url: str, **choice: object) -> dict:
    """The payer pays at the sandbox's cashier, behind code_url."""
    answer = requests.post(code_url, json={"result": "success", **choice}, timeout=5)
    answer.raise_for_status()
    return answer.json()


def queried(wxpay: WeChatPay, **number: str) -> dict:
    code, message = wxpay.query(**number)
    assert code == 200, message
    return json.loads(message)


# -- authorization and answers ----------------------------------------------------------


def test_the_library_takes_the_platform_certificate_the_sandbox_serves(wxpay, settings):
    (certificate,) = wxpay._core._certificates

    assert certificate.serial_number == int(settings.WECHATPAY["platform_serial_no"], 16)
    assert (
        certificate.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == settings.WECHATPAY["platform_public_key_pem"].encode()
    )


def test_a_native_order_without_time_expire_is_accepted_and_its_answer_verified(wxpay):
    _, answer = new_order(wxpay)

    assert "/sandbox/wechatpay/cashier/" in answer["code_url"]


def test_the_library_refuses_an_answer_when_it_trusts_another_key_under_the_serial(wxpay, settings):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (trusted,) = wxpay._core._certificates
    wxpay._core._certificates[:] = [
        wire.platform_certificate(
            stranger,
            settings.WECHATPAY["platform_serial_no"],
            not_before=trusted.not_valid_before_utc,
            not_after=trusted.not_valid_after_utc,
        )
    ]

    with pytest.raises(Exception, match="failed to verify the signature"):
        new_order(wxpay)


def test_a_request_whose_body_is_not_the_one_signed_is_refused_as_wechat_does(wxpay):
    order = {
        "appid": wxpay._appid,
        "mchid": wxpay._mchid,
        "description": "营业执照补办 工本费",
        "out_trade_no": f"lib_{uuid.uuid4().hex[:20]}",
        "notify_url": wxpay._notify_url,
        "amount": {"total": 12345},
    }

    code, message = wxpay._core.request(
        "/v3/pay/transactions/native",
        method=RequestType.POST,
        data={**order, "amount": {"total": 1}},
        sign_data=order,
    )

    assert code == 401
    assert json.loads(message)["code"] == "SIGN_ERROR"
    assert json.loads(message)["message"]


def test_a_request_signed_with_another_key_is_refused_as_wechat_does(
    gateway, monkeypatch, settings, receiver
):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger_pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    config = {**settings.WECHATPAY, "private_key_pem": stranger_pem}

    with pytest.raises(Exception, match="No wechatpay platform certificate"):
        connect(gateway, monkeypatch, config, receiver.url)
    forged = connect(gateway, monkeypatch, settings.WECHATPAY, receiver.url)
    forged._core._private_key = stranger
    code, message = forged.pay(
        description="营业执照补办", out_trade_no=f"lib_{uuid.uuid4().hex[:20]}", amount={"total": 1}
    )

    assert (code, json.loads(message)["code"]) == (401, "SIGN_ERROR")


# -- orders -----------------------------------------------------------------------------


def test_an_order_is_queried_by_out_trade_no_before_and_after_payment(wxpay):
    out_trade_no, answer = new_order(wxpay, attach="11010012345678901238")

    waiting = queried(wxpay, out_trade_no=out_trade_no)
    paid_at_cashier = pay(answer["code_url"], notify=False)
    paid = queried(wxpay, out_trade_no=out_trade_no)

    assert (waiting["trade_state"], waiting["amount"]["total"]) == ("NOTPAY", 12345)
    assert "transaction_id" not in waiting
    assert paid["trade_state"] == "SUCCESS"
    assert paid["transaction_id"] == paid_at_cashier["transaction_id"]
    assert paid["attach"] == "11010012345678901238"
    assert paid["success_time"].endswith("+08:00")
    assert queried(wxpay, transaction_id=paid["transaction_id"]) == paid


def test_an_unknown_order_is_not_found(wxpay):
    code, message = wxpay.query(out_trade_no="lib_never_placed")

    assert (code, json.loads(message)["code"]) == (404, "ORDER_NOT_EXIST")


def test_a_closed_order_is_closed_and_the_empty_answer_verified(wxpay):
    out_trade_no, answer = new_order(wxpay)

    code, message = wxpay.close(out_trade_no)

    assert (code, message) == (204, b"")
    assert queried(wxpay, out_trade_no=out_trade_no)["trade_state"] == "CLOSED"
    assert (
        requests.post(answer["code_url"], json={"result": "success"}, timeout=5).status_code == 409
    )


# -- refunds ----------------------------------------------------------------------------


def test_a_refund_is_processing_then_succeeds(wxpay):
    out_trade_no, answer = new_order(wxpay)
    paid = pay(answer["code_url"], notify=False)
    out_refund_no = f"rfd_{uuid.uuid4().hex[:20]}"

    code, message = wxpay.refund(
        out_refund_no=out_refund_no,
        amount={"refund": 2345, "total": 12345, "currency": "CNY"},
        out_trade_no=out_trade_no,
        reason="多缴退费",
    )

    accepted = json.loads(message)
    assert code == 200, message
    assert (accepted["out_refund_no"], accepted["out_trade_no"]) == (out_refund_no, out_trade_no)
    assert (accepted["transaction_id"], accepted["status"]) == (
        paid["transaction_id"],
        "PROCESSING",
    )
    assert accepted["amount"]["refund"] == 2345
    deadline = time.monotonic() + 5
    while (refund := json.loads(wxpay.query_refund(out_refund_no)[1]))["status"] != "SUCCESS":
        assert time.monotonic() < deadline, refund
        time.sleep(0.02)
    assert refund["refund_id"] == accepted["refund_id"]
    assert refund["success_time"].endswith("+08:00")


def test_a_refund_may_name_the_trade_by_its_transaction_id(wxpay):
    _, answer = new_order(wxpay)
    paid = pay(answer["code_url"], notify=False)

    code, message = wxpay.refund(
        out_refund_no=f"rfd_{uuid.uuid4().hex[:20]}",
        amount={"refund": 12345, "total": 12345, "currency": "CNY"},
        transaction_id=paid["transaction_id"],
    )

    assert code == 200, message
    assert json.loads(message)["out_trade_no"] == paid["out_trade_no"]


# -- notifications ----------------------------------------------------------------------


def test_the_payment_notification_verifies_and_decrypts_to_the_paid_trade(wxpay, receiver):
    out_trade_no, answer = new_order(wxpay)
    paid = pay(answer["code_url"])

    headers, body = receiver.next_notification()
    event = wxpay.callback(headers, body)

    assert event is not None, "the library did not verify or decrypt the notification"
    assert event["event_type"] == "TRANSACTION.SUCCESS"
    assert event["resource"]["out_trade_no"] == out_trade_no
    assert event["resource"]["transaction_id"] == paid["transaction_id"]
    assert event["resource"]["trade_state"] == "SUCCESS"
    assert event["resource"]["amount"]["total"] == 12345


def test_a_notification_with_a_changed_body_does_not_verify(wxpay, receiver):
    _, answer = new_order(wxpay)
    pay(answer["code_url"])

    headers, body = receiver.next_notification()

    assert wxpay.callback(headers, body.replace(b"TRANSACTION", b"TRANSACTIOM")) is None


def test_the_refund_notification_verifies_and_decrypts_to_the_refund(wxpay, receiver):
    out_trade_no, answer = new_order(wxpay)
    pay(answer["code_url"], notify=False)
    out_refund_no = f"rfd_{uuid.uuid4().hex[:20]}"

    wxpay.refund(
        out_refund_no=out_refund_no,
        amount={"refund": 2345, "total": 12345, "currency": "CNY"},
        out_trade_no=out_trade_no,
        notify_url=receiver.url,
    )
    event = wxpay.callback(*receiver.next_notification())

    assert event is not None, "the library did not verify or decrypt the notification"
    assert event["event_type"] == "REFUND.SUCCESS"
    assert event["resource"]["out_refund_no"] == out_refund_no
    assert event["resource"]["refund_status"] == "SUCCESS"
    assert event["resource"]["amount"]["refund"] == 2345


# -- the trade bill ---------------------------------------------------------------------


def test_the_gzipped_trade_bill_downloads_and_matches_its_hash(wxpay):
    _, answer = new_order(wxpay)
    paid = pay(answer["code_url"], notify=False)
    today = queried(wxpay, transaction_id=paid["transaction_id"])["success_time"][:10]

    code, message = wxpay.trade_bill(bill_date=today)
    bill = json.loads(message)
    status, content = wxpay.download_bill(bill["download_url"])

    assert code == 200, message
    assert status == 200
    unpacked = gzip.decompress(content)
    assert hashlib.sha1(unpacked, usedforsecurity=False).hexdigest() == bill["hash_value"]
    assert f"`{paid['transaction_id']},".encode() in unpacked
