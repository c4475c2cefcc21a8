"""Which courier carries a shipment, with which product, and what the freight costs.

The couriers are those configured in ``LOGISTICS["couriers"]``. The service books and
tracks those it has an adapter for (SF, EMS) through their own APIs; any other configured
courier takes the parcel at the agency's counter with a waybill of its own and reports
its scans through the normalised courier push (logistics/api/courier_events.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from core.errors import InvalidRequest
from integrations.couriers.registry import COURIER_CODES

AUTO = "auto"


@dataclass(frozen=True)
class CourierChoice:
    courier: str
    reason: str


def courier_config(code: str) -> dict:
    return settings.LOGISTICS["couriers"][code]


def configured() -> tuple[str, ...]:
    return tuple(settings.LOGISTICS["couriers"])


def booked_by_the_service(code: str) -> bool:
    """Whether the service books, cancels and asks routes through the courier's own API."""
    return code in COURIER_CODES


def choose_courier(*, requested: str, service_level: str, region_code: str) -> CourierChoice:
    """The courier asked for, or for `auto` the rule with the longest region prefix."""
    if requested != AUTO:
        if requested not in settings.LOGISTICS["couriers"]:
            raise InvalidRequest(
                f"Unknown courier {requested!r}.", fields={"courier": ["No such courier."]}
            )
        if service_level not in courier_config(requested)["service_levels"]:
            raise InvalidRequest(
                f"{requested} has no {service_level!r} service.",
                fields={"service_level": ["Not offered by this courier."]},
            )
        return CourierChoice(requested, "requested")
    rules = [
        rule
        for rule in settings.LOGISTICS["auto_courier"]
        if rule["service_level"] == service_level and region_code.startswith(rule["region_prefix"])
    ]
    if not rules:
        raise InvalidRequest(
            f"No courier serves {service_level!r} to region {region_code}.",
            fields={"courier": ["Name a courier: no automatic rule matches."]},
        )
    rule = max(rules, key=lambda rule: len(rule["region_prefix"]))
    prefix = rule["region_prefix"] or "any region"
    return CourierChoice(rule["courier"], f"auto: {service_level} to {prefix}")


def product_code(courier: str, service_level: str) -> str:
    return courier_config(courier)["service_levels"][service_level]


def freight_quote(*, courier: str, service_level: str, declared_value: int) -> int:
    """The tariff's freight in fen: the base plus insurance, rounded down to the fen."""
    tariff = courier_config(courier)["tariff"]
    return tariff["base"][service_level] + declared_value * tariff["insurance_permille"] // 1000
