"""A bank's statement download over HTTPS: GET <base_url>/statements/<account>/<date>.

The path, the ``format`` query parameter and the answers are this service's bank
statement interface (docs/banks.md), which the sandbox bank serves; a bank that offers
its statements otherwise gets a module of its own beside this one.
"""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import quote

import requests

from integrations.banks.base import BankStatementFormat, StatementNotReady
from integrations.errors import ProviderDeclined, ProviderError
from integrations.http import send_answered

NOT_READY = "statement_not_ready"


class HttpStatementBank:
    def __init__(
        self,
        *,
        code: str,
        base_url: str,
        format: str,
        timeout: tuple[float, float] = (3.0, 60.0),
        session: requests.Session | None = None,
    ) -> None:
        BankStatementFormat.of(format)  # an unknown format fails at configuration
        self.code = code
        self.base_url = base_url.rstrip("/")
        self.format = format
        self.timeout = timeout
        self.session = session or requests.Session()

    def fetch_statement(self, account: str, business_date: date) -> bytes:
        url = f"{self.base_url}/statements/{quote(account, safe='')}/{business_date.isoformat()}"
        kind, _ = BankStatementFormat.of(self.format)
        params = {} if kind is BankStatementFormat.CAMT053 else {"format": self.format}
        what = f"{self.code} statement of {account} for {business_date}"
        response = send_answered(
            what,
            lambda: self.session.get(
                url, params=params, timeout=self.timeout, allow_redirects=False
            ),
        )
        if response.status_code == 200:
            return response.content
        code, message = error_of(response)
        if code == NOT_READY:
            raise StatementNotReady(f"{what}: {message or 'not ready'}")
        if 400 <= response.status_code < 500 and code:
            raise ProviderDeclined(
                f"{what}: HTTP {response.status_code} {code}: {message}", code=code
            )
        raise ProviderError(f"{what}: HTTP {response.status_code}")


def error_of(response: requests.Response) -> tuple[str, str]:
    """The code and message of an error answer ({"code": ..., "message": ...}), if any."""
    try:
        answer = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(answer, dict):
        return "", ""
    return str(answer.get("code", "")), str(answer.get("message", ""))[:200]
