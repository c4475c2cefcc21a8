"""HttpReceiptPlatform: the receipt platform over HTTPS (docs/receipt_platform.md).

Each service is a signed form POST to ``{base_url}/{service}``; the answer is read by
wire, and every receipt in it by receipt_file, which verifies both of its signatures
with the published keys before the service sees it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import requests

from integrations import http
from integrations.configuration import required
from integrations.crypto import sm2
from integrations.crypto.errors import InvalidKey
from integrations.errors import ConfigurationError, ProviderDeclined, ProviderError
from integrations.receipts import day_file, receipt_file, wire
from integrations.receipts.base import (
    IssuedReceipt,
    ReceiptRequest,
    ReceiptVerification,
    RedReceiptRequest,
)

if TYPE_CHECKING:
    import pandas as pd

_ZIP = "application/x-zip-compressed"


class HttpReceiptPlatform:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_key: str,
        issuer_public_keys: Mapping[str, str],
        finance_public_keys: Mapping[str, str],
        sign_method: str = wire.HMAC_SM3,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | http.SessionPerThread | None = None,
    ) -> None:
        """``issuer_public_keys`` and ``finance_public_keys`` map a certificate serial
        number to the published SM2 public key (PEM) of the issuing unit or the finance
        department; ``sign_method`` is the app's registered scheme."""
        if sign_method not in wire.SIGN_METHODS:
            raise ConfigurationError(f"sign_method is one of {', '.join(wire.SIGN_METHODS)}")
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._app_key = app_key
        self.sign_method = sign_method
        self._issuer_keys = _public_keys(issuer_public_keys)
        self._finance_keys = _public_keys(finance_public_keys)
        self.timeout = timeout
        self.session = session or http.SessionPerThread()

    def issue(self, request: ReceiptRequest) -> IssuedReceipt:
        receipt = self._answered_receipt(self._call("issue", wire.issue_message(request)))
        _expect(receipt, request.business_id, request.total_fen, ("", ""))
        return receipt

    def issue_red(self, request: RedReceiptRequest) -> IssuedReceipt:
        receipt = self._answered_receipt(self._call("issue_red", wire.red_message(request)))
        original = (request.original_code, request.original_number)
        _expect(receipt, request.business_id, -request.amount_fen, original)
        return receipt

    def query(self, business_id: str) -> IssuedReceipt | None:
        try:
            message = self._call("query", {"bizCode": business_id})
        except ProviderDeclined as declined:
            if declined.code == wire.NO_SUCH_RECEIPT:
                return None
            raise
        receipt = self._answered_receipt(message)
        if receipt.business_id != business_id:
            raise ProviderError(f"the platform answered the receipt of {receipt.business_id}")
        return receipt

    def download(self, code: str, number: str) -> IssuedReceipt:
        files = self._download("download", {"eInvoiceCode": code, "eInvoiceNumber": number})
        if len(files) != 1:
            raise ProviderError(f"download answered {len(files)} receipt files, not one")
        receipt = self.read(files[0])
        _same_receipt(receipt, code, number)
        return receipt

    def download_day(self, day: date) -> tuple[IssuedReceipt, ...]:
        files = receipt_file.xml_files_from_zip(self.fetch_day_file(day))
        receipts = tuple(self.read(xml) for xml in files)
        if any(receipt.issued_at.date() != day for receipt in receipts):
            raise ProviderError(f"download_by_date {day} answered a receipt of another day")
        return receipts

    def fetch_day_file(self, day: date) -> bytes:
        return self._zip("download_by_date", {"issueDate": f"{day:%Y%m%d}"})

    def parse_day_file(self, content: bytes) -> pd.DataFrame:
        return day_file.receipts_frame(day_file.day_receipts(content, self.read))

    def verify(self, code: str, number: str, check_code: str) -> ReceiptVerification:
        message = self._call(
            "verify", {"eInvoiceCode": code, "eInvoiceNumber": number, "randomNumber": check_code}
        )
        genuine = message.get("genuine")
        if genuine is False:
            return ReceiptVerification(genuine=False)
        if genuine is not True:
            raise ProviderError("the verification answer's genuine is not true or false")
        receipt = self.read(wire.answer_xml(message))
        _same_receipt(receipt, code, number)
        if receipt.check_code != check_code:
            raise ProviderError("the platform called genuine a receipt of another check code")
        try:
            reddened = wire.fen(wire.answer_text(message, "reddenedAmount"))
        except ValueError as exc:
            raise ProviderError(f"reddenedAmount: {exc}") from exc
        return ReceiptVerification(genuine=True, receipt=receipt, reddened_fen=reddened)

    def read(self, xml: bytes) -> IssuedReceipt:
        return receipt_file.read_receipt(
            xml, issuer_keys=self._issuer_keys, finance_keys=self._finance_keys
        )

    def _answered_receipt(self, message: Mapping[str, Any]) -> IssuedReceipt:
        """The receipt an answer carries, which must be the one its summary names."""
        receipt = self.read(wire.answer_xml(message))
        summary = {
            "bizCode": receipt.business_id,
            "eInvoiceCode": receipt.code,
            "eInvoiceNumber": receipt.number,
            "randomNumber": receipt.check_code,
            "totalAmount": wire.yuan(receipt.total_fen),
        }
        if any(wire.answer_text(message, name) != value for name, value in summary.items()):
            raise ProviderError("the answer's summary is not that of the receipt it carries")
        return receipt

    def _download(self, service: str, message: Mapping[str, Any]) -> list[bytes]:
        """The receipt files of a download's zip."""
        return receipt_file.xml_files_from_zip(self._zip(service, message))

    def _zip(self, service: str, message: Mapping[str, Any]) -> bytes:
        """A download's zip as answered; the platform's refusal if it answered JSON."""
        response = self._post(service, message)
        if response.headers.get("Content-Type", "").split(";")[0].strip() != _ZIP:
            self._read_answer(response)  # raises the platform's refusal
            raise ProviderError(f"{service} answered without a file")
        if response.status_code != 200:
            raise ProviderError(f"HTTP {response.status_code}", http_status=response.status_code)
        return response.content

    def _call(self, service: str, message: Mapping[str, Any]) -> dict[str, Any]:
        return self._read_answer(self._post(service, message))

    def _read_answer(self, response: requests.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise ProviderError(f"HTTP {response.status_code}", http_status=response.status_code)
        return wire.read_answer(
            response.content, sign_method=self.sign_method, app_key=self._app_key
        )

    def _post(self, service: str, message: Mapping[str, Any]) -> requests.Response:
        form = wire.signed_parameters(
            app_id=self.app_id,
            app_key=self._app_key,
            sign_method=self.sign_method,
            service=service,
            message=message,
            noise=secrets.token_hex(16),
        )
        url = f"{self.base_url}/{service}"
        return http.send_answered(
            f"receipts {service}",
            lambda: self.session.post(url, data=form, timeout=self.timeout, allow_redirects=False),
        )


def build_receipt_platform(config: Mapping) -> HttpReceiptPlatform:
    """The platform from a configuration shaped like settings.RECEIPTS (``sign_method`` and
    ``timeout``, seconds to connect and to read, are optional)."""
    values = required(
        config, ("base_url", "app_id", "app_key", "issuer_public_keys", "finance_public_keys")
    )
    optional = {name: config[name] for name in ("sign_method", "timeout") if name in config}
    return HttpReceiptPlatform(**values, **optional)


def _public_keys(pems: Mapping[str, str]) -> dict[str, sm2.PublicKey]:
    try:
        return {serial: sm2.load_public_key(pem) for serial, pem in pems.items()}
    except InvalidKey as exc:
        raise ConfigurationError(f"a receipt signing key cannot be read: {exc}") from exc


def _expect(
    receipt: IssuedReceipt, business_id: str, total_fen: int, original: tuple[str, str]
) -> None:
    """The platform answered the receipt asked for: the business id, total and original."""
    related = (receipt.face.related_code, receipt.face.related_number)
    if (receipt.business_id, receipt.total_fen, related) != (business_id, total_fen, original):
        raise ProviderError(
            f"the platform answered receipt {receipt.code}{receipt.number} of "
            f"{receipt.business_id}, {receipt.total_fen} fen, not the one asked for"
        )


def _same_receipt(receipt: IssuedReceipt, code: str, number: str) -> None:
    if (receipt.code, receipt.number) != (code, number):
        raise ProviderError(f"asked for receipt {code}{number}, got {receipt.code}{receipt.number}")
