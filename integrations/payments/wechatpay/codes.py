"""WeChat Pay's code tables: trade and refund states, events and error codes, as our outcomes."""

from __future__ import annotations

from integrations.payments.base import RefundStatus, TradeStatus

TRADE_STATES = {
    "NOTPAY": TradeStatus.PENDING,
    "USERPAYING": TradeStatus.PENDING,
    "SUCCESS": TradeStatus.SUCCEEDED,
    "REFUND": TradeStatus.SUCCEEDED,  # paid, then (partly) refunded: the payment stands
    "PAYERROR": TradeStatus.FAILED,
    "CLOSED": TradeStatus.CLOSED,
    "REVOKED": TradeStatus.CLOSED,
}
# ABNORMAL is not final: the money left the merchant but did not reach the payer, and
# the merchant must redirect it; treating it as failed would invite a second refund.
REFUND_STATES = {
    "PROCESSING": RefundStatus.PENDING,
    "ABNORMAL": RefundStatus.PENDING,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CLOSED": RefundStatus.FAILED,
}
REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"})
# WeChat could not decide now; whether the call took effect is unknown.
RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED"})
# A bad signature, or one whose timestamp was more than 5 minutes from WeChat's clock.
SIGN_ERROR = "SIGN_ERROR"
# The trade bill of a date without trades, or of one whose bill is not made yet (10:00 T+1).
NO_STATEMENT_CODE = "NO_STATEMENT_EXIST"
# Close answers these when the trade is already final: the query says which way.
CLOSE_SETTLED_CODES = frozenset({"ORDERPAID", "ORDER_CLOSED"})
# A signed 404 with one of these says the trade or refund does not exist.
NOT_FOUND_CODES = ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS")
