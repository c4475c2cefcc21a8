"""The contract between the service and every payment channel.

Only a provider's own module touches its wire format; the service sees these
frozen dataclasses, with amounts in integer fen and aware datetimes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ProviderError(Exception):
    """The provider answered something we cannot use (bad signature, malformed body)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached or timed out: the only retryable error.

    The outcome of the call is unknown; callers resolve it with a status query.
    """


class ProviderDeclined(ProviderError):
    """The provider understood the request and refused it."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InvalidNotification(ProviderError):
    """An inbound notification failed verification: forged, tampered or malformed."""


class TradeStatus(enum.StrEnum):
    """A channel trade's status, normalised across providers."""

    PENDING = "pending"  # created, waiting for the payer
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CLOSED = "closed"  # closed before payment
    NOT_FOUND = "not_found"  # the provider has no such trade


@dataclass(frozen=True)
class CreateTrade:
    out_trade_no: str
    payment_code: str
    amount: int
    subject: str
    department_code: str
    notify_url: str
    expires_at: datetime
    return_url: str = ""


@dataclass(frozen=True)
class CreatedTrade:
    out_trade_no: str
    provider_trade_no: str
    pay_url: str


@dataclass(frozen=True)
class TradeResult:
    """What the provider says about one trade, from a query or a notification."""

    out_trade_no: str
    status: TradeStatus
    amount: int = 0
    provider_trade_no: str = ""
    paid_at: datetime | None = None
    failure_reason: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Notification:
    """A verified inbound notification: its provider-unique id and what it says."""

    notify_id: str
    result: TradeResult


@dataclass(frozen=True)
class NotificationAck:
    """The exact HTTP answer a provider expects when we accept or refuse a notification."""

    status: int
    body: bytes
    content_type: str


class PaymentChannel(Protocol):
    code: str

    def create_trade(self, request: CreateTrade) -> CreatedTrade: ...

    def query_trade(self, out_trade_no: str) -> TradeResult: ...

    def close_trade(self, out_trade_no: str) -> TradeResult: ...

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        """Verify the signature over the raw body and parse it; raise InvalidNotification."""
        ...

    def acknowledge(self, *, accepted: bool) -> NotificationAck: ...
