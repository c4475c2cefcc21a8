"""The outside world's people and machines as the simulator plays them, over HTTP only.

``Portal`` is the government services portal: it opens orders, starts payments, asks for
refunds, ships results and cancels shipments through the service's public API with its API
key. A payer pays at the channel's cashier in the sandboxes (``pay``), as a browser would.
``Receiver`` is the portal's webhook endpoint: it verifies every delivery's signature and
applies each event once, however many times it is delivered.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from billing.webhook_signing import WebhookVerificationError, verify

HTTP_TIMEOUT = 30
CALL_ATTEMPTS = 5
RECONNECT_SECONDS = 1.0
# Answers that mean "not now", which a portal meets and tries again after.
UNAVAILABLE = frozenset({502, 503, 504})


class PortalRefused(RuntimeError):
    """The service answered a portal call with an error the simulation did not expect."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Opened:
    order_id: str
    amount: int


@dataclass
class Portal:
    base_url: str
    api_key: str
    session: requests.Session = field(default_factory=requests.Session)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
        """One call, sent again (a POST with its same Idempotency-Key, so it takes effect
        once) when the connection broke: a kept-alive connection to a web server that has
        restarted since is reset."""
        headers = {"Authorization": f"Bearer {self.api_key}"}
        if method == "POST":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                answer = self.session.request(
                    method, f"{self.base_url}{path}", json=body, headers=headers,
                    timeout=HTTP_TIMEOUT,
                )  # fmt: skip
                break
            except requests.ConnectionError:
                if attempt == CALL_ATTEMPTS:
                    raise
                time.sleep(RECONNECT_SECONDS)
        if answer.status_code >= 400:
            raise PortalRefused(
                f"{method} {path}: {answer.status_code} {answer.text[:500]}",
                status=answer.status_code,
            )
        return answer.json() if answer.content else {}

    def open_order(self, body: dict[str, Any]) -> Opened:
        created = self._call("POST", "/api/v1/payment-orders", body)
        return Opened(created["id"], created["amount"])

    def start_payment(self, order_id: str, channel: str) -> dict:
        """The attempt (its pay_url), or None-like {} when the channel cannot take it now."""
        try:
            return self._call(
                "POST", f"/api/v1/payment-orders/{order_id}/payments", {"channel": channel}
            )
        except PortalRefused as refused:
            if refused.status in UNAVAILABLE:
                return {}
            raise

    def refund(self, order_id: str, amount: int, reason: str) -> dict:
        return self._call(
            "POST",
            f"/api/v1/payment-orders/{order_id}/refunds",
            {"amount": amount, "reason": reason},
        )

    def order(self, order_id: str) -> dict:
        return self._call("GET", f"/api/v1/payment-orders/{order_id}")

    def ship(self, body: dict[str, Any]) -> dict:
        return self._call("POST", "/api/v1/shipments", body)

    def cancel_shipment(self, shipment_id: str, reason: str) -> dict:
        return self._call("POST", f"/api/v1/shipments/{shipment_id}/cancel", {"reason": reason})

    def shipment(self, shipment_id: str) -> dict:
        return self._call("GET", f"/api/v1/shipments/{shipment_id}")

    def subscribe(self, url: str, events: list[str]) -> str:
        """Register the webhook receiver; the endpoint's signing secret."""
        return self._call("POST", "/api/v1/webhook-endpoints", {"url": url, "events": events})[
            "secret"
        ]


def pay(pay_url: str, *, notify: bool = True) -> None:
    """The payer pays at the cashier; without ``notify`` the channel never tells us."""
    answer = requests.post(
        pay_url, json={"result": "success", "notify": notify}, timeout=HTTP_TIMEOUT
    )
    answer.raise_for_status()


@dataclass
class Receiver:
    """The portal's webhook endpoint on 127.0.0.1: verifies, applies each event once."""

    secret: str = ""
    url: str = ""
    applied: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (type, object)
    rejected: list[str] = field(default_factory=list)  # not signed as the service signs
    late: list[str] = field(default_factory=list)  # signed too long before it arrived
    lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.receive(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/payments"
        threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        ).start()

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        try:
            verify(self.secret, headers, body)
            event = json.loads(body)
        except (WebhookVerificationError, ValueError) as exc:
            with self.lock:
                # A delivery signed before a jump of the clock arrives "late": refused as a
                # portal refuses a replay, and tried again (signed afresh) by the service.
                late = "outside the tolerance" in str(exc)
                (self.late if late else self.rejected).append(f"{exc}: {body[:200]!r}")
            return 400
        event_id = headers.get("webhook-id") or headers.get("Webhook-Id") or ""
        with self.lock:
            self.applied.setdefault(event_id, (event["type"], event["data"]["id"]))
        return 200

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
