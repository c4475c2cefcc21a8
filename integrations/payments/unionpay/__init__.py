"""UnionPay online gateway payment (银联在线网关支付), message version 5.1.0.

The wire protocol is described in docs/unionpay.md; this package is the only code that
knows it.
"""

from integrations.payments.unionpay.channel import UnionPayChannel

__all__ = ["UnionPayChannel"]
