"""The public platform's code tables: trade and refund statuses and retryable answer codes."""

from __future__ import annotations

from integrations.payments.base import RefundStatus, TradeStatus

TRADE_STATUSES = {
    "WAIT_PAY": TradeStatus.PENDING,
    "SUCCESS": TradeStatus.SUCCEEDED,
    "FAILED": TradeStatus.FAILED,
    "CLOSED": TradeStatus.CLOSED,
}
REFUND_STATUSES = {
    "PROCESSING": RefundStatus.PENDING,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "FAILED": RefundStatus.FAILED,
}
# The platform could not decide now; whether the call took effect is unknown.
RETRYABLE_CODES = frozenset({"SYSTEM_BUSY"})
# The request's timestamp is more than 5 minutes from the platform's clock: it came late, or
# the clocks differ. A retry is signed afresh.
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
