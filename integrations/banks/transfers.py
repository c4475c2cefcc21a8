"""A bank's credit transfers over HTTPS: POST <base_url>/payments with a pain.001.

The body is the pain.001.001.09 document (pain.py) and the bank answers 200 with its
pain.002 status report, a rejection (``RJCT``) included: the path is this service's bank
interface (docs/banks.md), which the sandbox bank serves. The bank knows a message by its
MsgId: the same document sent again gets the same report and moves no money twice, so a
send whose answer was lost is sent again unchanged. No answer or a 5xx is
ProviderUnavailable; a coded 4xx (a body that is no pain.001 at all) is ProviderDeclined.
"""

from __future__ import annotations

from integrations.banks.http import error_of
from integrations.banks.pain import PaymentStatusReport, parse_pain002
from integrations.errors import ProviderDeclined, ProviderError
from integrations.http import SessionPerThread, send_answered

PAIN001_CONTENT_TYPE = "application/xml; charset=utf-8"


class HttpTransferBank:
    def __init__(
        self,
        *,
        code: str,
        base_url: str,
        timeout: tuple[float, float] = (3.0, 30.0),
        session: SessionPerThread | None = None,
    ) -> None:
        self.code = code
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or SessionPerThread()

    def initiate_transfer(self, document: bytes) -> PaymentStatusReport:
        what = f"{self.code} credit transfer"
        response = send_answered(
            what,
            lambda: self.session.post(
                f"{self.base_url}/payments",
                data=document,
                headers={"Content-Type": PAIN001_CONTENT_TYPE},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        if response.status_code == 200:
            return parse_pain002(response.content)
        code, message = error_of(response)
        if 400 <= response.status_code < 500 and code:
            raise ProviderDeclined(
                f"{what}: HTTP {response.status_code} {code}: {message}", code=code
            )
        raise ProviderError(f"{what}: HTTP {response.status_code}")
