"""PublicPlatformChannel: the platform's gateway over HTTP, each answer read by wire functions."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Collection
from datetime import date, datetime
from typing import Any

import pandas as pd
import requests

from core.money import BEIJING
from integrations import http
from integrations.errors import ProviderError
from integrations.payments import signing
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    Notification,
    NotificationAck,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeResult,
    TradeStatus,
)
from integrations.payments.public_platform.bill import parse_bill
from integrations.payments.public_platform.wire import (
    ACCEPTED,
    BILL_KEYS,
    REFUND_KEYS,
    REFUSED,
    TRADE_KEYS,
    answered_refund,
    answered_trade,
    beijing_time,
    bill_location,
    check_bill_digest,
    created_trade,
    read_answer,
    read_notification,
    request_envelope,
)


class PublicPlatformChannel:
    code = "public_platform"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        private_key_pem: str,
        platform_public_key_pem: str,
        sign_type: str = "RSA2",  # or "SM2": the scheme agreed with the platform
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | http.SessionPerThread | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.timeout = timeout
        self.session = session or http.SessionPerThread()
        self._signer = signing.Signer.from_pems(
            sign_type, private_key_pem=private_key_pem, peer_public_key_pem=platform_public_key_pem
        )

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        _, data = self._call(
            "trade.create",
            {
                "out_trade_no": request.out_trade_no,
                "payment_code": request.payment_code,
                "amount": request.amount,
                "currency": "CNY",
                "subject": request.subject,
                "department_code": request.department_code,
                "notify_url": request.notify_url,
                "expire_time": beijing_time(request.expires_at),
                "return_url": request.return_url,
            },
        )
        return created_trade(request, data)

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        code, data = self._call(
            "trade.query", {"out_trade_no": out_trade_no}, accept={"TRADE_NOT_EXIST"}
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return answered_trade("trade.query", data)

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        code, data = self._call(
            "trade.close",
            {"out_trade_no": out_trade_no},
            accept={"TRADE_NOT_EXIST", "TRADE_HAS_SUCCESS"},
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        if code == "TRADE_HAS_SUCCESS":
            return self.query_trade(out_trade_no, opened_at=opened_at)
        return answered_trade("trade.close", data)

    def refund(self, request: RefundRequest) -> RefundResult:
        _, data = self._call(
            "trade.refund",
            {
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "refund_amount": request.amount,
                "reason": request.reason,
                "notify_url": request.notify_url,
            },
            about=REFUND_KEYS,
        )
        return answered_refund("trade.refund", data)

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        code, data = self._call(
            "refund.query",
            {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no},
            about=REFUND_KEYS,
            accept={"REFUND_NOT_EXIST"},
        )
        if code == "REFUND_NOT_EXIST":
            return RefundResult(
                out_refund_no=out_refund_no,
                status=RefundStatus.NOT_FOUND,
                out_trade_no=out_trade_no,
            )
        return answered_refund("refund.query", data)

    def fetch_statement(self, business_date: date) -> bytes:
        """The date's bill as downloaded (UTF-8 CSV), once it matches the signed SHA-256."""
        _, data = self._call(
            "bill.download", {"bill_date": business_date.isoformat()}, about=BILL_KEYS
        )
        url, digest = bill_location(data)
        response = self._http(
            "bill download",
            lambda: self.session.get(url, timeout=self.timeout, allow_redirects=False),
        )
        check_bill_digest(response.content, digest)
        return response.content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        return read_notification(body, app_id=self.app_id, signer=self._signer)

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return ACCEPTED if accepted else REFUSED

    def _call(
        self,
        method: str,
        biz: dict[str, Any],
        *,
        about: tuple[str, ...] = TRADE_KEYS,
        accept: Collection[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """POST one signed request; return the answer's code and data.

        A successful answer's data must repeat the ``about`` fields of ``biz``. Codes other
        than SUCCESS and those in ``accept`` raise ProviderDeclined.
        """
        envelope = request_envelope(
            method,
            biz,
            app_id=self.app_id,
            timestamp=datetime.now(BEIJING),
            nonce=secrets.token_hex(16),
            signer=self._signer,
        )
        response = self._http(
            method,
            lambda: self.session.post(
                f"{self.base_url}/gateway/{method.replace('.', '/')}",
                data=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        subject = {name: biz[name] for name in about}
        return read_answer(method, subject, response.content, accept, self._signer)

    def _http(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        """Send one HTTP request and return its 200 answer; no answer or a 5xx is unavailable."""
        response = http.send_answered(what, send)
        if response.status_code != 200:
            raise ProviderError(f"{what}: unexpected HTTP {response.status_code}")
        return response
