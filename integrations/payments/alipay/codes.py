"""Alipay's code tables: gateway codes, trade statuses and bill kinds, as our outcomes."""

from __future__ import annotations

from integrations.payments.base import TradeStatus

SUCCESS_CODE = "10000"
# Gateway code 20000 (isp/aop.unknow-error) and ACQ.SYSTEM_ERROR: Alipay could not decide now.
UNAVAILABLE_CODE = "20000"
RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "isp.unknow-error", "aop.unknow-error"})
TRADE_STATUSES = {
    "WAIT_BUYER_PAY": TradeStatus.PENDING,
    "TRADE_SUCCESS": TradeStatus.SUCCEEDED,
    "TRADE_FINISHED": TradeStatus.SUCCEEDED,
    "TRADE_CLOSED": TradeStatus.CLOSED,
}
# The 业务类型 of a trade bill's detail line.
BILL_KINDS = {"交易": "payment", "退款": "refund"}
