"""The contract between the service and the revenue-collection systems.

Only a protocol's own package touches its wire format; the service sees these frozen
dataclasses, with amounts in integer fen. The errors are those of integrations.errors,
re-exported here for the service: ProviderUnavailable is the only retryable one, and
pushing again is safe, the receiver dedupes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable

__all__ = [
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "PushRequest",
    "PushResult",
    "ReceiptStatus",
    "RevenueSystem",
]


class ReceiptStatus(enum.StrEnum):
    RECEIVED = "received"  # stored, no receipt number yet
    RECEIPTED = "receipted"  # stored and given the receiver's receipt number
    NOT_FOUND = "not_found"  # the receiver has no such record


@dataclass(frozen=True)
class PushRequest:
    record_id: str  # our record id (rv_…); the receiver dedupes on it
    kind: str  # "payment" or "refund"
    sequence: int  # 1 for an order's payment, then 2, 3… for its refunds
    content: dict[str, Any]  # the record's business fields, amounts in fen


@dataclass(frozen=True)
class PushResult:
    record_id: str
    status: ReceiptStatus
    receipt_no: str = ""
    http_status: int = 200
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


class RevenueSystem(Protocol):
    def push(self, request: PushRequest) -> PushResult:
        """Send one record; sending the same record_id again never stores it twice."""
        ...

    def query(self, record_id: str) -> PushResult: ...

    def fetch_daily_records(self, business_date: date) -> bytes:
        """The receiver's record file (CSV) for a date, as the raw bytes it serves."""
        ...
