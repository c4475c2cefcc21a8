"""The WeChat Pay channel: signed requests over HTTP, their answers read by wire.py."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pandas as pd
import requests

from integrations import http
from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable
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
from integrations.payments.wechatpay.bill import parse_bill
from integrations.payments.wechatpay.codes import CLOSE_SETTLED_CODES, NOT_FOUND_CODES
from integrations.payments.wechatpay.schemes import build_scheme
from integrations.payments.wechatpay.wire import (
    ACCEPTED,
    REFUSED,
    StaleSignature,
    WechatPayCredentials,
    answered_refund,
    answered_trade,
    authorization,
    bill_location,
    check_bill_hash,
    check_signature,
    created_h5_trade,
    created_trade,
    h5_body,
    native_body,
    read_notification,
    refund_body,
    refusal,
    request_text,
)
from integrations.statements import StatementInvalid


@dataclass(frozen=True)
class _Answer:
    status: int
    data: dict[str, Any]
    signed_at: int | None  # the platform's signature's timestamp (2xx answers are all signed)


class WechatPayChannel:
    code = "wechatpay"

    def __init__(
        self,
        *,
        base_url: str,
        credentials: WechatPayCredentials,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | http.SessionPerThread | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.session = session or http.SessionPerThread()
        if len(credentials.apiv3_key.encode("utf-8")) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")
        # Chosen once: every signature, check and resource goes through it.
        self._scheme = build_scheme(
            credentials.scheme,
            private_key_pem=credentials.private_key_pem,
            platform_public_key_pem=credentials.platform_public_key_pem,
            apiv3_key=credentials.apiv3_key,
        )

    # -- trades

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        """A Native order (the portal's page shows its code_url and follows the payment
        itself); with a return page and the payer's address, an H5 order, whose cashier
        sends the payer back (redirect_url)."""
        ids = {"appid": self.credentials.appid, "mchid": self.credentials.mchid}
        if request.return_url and request.payer_ip:
            answer = self._call("POST", "/v3/pay/transactions/h5", h5_body(request, **ids))
            return created_h5_trade(request, answer.data)
        answer = self._call("POST", "/v3/pay/transactions/native", native_body(request, **ids))
        return created_trade(request, answer.data)

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        query = urlencode({"mchid": self.credentials.mchid})
        answer = self._call("GET", f"{path}?{query}", not_found_ok=True)
        if answer.status == 404:
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return answered_trade(answer.data, out_trade_no, mchid=self.credentials.mchid)

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        try:
            self._call("POST", path, {"mchid": self.credentials.mchid})
        except ProviderDeclined as declined:
            if declined.code not in CLOSE_SETTLED_CODES:
                raise
        # Close answers 204 with no body, even for a trade it does not know.
        return self.query_trade(out_trade_no, opened_at=opened_at)

    # -- refunds

    def refund(self, request: RefundRequest) -> RefundResult:
        answer = self._call("POST", "/v3/refund/domestic/refunds", refund_body(request))
        return answered_refund(
            "refund", answer.data, request.out_refund_no, mchid=self.credentials.mchid
        )

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        answer = self._call("GET", path, not_found_ok=True)
        if answer.status == 404:
            return RefundResult(
                out_refund_no=out_refund_no,
                status=RefundStatus.NOT_FOUND,
                out_trade_no=out_trade_no,
            )
        result = answered_refund(
            "refund query", answer.data, out_refund_no, mchid=self.credentials.mchid
        )
        if result.out_trade_no != out_trade_no:
            raise ProviderError(f"refund query: {out_refund_no} is not a refund of {out_trade_no}")
        return result

    # -- the bill

    def fetch_statement(self, business_date: date) -> bytes:
        query = urlencode({"bill_date": business_date.isoformat(), "bill_type": "ALL"})
        answer = self._call("GET", f"/v3/bill/tradebill?{query}")
        download_url, hash_value = bill_location(answer.data, base_url=self.base_url)
        content = self._download(download_url)
        check_bill_hash(content, hash_value)
        try:
            parse_bill(content)
        except StatementInvalid as exc:
            raise ProviderError(f"bill download: {exc}") from exc
        return content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        return read_notification(
            headers,
            body,
            credentials=self.credentials,
            scheme=self._scheme,
            now=time.time(),
        )

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return ACCEPTED if accepted else REFUSED

    # -- HTTP

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        not_found_ok: bool = False,
    ) -> _Answer:
        """Send one signed request; return its verified 2xx answer.

        With ``not_found_ok``, a signed 404 saying the trade or refund does not exist is
        returned too; other 4xx answers raise ProviderDeclined with WeChat's code.
        """
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        response, timestamp = self._send(method, self.base_url + path, text)
        answer = self._read(method, path, response)
        if answer.status < 300 or (not_found_ok and _is_signed_not_found(answer)):
            return answer
        answered_after = None if answer.signed_at is None else answer.signed_at - int(timestamp)
        raise refusal(
            f"{method} {_route(path)}", answer.status, answer.data, answered_after=answered_after
        )

    def _send(self, method: str, url: str, body: str) -> tuple[requests.Response, str]:
        """The answer to the request, and the timestamp it was signed with."""
        parts = urlsplit(url)
        url_path = parts.path + (f"?{parts.query}" if parts.query else "")
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16).upper()
        text = request_text(method, url_path, timestamp, nonce, body)
        headers = {
            "Accept": "application/json",
            "Authorization": authorization(
                self._scheme.signature_type,
                mchid=self.credentials.mchid,
                serial_no=self.credentials.merchant_serial_no,
                nonce=nonce,
                timestamp=timestamp,
                signature=self._scheme.sign(text),
            ),
        }
        if method == "POST":
            headers["Content-Type"] = "application/json"
        response = http.send(
            f"{method} {_route(url_path)}",
            lambda: self.session.request(
                method,
                url,
                data=body.encode("utf-8") if method == "POST" else None,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        return response, timestamp

    def _read(self, method: str, path: str, response: requests.Response) -> _Answer:
        where = f"{method} {_route(path)}"
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{where}: HTTP {response.status_code}")
        if response.status_code < 200 or 300 <= response.status_code < 400:
            raise ProviderError(f"{where}: unexpected HTTP {response.status_code}")
        signed = "wechatpay-signature" in {name.lower() for name in response.headers}
        signed_at = None
        if response.status_code < 300 or signed:
            try:
                signed_at = check_signature(
                    response.headers,
                    response.content,
                    serial_no=self.credentials.platform_serial_no,
                    scheme=self._scheme,
                    now=time.time(),
                )
            except StaleSignature as exc:
                # Nothing is read from it: the outcome is unknown, as if unanswered.
                raise ProviderUnavailable(
                    f"{where}: {exc}: it came late, or our clock and WeChat's differ"
                ) from exc
            except ValueError as exc:
                raise ProviderError(f"{where}: {exc}") from exc
        if response.status_code == 204:
            return _Answer(204, {}, signed_at)
        try:
            data = signing.loads_object(response.content)
        except signing.MalformedJson as exc:
            raise ProviderError(f"{where}: unreadable answer: {exc}") from exc
        return _Answer(response.status_code, data, signed_at)

    def _download(self, url: str) -> bytes:
        """GET the bill file: the request is signed, the file is not (its hash is)."""
        response, _ = self._send("GET", url, "")
        if response.status_code >= 500:
            raise ProviderUnavailable(f"bill download: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ProviderError(f"bill download: unexpected HTTP {response.status_code}")
        return response.content


def _is_signed_not_found(answer: _Answer) -> bool:
    return (
        answer.status == 404
        and answer.signed_at is not None
        and answer.data.get("code") in NOT_FOUND_CODES
    )


def _route(path: str) -> str:
    """A path for messages, without its query string."""
    return path.split("?", 1)[0]
