"""Courier codes to couriers, each built from the configuration its caller gives."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from integrations.configuration import required
from integrations.couriers.base import Courier
from integrations.couriers.ems import EmsCourier
from integrations.couriers.sf import SfExpressCourier
from integrations.errors import UnknownCourier


def _ems(config: Mapping) -> Courier:
    return EmsCourier(**required(config, ("base_url", "sender_no", "authorization", "secret")))


def _sf(config: Mapping) -> Courier:
    values = required(config, ("base_url", "partner_id", "checkword", "push_token"))
    return SfExpressCourier(**values, monthly_card=config.get("monthly_card", ""))


_BUILDERS: dict[str, Callable[[Mapping], Courier]] = {
    EmsCourier.code: _ems,
    SfExpressCourier.code: _sf,
}
COURIER_CODES = tuple(_BUILDERS)


def build_courier(code: str, config: Mapping) -> Courier:
    builder = _BUILDERS.get(code)
    if builder is None:
        raise UnknownCourier(f"no courier {code!r}")
    return builder(config)
