"""WeChat Pay API v3 (微信支付 APIv3), Native payments: gateway calls, notifications, bills.

The wire protocol is described in docs/wechatpay.md; this package is the only code that
knows it. Every request carries a signature by the merchant's key; every answer and
notification must carry a valid signature by the platform's key, made within five
minutes, under the platform serial number we trust. The scheme is the deployment's
choice (schemes.py): ``WECHATPAY2-SHA256-RSA2048`` with AES-GCM resources, or the national
mode's ``WECHATPAY2-SM2-WITH-SM3`` with SM4-GCM resources.
"""

from integrations.payments.wechatpay.channel import WechatPayChannel
from integrations.payments.wechatpay.wire import WechatPayCredentials

__all__ = ["WechatPayChannel", "WechatPayCredentials"]
