"""WeChat Pay API v3 (微信支付 APIv3), Native payments: gateway calls, notifications, bills.

The wire protocol is described in docs/wechatpay.md; this package is the only code that
knows it. Every request carries a ``WECHATPAY2-SHA256-RSA2048`` signature by the
merchant's key; every answer and notification must carry a valid signature by the
platform's key, made within five minutes, under the platform serial number we trust.
"""

from integrations.payments.wechatpay.channel import WechatPayChannel
from integrations.payments.wechatpay.wire import WechatPayCredentials

__all__ = ["WechatPayChannel", "WechatPayCredentials"]
