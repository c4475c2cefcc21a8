"""Alipay open platform (支付宝开放平台): face-to-face QR payments, refunds, bills, notifications.

The wire protocol is described in docs/alipay.md; this package is the only code that knows it.
"""

from integrations.payments.alipay.channel import AlipayChannel

__all__ = ["AlipayChannel"]
