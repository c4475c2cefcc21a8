"""Plain helpers shared by the payment channels' adapter and signing tests.

Each provider's own specifics (its trades, refunds, sandbox controls) stay in its own test
module; what is here is the same for every channel.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from integrations.payments.base import CreateTrade

# The time zone every channel keeps its dates in.
BEIJING = timezone(timedelta(hours=8))


# -- a local HTTP server ----------------------------------------------------------------


class StubServer:
    """An HTTP server on loopback that records each request and plays back canned answers.

    Each request gets the next of `answers`, and `default` once they have run out. The
    server answers POST, and GET too unless `answer_get` is false; `url` ends in `path`.
    """

    def __init__(
        self,
        answers: list[tuple[int, bytes]] = (),
        *,
        default: tuple[int, bytes] = (200, b""),
        content_type: str | None = "application/json",
        path: str = "",
        delay: float = 0,
        answer_get: bool = True,
    ) -> None:
        self.received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
        pending, received = list(answers), self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put((dict(self.headers), body))
                time.sleep(delay)
                status, answer = pending.pop(0) if pending else default
                self.send_response(status)
                if content_type is not None:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            if answer_get:
                do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def next_request(self, timeout: float = 5) -> tuple[dict[str, str], bytes]:
        return self.received.get(timeout=timeout)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A loopback port that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unreachable_url() -> str:
    return f"http://127.0.0.1:{closed_port()}"


# -- waiting ----------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


# -- dates ------------------------------------------------------------------------------


def today_in_beijing() -> date:
    return datetime.now(BEIJING).date()


# -- the sandboxes ----------------------------------------------------------------------


def new_trade(notify_url: str, **overrides: object) -> CreateTrade:
    fields = {
        "out_trade_no": f"pay_{uuid.uuid4().hex[:20]}",
        "payment_code": "11010012345678901238",
        "amount": 12345,
        "subject": "营业执照补办 <工本费>",
        "department_code": "110100-SCJG",
        "notify_url": notify_url,
        "expires_at": datetime.now(BEIJING) + timedelta(hours=1),
        "opened_at": datetime.now(BEIJING),
    }
    return CreateTrade(**{**fields, **overrides})


def pay(pay_url: str, **choice: object) -> requests.Response:
    """The payer's choice at a sandbox's cashier page: success unless told otherwise."""
    return requests.post(pay_url, json={"result": "success", **choice}, timeout=5)


def deliveries(sandbox: str, number: str, kind: str = "trades") -> list[dict]:
    """The notifications a sandbox has sent about one trade (or refund), in order."""
    url = f"{sandbox}/_control/{kind}/{number}/deliveries"
    return requests.get(url, timeout=5).json()["deliveries"]


# -- keys and certificates --------------------------------------------------------------


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def key_pems(key: rsa.RSAPrivateKey) -> tuple[str, str]:
    """The key's private (PKCS#8) and public (SubjectPublicKeyInfo) PEM texts."""
    return private_pem(key), public_pem(key)


def key_and_certificate(name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new key with a self-signed certificate for it, valid from yesterday for 30 days."""
    key = new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
