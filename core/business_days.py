"""Business days (工作日): Monday to Friday, less the public holidays, plus the weekend days
made working days (调休), as the State Council's notice of each year arranges them.

``settings.BUSINESS_CALENDAR`` holds the years known, each ``{"holidays": [...],
"working_weekends": [...]}`` of ISO dates and ``["first", "last"]`` ranges. The notice of
the next year comes each November: a deployment adds that year in the JSON file
``BUSINESS_CALENDAR_FILE`` names (the same shape, keyed by year), read when the settings
load, so no release is needed. A year the calendar does not hold counts Monday to Friday,
and the log says so once.

T+n counts business days: T+1 of a Friday is the Monday after it, unless that Monday is a
holiday. ``BusinessCalendar`` is pure; the functions below it read the configured one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

logger = logging.getLogger(__name__)

SATURDAY = 5
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class BusinessCalendar:
    holidays: frozenset[date]
    working_weekends: frozenset[date]
    years: frozenset[int]  # the years whose arrangement the calendar holds

    @classmethod
    def from_years(cls, years: Mapping[str, Mapping[str, Iterable]]) -> BusinessCalendar:
        """The calendar of ``{"2026": {"holidays": [...], "working_weekends": [...]}}``;
        ValueError for a date outside its year, a working weekend on a weekday, or a day
        that is both."""
        holidays: set[date] = set()
        working: set[date] = set()
        for year, arrangement in years.items():
            days = {
                name: _days(arrangement.get(name, ()), int(year))
                for name in ("holidays", "working_weekends")
            }
            weekdays = sorted(day for day in days["working_weekends"] if day.weekday() < SATURDAY)
            if weekdays:
                raise ValueError(f"working weekends of {year} on a weekday: {weekdays}")
            holidays |= days["holidays"]
            working |= days["working_weekends"]
        if both := sorted(holidays & working):
            raise ValueError(f"days both a holiday and a working day: {both}")
        return cls(frozenset(holidays), frozenset(working), frozenset(map(int, years)))

    def is_business_day(self, day: date) -> bool:
        if day.year not in self.years:
            _unknown_year(day.year)
        if day in self.holidays:
            return False
        return day.weekday() < SATURDAY or day in self.working_weekends

    def next_business_day(self, day: date) -> date:
        """The first business day after ``day``."""
        day += ONE_DAY
        while not self.is_business_day(day):
            day += ONE_DAY
        return day

    def add_business_days(self, day: date, n: int) -> date:
        """T+n: the n-th business day after ``day`` (before it, for a negative n). T+0 is
        ``day`` itself when it is a business day, else the next one."""
        if n == 0:
            return day if self.is_business_day(day) else self.next_business_day(day)
        step = ONE_DAY if n > 0 else -ONE_DAY
        for _ in range(abs(n)):
            day += step
            while not self.is_business_day(day):
                day += step
        return day


def _days(entries: Iterable, year: int) -> set[date]:
    """ISO dates and ``[first, last]`` ranges, all in ``year``."""
    days: set[date] = set()
    for entry in entries:
        first, last = (entry, entry) if isinstance(entry, str) else entry
        first, last = date.fromisoformat(first), date.fromisoformat(last)
        if not (first.year == last.year == year and first <= last):
            raise ValueError(f"{entry!r} is not a day or range of days in {year}")
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days


_warned_years: set[int] = set()


def _unknown_year(year: int) -> None:
    if year not in _warned_years:
        _warned_years.add(year)
        logger.warning(
            "no business calendar for %s (BUSINESS_CALENDAR, BUSINESS_CALENDAR_FILE): "
            "counting Monday to Friday as business days",
            year,
        )


def years_in_file(path: str | None) -> dict:
    """The years of a BUSINESS_CALENDAR_FILE, checked as the calendar reads them; none
    without a file."""
    if not path:
        return {}
    years = json.loads(Path(path).read_text(encoding="utf-8"))
    BusinessCalendar.from_years(years)
    return years


_configured: tuple[object, BusinessCalendar] | None = None


def configured() -> BusinessCalendar:
    """The calendar of ``settings.BUSINESS_CALENDAR``, built again when the setting changes."""
    global _configured
    from django.conf import settings

    years = settings.BUSINESS_CALENDAR
    if _configured is None or _configured[0] is not years:
        _configured = (years, BusinessCalendar.from_years(years))
    return _configured[1]


def is_business_day(day: date) -> bool:
    return configured().is_business_day(day)


def next_business_day(day: date) -> date:
    return configured().next_business_day(day)


def add_business_days(day: date, n: int) -> date:
    return configured().add_business_days(day, n)
