"""Channel codes to configured channels, built from the settings at call time."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.payments.alipay import AlipayChannel
from integrations.payments.base import PaymentChannel
from integrations.payments.public_platform import PublicPlatformChannel
from integrations.payments.unionpay import UnionPayChannel
from integrations.payments.wechatpay import WechatPayChannel, WechatPayCredentials


class UnknownChannel(ValueError):
    pass


def _wechatpay() -> PaymentChannel:
    config = settings.WECHATPAY
    names = ("mchid", "appid", "merchant_serial_no", "private_key_pem", "apiv3_key")
    names += ("platform_serial_no", "platform_public_key_pem")
    missing = [name for name in ("base_url", *names) if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"WECHATPAY lacks {', '.join(missing)}")
    credentials = WechatPayCredentials(**{name: config[name] for name in names})
    return WechatPayChannel(base_url=config["base_url"], credentials=credentials)


def _public_platform() -> PaymentChannel:
    config = settings.PUBLIC_PLATFORM
    required = ("base_url", "app_id", "private_key_pem", "platform_public_key_pem")
    missing = [name for name in required if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"PUBLIC_PLATFORM lacks {', '.join(missing)}")
    return PublicPlatformChannel(
        base_url=config["base_url"],
        app_id=config["app_id"],
        private_key_pem=config["private_key_pem"],
        platform_public_key_pem=config["platform_public_key_pem"],
    )


def _alipay() -> PaymentChannel:
    config = settings.ALIPAY
    required = ("base_url", "app_id", "private_key_pem", "alipay_public_key_pem")
    missing = [name for name in required if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"ALIPAY lacks {', '.join(missing)}")
    return AlipayChannel(**{name: config[name] for name in required})


def _unionpay() -> PaymentChannel:
    config = settings.UNIONPAY
    required = (
        "base_url",
        "mer_id",
        "private_key_pem",
        "certificate_pem",
        "unionpay_certificate_pem",
    )
    missing = [name for name in required if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"UNIONPAY lacks {', '.join(missing)}")
    return UnionPayChannel(
        **{name: config[name] for name in required},
        file_transfer_url=config.get("file_transfer_url", ""),
    )


_BUILDERS: dict[str, Callable[[], PaymentChannel]] = {
    WechatPayChannel.code: _wechatpay,
    PublicPlatformChannel.code: _public_platform,
    AlipayChannel.code: _alipay,
    UnionPayChannel.code: _unionpay,
}
CHANNEL_CODES = tuple(_BUILDERS)


def get_channel(code: str) -> PaymentChannel:
    builder = _BUILDERS.get(code)
    if builder is None:
        raise UnknownChannel(f"no payment channel {code!r}")
    return builder()
