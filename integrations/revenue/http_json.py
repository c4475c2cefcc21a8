"""The revenue push protocol over HTTPS and signed JSON (docs/revenue_push.md).

This module is the only code that knows the wire format. Every request carries the app
key, a timestamp, a nonce and an HMAC-SHA256 signature; the receiver answers JSON with
``code`` ``"0"`` on success.
"""

from __future__ import annotations

import io
import json
import secrets
import time
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import requests

from integrations import statements
from integrations.revenue import signing
from integrations.revenue.base import (
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    PushRequest,
    PushResult,
    ReceiptStatus,
)

SUCCESS = "0"
NOT_FOUND = "404"


class HttpJsonRevenueSystem:
    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        secret: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self._secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()

    def push(self, request: PushRequest) -> PushResult:
        document = {
            "record_id": request.record_id,
            "kind": request.kind,
            "sequence": request.sequence,
            **request.content,
        }
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self._send("POST", "/records", body=body)
        return _receipt(request.record_id, response.status_code, _answer(response))

    def query(self, record_id: str) -> PushResult:
        response = self._send("GET", f"/records/{record_id}")
        answer = _answer(response, accept={NOT_FOUND})
        if answer["code"] == NOT_FOUND:
            return PushResult(
                record_id=record_id,
                status=ReceiptStatus.NOT_FOUND,
                http_status=response.status_code,
                raw=answer,
            )
        return _receipt(record_id, response.status_code, answer)

    def fetch_daily_records(self, business_date: date) -> bytes:
        response = self._send("GET", "/daily-records", query={"date": business_date.isoformat()})
        if response.status_code != 200:
            _answer(response)  # raises with the receiver's code and message
        return response.content

    def signed_headers(
        self, http_method: str, url: str, query: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """The authentication headers of one request."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        text = signing.string_to_sign(
            http_method=http_method,
            path=urlsplit(url).path,
            query=query,
            app_key=self.app_key,
            timestamp=timestamp,
            nonce=nonce,
            body=body,
        )
        return {
            signing.APP_KEY_HEADER: self.app_key,
            signing.TIMESTAMP_HEADER: timestamp,
            signing.NONCE_HEADER: nonce,
            signing.METHOD_HEADER: signing.METHOD,
            signing.SIGNATURE_HEADER: signing.sign(self._secret, text),
        }

    def _send(
        self, http_method: str, path: str, *, query: Mapping[str, str] | None = None, body=b""
    ) -> requests.Response:
        url, query = f"{self.base_url}{path}", query or {}
        headers = self.signed_headers(http_method, url, query, body)
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            response = self.session.request(
                http_method,
                url,
                params=query,
                data=body or None,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise ProviderUnavailable(
                f"{http_method} {path}: no answer ({type(exc).__name__})"
            ) from exc
        except requests.RequestException as exc:
            raise ProviderError(
                f"{http_method} {path}: the request failed ({type(exc).__name__})"
            ) from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"{http_method} {path}: HTTP {response.status_code}",
                http_status=response.status_code,
            )
        return response


def _answer(response: requests.Response, *, accept: frozenset[str] = frozenset()) -> dict:
    """The JSON answer of a 2xx with code "0" (or a code in ``accept``); raise otherwise."""
    status = response.status_code
    try:
        answer: Any = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("code"), str):
        raise ProviderError(f"HTTP {status} without a JSON answer", http_status=status)
    code, message = answer["code"], str(answer.get("message", ""))[:200]
    if code in accept or (code == SUCCESS and 200 <= status < 300):
        return answer
    raise ProviderDeclined(f"HTTP {status} code {code}: {message}", code=code, http_status=status)


def _receipt(record_id: str, http_status: int, answer: dict) -> PushResult:
    if answer.get("record_id", record_id) != record_id:
        raise ProviderError(f"the answer is not about {record_id}", http_status=http_status)
    receipt_no = answer.get("receipt_no") or ""
    if not isinstance(receipt_no, str):
        raise ProviderError("receipt_no is not text", http_status=http_status)
    return PushResult(
        record_id=record_id,
        status=ReceiptStatus.RECEIPTED if receipt_no else ReceiptStatus.RECEIVED,
        receipt_no=receipt_no,
        http_status=http_status,
        raw=answer,
    )


DAILY_COLUMNS = (
    "record_id",
    "payment_code",
    "department_code",
    "amount_fen",
    "kind",
    "received_time",
)
_KINDS = ("payment", "refund")


def parse_daily_records(content: bytes) -> pd.DataFrame:
    """The receiver's daily record file (UTF-8 CSV, header DAILY_COLUMNS) as a revenue frame."""
    try:
        raw = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise statements.StatementInvalid(0, f"not a CSV record file: {exc}") from exc
    if tuple(raw.columns) != DAILY_COLUMNS:
        raise statements.StatementInvalid(1, f"the header is not {','.join(DAILY_COLUMNS)}")
    line_no = pd.Series(range(2, len(raw) + 2), dtype="int64")
    amount = pd.to_numeric(raw["amount_fen"], errors="coerce")
    received = pd.to_datetime(raw["received_time"], errors="coerce", utc=True, format="ISO8601")
    bad = amount.isna() | (amount % 1 != 0) | ~raw["kind"].isin(_KINDS) | received.isna()
    if bad.any():
        first = int(bad.idxmax())
        raise statements.StatementInvalid(
            int(line_no[first]), "amount_fen, kind or received_time is not valid"
        )
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "record_id": raw["record_id"],
            "payment_code": raw["payment_code"],
            "department": raw["department_code"],
            "amount": amount.astype("int64"),
            "kind": raw["kind"],
            "received_at": received,
        }
    )
    return statements.typed(frame, statements.REVENUE_COLUMNS)
