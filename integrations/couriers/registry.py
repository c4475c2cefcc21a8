"""Courier codes to configured couriers, built from the settings at call time."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.couriers.base import Courier
from integrations.couriers.ems import EmsCourier
from integrations.couriers.sf import SfExpressCourier


class UnknownCourier(ValueError):
    pass


def _configured(setting: str, required: tuple[str, ...]) -> dict[str, str]:
    config = getattr(settings, setting, {})
    missing = [name for name in required if not config.get(name)]
    if missing:
        raise ImproperlyConfigured(f"{setting} lacks {', '.join(missing)}")
    return {name: config[name] for name in required}


def _ems() -> Courier:
    return EmsCourier(**_configured("EMS", ("base_url", "sender_no", "authorization", "secret")))


def _sf() -> Courier:
    required = ("base_url", "partner_id", "checkword", "push_token")
    config = _configured("SF_EXPRESS", required)
    monthly_card = getattr(settings, "SF_EXPRESS", {}).get("monthly_card", "")
    return SfExpressCourier(**config, monthly_card=monthly_card)


_BUILDERS: dict[str, Callable[[], Courier]] = {
    EmsCourier.code: _ems,
    SfExpressCourier.code: _sf,
}
COURIER_CODES = tuple(_BUILDERS)


def get_courier(code: str) -> Courier:
    builder = _BUILDERS.get(code)
    if builder is None:
        raise UnknownCourier(f"no courier {code!r}")
    return builder()
