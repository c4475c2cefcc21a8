"""python-alipay-sdk, a merchant's client of Alipay's gateway, against the sandbox over HTTP.

The SDK is written from Alipay's documents by others: it signs its requests, sends them as
a query string (GET), and verifies each answer over its ``_response`` text; so a signing or
canonicalisation slip in the sandbox shows here whatever our own adapter does. The merchant's
notify endpoint is a real HTTP server on loopback.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

QUERY_NODE = "alipay_trade_query_response"


class Receiver:
    """The merchant's notify_url: keeps each form it is sent and answers ``success``."""

    def __init__(self) -> None:
        self.forms: queue.Queue[dict[str, str]] = queue.Queue()
        forms = self.forms

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                forms.put(dict(parse_qsl(body.decode(), keep_blank_values=True)))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify/alipay"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def gateway(live_service) -> str:
    return f"{live_service.url}/sandbox/alipay/gateway.do"


def client(gateway: str, **keys: str) -> AliPay:
    """The SDK with the app's keys (or ``keys`` in their place), pointed at the sandbox."""
    alipay = AliPay(
        appid=settings.ALIPAY["app_id"],
        app_private_key_string=keys.get("app_private", settings.ALIPAY["private_key_pem"]),
        alipay_public_key_string=keys.get(
            "alipay_public", settings.ALIPAY["alipay_public_key_pem"]
        ),
        sign_type="RSA2",
    )
    alipay._gateway = gateway  # the SDK knows only Alipay's own gateways by name
    return alipay


def stranger_pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def out_trade_no() -> str:
    return f"pay_{uuid.uuid4().hex[:20]}"


def precreate(alipay: AliPay, number: str, **options: object) -> dict:
    answer = alipay.api_alipay_trade_precreate(
        subject="营业执照补办 <工本费>", out_trade_no=number, total_amount="123.45", **options
    )
    assert answer["code"] == "10000", answer
    return answer


def pay(qr_code: str, *, notify: bool = False) -> None:
    """The payer scans the QR code and pays at the sandbox's cashier."""
    answer = requests.post(qr_code, json={"result": "success", "notify": notify}, timeout=5)
    assert answer.status_code == 200, answer.text


def signed_query(alipay: AliPay, number: str) -> dict[str, str]:
    """The parameters of an alipay.trade.query the SDK has signed, as it would send them."""
    body = alipay.build_body("alipay.trade.query", {"out_trade_no": number})
    return dict(parse_qsl(alipay.sign_data(body)))


# -- signing and verifying --------------------------------------------------------------


def test_the_sandbox_accepts_the_sdks_signed_query_string(gateway):
    answer = client(gateway).api_alipay_trade_query(out_trade_no=out_trade_no())

    # Signed as the SDK signs, so the gateway went on to the business answer.
    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


def test_the_sandbox_refuses_a_request_changed_after_the_sdk_signed_it(gateway):
    alipay = client(gateway)
    params = signed_query(alipay, out_trade_no())
    tampered = {**params, "biz_content": '{"out_trade_no":"pay_someone_else"}'}

    raw = requests.get(f"{gateway}?{urlencode(tampered)}", timeout=5).text
    answer = alipay._verify_and_return_sync_response(raw, QUERY_NODE)

    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-signature")


def test_the_sandbox_refuses_a_request_signed_by_another_apps_key(gateway):
    answer = client(gateway, app_private=stranger_pems()[0]).api_alipay_trade_query(
        out_trade_no=out_trade_no()
    )

    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-signature")


def test_the_gateway_takes_the_sdks_signed_parameters_as_a_post_form_too(gateway):
    alipay = client(gateway)
    number = out_trade_no()
    precreate(alipay, number)

    raw = requests.post(gateway, data=signed_query(alipay, number), timeout=5).text
    answer = alipay._verify_and_return_sync_response(raw, QUERY_NODE)

    # Not scanned yet: the trade does not exist, as the signed answer says.
    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


def test_the_sdk_refuses_the_sandboxs_answer_with_another_alipay_key(gateway):
    alipay = client(gateway, alipay_public=stranger_pems()[1])

    with pytest.raises(AliPayValidationError):
        alipay.api_alipay_trade_query(out_trade_no=out_trade_no())


def test_a_method_the_sandbox_does_not_serve_is_refused_as_an_error_response(gateway):
    with pytest.raises(AliPayException, match=r"isv\.invalid-method") as refused:
        client(gateway).server_api("alipay.trade.pay", {"out_trade_no": out_trade_no()})

    assert '"error_response":{"code":"40002"' in str(refused.value)


# -- trades and refunds -----------------------------------------------------------------


def test_a_precreated_trade_paid_at_the_cashier_is_queried_as_paid(gateway):
    alipay = client(gateway)
    number = out_trade_no()

    created = precreate(alipay, number)
    pay(created["qr_code"])
    queried = alipay.api_alipay_trade_query(out_trade_no=number)

    assert created["out_trade_no"] == number
    assert (queried["code"], queried["out_trade_no"]) == ("10000", number)
    assert (queried["trade_status"], queried["total_amount"]) == ("TRADE_SUCCESS", "123.45")
    assert queried["trade_no"] and queried["send_pay_date"]
    assert alipay.api_alipay_trade_query(trade_no=queried["trade_no"]) == queried


def test_an_amount_the_sdk_sends_as_a_json_number_is_yuan(gateway):
    alipay = client(gateway)
    number = out_trade_no()

    answer = alipay.api_alipay_trade_precreate(
        subject="工本费", out_trade_no=number, total_amount=0.5
    )
    pay(answer["qr_code"])

    assert alipay.api_alipay_trade_query(out_trade_no=number)["total_amount"] == "0.50"


def test_a_partial_refund_is_made_once_and_found_by_its_query(gateway):
    alipay = client(gateway)
    number, request_no = out_trade_no(), f"ref_{uuid.uuid4().hex[:20]}"
    pay(precreate(alipay, number)["qr_code"])

    refunded = alipay.api_alipay_trade_refund(
        refund_amount="23.45", out_trade_no=number, out_request_no=request_no
    )
    repeated = alipay.api_alipay_trade_refund(
        refund_amount="23.45", out_trade_no=number, out_request_no=request_no
    )
    queried = alipay.api_alipay_trade_fastpay_refund_query(request_no, out_trade_no=number)

    assert (refunded["code"], refunded["fund_change"], refunded["refund_fee"]) == (
        "10000",
        "Y",
        "23.45",
    )
    assert (repeated["fund_change"], repeated["refund_fee"]) == ("N", "23.45")
    assert (queried["code"], queried["out_request_no"]) == ("10000", request_no)
    assert (queried["refund_status"], queried["refund_amount"]) == ("REFUND_SUCCESS", "23.45")
    assert alipay.api_alipay_trade_query(out_trade_no=number)["trade_status"] == "TRADE_SUCCESS"


def test_a_refund_above_what_remains_is_refused(gateway):
    alipay = client(gateway)
    number = out_trade_no()
    pay(precreate(alipay, number)["qr_code"])

    answer = alipay.api_alipay_trade_refund(
        refund_amount="123.46", out_trade_no=number, out_request_no="ref_too_much"
    )

    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.REASON_TRADE_REFUND_FEE_ERR")


# -- the notification -------------------------------------------------------------------


def test_the_payment_notification_verifies_with_the_sdk(gateway, receiver):
    alipay = client(gateway)
    number = out_trade_no()
    pay(precreate(alipay, number, notify_url=receiver.url)["qr_code"], notify=True)

    form = receiver.forms.get(timeout=5)
    signature = form.pop("sign")

    assert (form["out_trade_no"], form["trade_status"]) == (number, "TRADE_SUCCESS")
    assert (form["total_amount"], form["app_id"]) == ("123.45", settings.ALIPAY["app_id"])
    assert alipay.verify(dict(form), signature)
    assert not alipay.verify({**form, "total_amount": "0.01"}, signature)
