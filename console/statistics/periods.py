"""Periods of business dates: days, months or years in Beijing time.

A moment (a payment's ``paid_at``) belongs to the day, month or year of its business date
(``core.money.business_date_of``: its calendar date in Beijing, cut at 24:00); a date
column (a clearing's business date) to the period it falls in. A period is named by its
first day.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db.models import DateField
from django.db.models.functions import TruncDay, TruncMonth, TruncYear

from core.money import BEIJING
from reconciliation.ours import day_bounds

DAY, MONTH, YEAR = "day", "month", "year"
GRANULARITIES = (DAY, MONTH, YEAR)
_TRUNCATE = {DAY: TruncDay, MONTH: TruncMonth, YEAR: TruncYear}
_LABEL_FORMAT = {DAY: "%Y-%m-%d", MONTH: "%Y-%m", YEAR: "%Y"}


def period_of_moment(moment, granularity: str):
    """The SQL expression naming the period of a row by a moment (a column or an
    expression): the first day of its business day, month or year in Beijing time."""
    return _TRUNCATE[granularity](moment, output_field=DateField(), tzinfo=BEIJING)


def period_of_date(column: str, granularity: str):
    """The same for a date column: the first day of the period it falls in."""
    return _TRUNCATE[granularity](column, output_field=DateField())


def period_start(day: date, granularity: str) -> date:
    if granularity == YEAR:
        return day.replace(month=1, day=1)
    if granularity == MONTH:
        return day.replace(day=1)
    return day


def periods(first: date, last: date, granularity: str) -> list[date]:
    """Every period from the one holding ``first`` to the one holding ``last``."""
    found, current = [], period_start(first, granularity)
    while current <= last:
        found.append(current)
        current = _next(current, granularity)
    return found


def period_label(start: date, granularity: str) -> str:
    return start.strftime(_LABEL_FORMAT[granularity])


def span(first: date, last: date) -> tuple[datetime, datetime]:
    """From the start of ``first`` to the end of ``last``, business dates in Beijing."""
    return day_bounds(first)[0], day_bounds(last)[1]


def _next(start: date, granularity: str) -> date:
    if granularity == YEAR:
        return start.replace(year=start.year + 1)
    if granularity == MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date.fromordinal(start.toordinal() + 1)
