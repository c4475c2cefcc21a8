"""Fields the APIs share."""

from __future__ import annotations

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
