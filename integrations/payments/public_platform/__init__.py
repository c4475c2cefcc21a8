"""The unified public payment platform (统一公共支付平台): gateway calls and notifications.

The wire protocol is described in docs/public_platform.md; this package is the only code
that knows it. Every request is signed with the merchant's key and every answer and
notification must carry a valid signature by the platform's key, both in the one scheme
the merchant is configured with (RSA2, or SM2 with SM3). A daily bill is checked against
the SHA-256 that the signed answer carries.
"""

from integrations.payments.public_platform.channel import PublicPlatformChannel

__all__ = ["PublicPlatformChannel"]
