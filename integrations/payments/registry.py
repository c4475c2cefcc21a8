"""Channel codes to configured channels, built from the settings at call time."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.payments.base import PaymentChannel
from integrations.payments.public_platform import PublicPlatformChannel


class UnknownChannel(ValueError):
    pass


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


_BUILDERS: dict[str, Callable[[], PaymentChannel]] = {
    PublicPlatformChannel.code: _public_platform,
}
CHANNEL_CODES = tuple(_BUILDERS)


def get_channel(code: str) -> PaymentChannel:
    builder = _BUILDERS.get(code)
    if builder is None:
        raise UnknownChannel(f"no payment channel {code!r}")
    return builder()
