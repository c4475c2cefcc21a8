"""The contract between the service and the fiscal receipt platform (财政电子票据).

Only this package touches the wire format (docs/receipt_platform.md); the service sees
these frozen dataclasses, with amounts in integer fen. The errors are those of
integrations.errors: ProviderUnavailable is the only retryable one, and issuing again
under the same business id is safe, as the platform never gives one business id a
second receipt. InvalidReceipt is a receipt file that cannot be read or whose
signatures do not verify.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from integrations.errors import InvalidInbound, ProviderDeclined, ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "InvalidReceipt",
    "IssuedReceipt",
    "PayerType",
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "ReceiptFace",
    "ReceiptItem",
    "ReceiptPlatform",
    "ReceiptRequest",
    "ReceiptSignature",
    "ReceiptVerification",
    "RedReceiptRequest",
]


class InvalidReceipt(InvalidInbound):
    """A receipt file that is malformed, or whose signatures do not verify."""


class PayerType(enum.StrEnum):
    PERSON = "1"
    ORGANISATION = "2"


@dataclass(frozen=True)
class ReceiptItem:
    code: str  # the fee item's code (收费项目编码)
    name: str
    quantity: Decimal | None  # None only on a red-letter item that reddens part of one
    unit: str
    standard_fen: int  # the charging standard (收费标准), per unit
    amount_fen: int  # negative on a red-letter receipt


@dataclass(frozen=True)
class ReceiptRequest:
    """A receipt for a paid order. ``total_fen`` is the sum of the items' amounts."""

    business_id: str  # ours, unique; the platform gives it one receipt only
    invoicing_party_code: str  # the collecting department (执收单位)
    invoicing_party_name: str
    payer_type: PayerType
    payer_name: str
    items: tuple[ReceiptItem, ...]
    total_fen: int
    pay_code: str  # the payment code (缴款码)
    pay_mode: str
    paid_on: date
    payer_code: str = ""  # an organisation's unified social credit code; "" for a person
    remark: str = ""


@dataclass(frozen=True)
class RedReceiptRequest:
    """A red-letter (冲红) receipt reddening ``amount_fen`` of an issued receipt."""

    business_id: str  # ours, unique (the refund's); one red-letter receipt per id
    original_code: str
    original_number: str
    amount_fen: int  # above zero, at most what the original has not had reddened
    reason: str


@dataclass(frozen=True)
class ReceiptSignature:
    """One of a receipt's two signatures, verified: whose key, and when it signed."""

    serial_number: str  # of the signer's certificate (KeyInfo/SerialNumber)
    issuer_name: str  # the certificate's issuer (KeyInfo/X509IssuerName)
    signed_at: datetime  # UTC


@dataclass(frozen=True)
class ReceiptFace:
    """What the receipt shows, for its rendering."""

    title: str  # EInvoiceName, e.g. 非税收入统一票据（电子）
    invoicing_party_code: str
    invoicing_party_name: str
    payer_type: PayerType
    payer_code: str
    payer_name: str
    items: tuple[ReceiptItem, ...]
    pay_code: str
    pay_mode: str
    paid_on: date | None
    remark: str
    supervisor_area_code: str  # the finance department's region (监管机构区划代码)
    # A red-letter receipt's: the receipt it reddens, and why; "" on a blue one.
    related_code: str = ""
    related_number: str = ""
    red_reason: str = ""


@dataclass(frozen=True)
class IssuedReceipt:
    """A receipt as the platform issued it, both signatures verified with the published
    keys before this exists. ``xml`` is the receipt file itself, what anyone verifies."""

    business_id: str
    code: str  # 票据代码, 8 digits
    number: str  # 票据号码, 10 digits
    check_code: str  # 校验码 (RandomNumber), 6 characters
    issued_at: datetime  # Beijing time
    total_fen: int  # negative on a red-letter receipt
    face: ReceiptFace
    issuer_signature: ReceiptSignature  # the issuing unit's (开票单位)
    finance_signature: ReceiptSignature  # the finance department's (财政部门监制)
    xml: bytes = field(repr=False)

    @property
    def is_red(self) -> bool:
        return bool(self.face.related_number)


@dataclass(frozen=True)
class ReceiptVerification:
    """The platform's verification service's answer: whether a code, number and check
    code name a genuine receipt, and if so the receipt and how much of it was reddened."""

    genuine: bool
    receipt: IssuedReceipt | None = None
    reddened_fen: int = 0


class ReceiptPlatform(Protocol):
    def issue(self, request: ReceiptRequest) -> IssuedReceipt:
        """Issue the receipt of a paid order; the same business_id again answers the same
        receipt, never a second number."""
        ...

    def issue_red(self, request: RedReceiptRequest) -> IssuedReceipt:
        """Issue a red-letter receipt for part or all of an issued one; the same
        business_id again answers the same red-letter receipt."""
        ...

    def query(self, business_id: str) -> IssuedReceipt | None:
        """The receipt issued for a business id, blue or red; None if there is none."""
        ...

    def download(self, code: str, number: str) -> IssuedReceipt:
        """A receipt this app issued, from the platform's download service (a zip)."""
        ...

    def download_day(self, day: date) -> tuple[IssuedReceipt, ...]:
        """Every receipt this app was issued on a day (Beijing), blue and red, in the
        order issued: the platform's side, for reconciliation."""
        ...

    def fetch_day_file(self, day: date) -> bytes:
        """The zip of the day's receipts as the platform answered it, for keeping: the
        file a day's reconciliation reads (and reads again when it is run again)."""
        ...

    def parse_day_file(self, content: bytes) -> pd.DataFrame:
        """A day's file as the receipts frame (integrations.statements.RECEIPT_COLUMNS),
        each receipt verified; StatementInvalid naming the receipt that is not."""
        ...

    def verify(self, code: str, number: str, check_code: str) -> ReceiptVerification:
        """Ask the platform's verification service whether a receipt is genuine."""
        ...

    def read(self, xml: bytes) -> IssuedReceipt:
        """A receipt file kept earlier, read again and its signatures verified (offline)."""
        ...
