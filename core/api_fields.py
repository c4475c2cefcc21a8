"""Fields the APIs share."""

from __future__ import annotations

import copy
from datetime import date

from django.utils import timezone
from rest_framework import serializers

from core.money import business_date_of

FIRST_DAY = date(2000, 1, 1)
BIGINT_MAX = 2**63 - 1


class BusinessDateField(serializers.DateField):
    """A calendar date the service can have records for: 2000-01-01 up to today in Beijing.

    Dates like 0290-04-13 parse, but a run for one fails and year-1 filters overflow
    when turned into times.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "YYYY-MM-DD, from 2000-01-01 up to today (Asia/Shanghai).")
        super().__init__(**kwargs)

    def to_internal_value(self, value) -> date:
        day = super().to_internal_value(value)
        today = business_date_of(timezone.now())
        if not FIRST_DAY <= day <= today:
            raise serializers.ValidationError(f"Must lie between {FIRST_DAY} and {today}.")
        return day


class FenField(serializers.IntegerField):
    """An amount in fen as the database holds it (bigint): published as int64, never negative."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", BIGINT_MAX)
        kwargs.setdefault("help_text", "In fen.")
        super().__init__(**kwargs)


class DeclaredSerializer(serializers.Serializer):
    """A serializer whose fields are all declared, copied shallowly for each instance.

    DRF deep-copies every declared field (re-running its ``__init__``) for each serializer
    instance, so that binding a copy to its serializer leaves the class's own untouched.
    Binding sets only attributes of the copy itself (its name, parent and source), so a
    shallow copy keeps the class's fields just as untouched, at a tenth of the cost: about
    0.7 ms of CPU an order. What the copies share (validators, choices, a nested
    serializer's or a list's child) is only read while validating or representing.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}
