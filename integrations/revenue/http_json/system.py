"""HttpJsonRevenueSystem: the revenue push protocol over HTTPS, each answer read by wire."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from datetime import date
from urllib.parse import urlsplit

import requests

from integrations import http
from integrations.revenue.base import PushRequest, PushResult
from integrations.revenue.http_json import wire


class HttpJsonRevenueSystem:
    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        secret: str,
        signature_method: str = wire.HMAC_SHA256.name,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_key = app_key
        self._secret = secret
        self._method = wire.METHODS.get(signature_method)
        if self._method is None:
            raise ValueError(
                f"signature method {signature_method!r} is not one of {', '.join(wire.METHODS)}"
            )
        self.timeout = timeout
        self.session = session or requests.Session()

    def push(self, request: PushRequest) -> PushResult:
        response = self._send("POST", "/records", body=wire.record_body(request))
        answer = wire.read_answer(response.status_code, response.content)
        return wire.receipt(request.record_id, response.status_code, answer)

    def query(self, record_id: str) -> PushResult:
        response = self._send("GET", f"/records/{record_id}")
        answer = wire.read_answer(
            response.status_code, response.content, accept=frozenset({wire.NOT_FOUND})
        )
        return wire.queried(record_id, response.status_code, answer)

    def fetch_daily_records(self, business_date: date) -> bytes:
        response = self._send("GET", "/daily-records", query={"date": business_date.isoformat()})
        if response.status_code != 200:
            # raises with the receiver's code and message
            wire.read_answer(response.status_code, response.content)
        return response.content

    def signed_headers(
        self, http_method: str, url: str, query: Mapping[str, str], body: bytes
    ) -> dict[str, str]:
        """The authentication headers of one request, with a fresh timestamp and nonce."""
        return wire.signed_headers(
            app_key=self.app_key,
            secret=self._secret,
            timestamp=str(int(time.time())),
            nonce=secrets.token_hex(16),
            http_method=http_method,
            path=urlsplit(url).path,
            query=query,
            body=body,
            method=self._method,
        )

    def _send(
        self, http_method: str, path: str, *, query: Mapping[str, str] | None = None, body=b""
    ) -> requests.Response:
        url, query = f"{self.base_url}{path}", query or {}
        headers = self.signed_headers(http_method, url, query, body)
        if body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return http.send_answered(
            f"{http_method} {path}",
            lambda: self.session.request(
                http_method,
                url,
                params=query,
                data=body or None,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
