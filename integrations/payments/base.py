"""The contract between the service and every payment channel.

Only a provider's own package touches its wire format; the service sees these
frozen dataclasses, with amounts in integer fen and aware datetimes. The errors are
those of integrations.errors, re-exported here for the service.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from integrations.errors import (
    InvalidNotification,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CreateTrade",
    "CreatedTrade",
    "InvalidNotification",
    "Notification",
    "NotificationAck",
    "PaymentChannel",
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "RefundRequest",
    "RefundResult",
    "RefundStatus",
    "RenewsPayUrl",
    "TradeResult",
    "TradeStatus",
]


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
    opened_at: datetime  # when we opened the trade (the attempt's created_at); UnionPay's txnTime
    # Where the cashier sends the payer's browser after paying ("" for nowhere): Alipay's
    # page.pay return_url, WeChat Pay's H5 redirect_url, UnionPay's frontUrl, the platform's
    # return_url.
    return_url: str = ""
    # The payer's browser address, when the portal knows it: WeChat Pay's H5 cashier needs it.
    payer_ip: str = ""


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


class RefundStatus(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str  # our refund id; the provider's idempotency key for the refund
    amount: int  # this refund, in fen
    total_amount: int  # the original trade's amount, in fen
    reason: str
    notify_url: str
    opened_at: datetime  # when the original trade was opened, as passed to create_trade
    requested_at: datetime  # when we asked for this refund (the refund's created_at)


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: RefundStatus
    amount: int = 0
    out_trade_no: str = ""
    provider_refund_no: str = ""
    refunded_at: datetime | None = None
    failure_reason: str = ""
    raw: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Notification:
    """A verified inbound notification: its provider-unique id and what it says.

    A payment notification carries ``result``; a refund notification carries ``refund``.
    """

    notify_id: str
    result: TradeResult | None = None
    refund: RefundResult | None = None


@dataclass(frozen=True)
class NotificationAck:
    """The exact HTTP answer a provider expects when we accept or refuse a notification."""

    status: int
    body: bytes
    content_type: str


class PaymentChannel(Protocol):
    """A provider's adapter: stateless, so any process can act on any trade or refund.

    Every call that names a trade or refund also passes when it was opened or requested:
    some providers (UnionPay) identify a transaction by its id and its original time.
    """

    code: str

    def create_trade(self, request: CreateTrade) -> CreatedTrade: ...

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        """``opened_at``: the trade's CreateTrade.opened_at."""
        ...

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        """``opened_at``: the trade's CreateTrade.opened_at."""
        ...

    def refund(self, request: RefundRequest) -> RefundResult:
        """Ask for a refund; calling again with the same out_refund_no never refunds twice."""
        ...

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        """``requested_at``: the refund's RefundRequest.requested_at."""
        ...

    def fetch_statement(self, business_date: date) -> bytes:
        """The provider's daily bill (对账单) for a date, as the raw bytes it serves."""
        ...

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """A bill as fetch_statement returns it (or as finance staff upload it), read.

        Returns integrations.statements.typed(frame, TRANSACTION_COLUMNS): one row per
        payment or refund line of the bill, in file order, with ``line_no`` its line in the
        file; ``ref`` our out-trade number (payments) or refund number (refunds);
        ``provider_ref`` the provider's transaction or refund number; ``amount`` positive
        fen; ``fee`` fen the provider keeps (negative when a refund gives it back);
        ``occurred_at`` in UTC. Header, summary and footer lines are checked, not returned.
        Vectorised: a bill of a million lines reads in seconds. A file that does not have
        the provider's layout raises statements.StatementInvalid(line, problem) for its
        first bad line (0 for the whole file, such as a zip that will not open).
        """
        ...

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        """Verify the signature over the raw body and parse it; raise InvalidNotification."""
        ...

    def acknowledge(self, *, accepted: bool) -> NotificationAck: ...


@runtime_checkable
class RenewsPayUrl(Protocol):
    """A channel whose pay_url can be a request signed for the payer's browser to make,
    which its gateway accepts only for a while after signing (Alipay's page.pay).

    A pending trade handed to the payer again gets its pay_url through ``renew_pay_url``.
    """

    def renew_pay_url(self, pay_url: str) -> str:
        """``pay_url`` itself while the gateway will accept it for a while yet (and any
        link that does not age, such as a QR code); otherwise the same request signed
        afresh: the same trade, amount, expiry and return address. Makes no call.
        """
        ...
