"""Channel codes to channels, each built from the configuration its caller gives."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from integrations.configuration import required
from integrations.errors import UnknownChannel
from integrations.payments.alipay import AlipayChannel
from integrations.payments.base import PaymentChannel
from integrations.payments.public_platform import PublicPlatformChannel
from integrations.payments.unionpay import UnionPayChannel
from integrations.payments.wechatpay import WechatPayChannel, WechatPayCredentials


def _wechatpay(config: Mapping) -> PaymentChannel:
    names = ("mchid", "appid", "merchant_serial_no", "private_key_pem", "apiv3_key")
    names += ("platform_serial_no", "platform_public_key_pem")
    values = required(config, ("base_url", *names))
    base_url = values.pop("base_url")
    # The keys above are those of the scheme: "rsa" unless the settings say "sm2".
    credentials = WechatPayCredentials(**values, scheme=config.get("scheme") or "rsa")
    return WechatPayChannel(base_url=base_url, credentials=credentials)


def _public_platform(config: Mapping) -> PaymentChannel:
    names = ("base_url", "app_id", "private_key_pem", "platform_public_key_pem")
    # The signature scheme agreed with the platform: RSA2 unless the settings say SM2.
    sign_type = config.get("sign_type") or "RSA2"
    return PublicPlatformChannel(**required(config, names), sign_type=sign_type)


def _alipay(config: Mapping) -> PaymentChannel:
    names = ("base_url", "app_id", "private_key_pem", "alipay_public_key_pem")
    return AlipayChannel(**required(config, names))


def _unionpay(config: Mapping) -> PaymentChannel:
    names = ("base_url", "mer_id", "private_key_pem", "certificate_pem")
    names += ("unionpay_certificate_pem",)
    return UnionPayChannel(
        **required(config, names), file_transfer_url=config.get("file_transfer_url", "")
    )


_BUILDERS: dict[str, Callable[[Mapping], PaymentChannel]] = {
    WechatPayChannel.code: _wechatpay,
    PublicPlatformChannel.code: _public_platform,
    AlipayChannel.code: _alipay,
    UnionPayChannel.code: _unionpay,
}
CHANNEL_CODES = tuple(_BUILDERS)


def build_channel(code: str, config: Mapping) -> PaymentChannel:
    builder = _BUILDERS.get(code)
    if builder is None:
        raise UnknownChannel(f"no payment channel {code!r}")
    return builder(config)
