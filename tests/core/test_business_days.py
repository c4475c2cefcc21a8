"""Business days as the State Council arranges them: 2026's holidays and working weekends
(调休) are shipped, further years come from a file, and T+n counts business days."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest

from core import business_days
from core.business_days import BusinessCalendar


def days_of(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def test_the_shipped_2026_calendar_is_the_notice_s_arrangement():
    year = days_of(date(2026, 1, 1), date(2026, 12, 31))
    closed = [day for day in year if day.weekday() < 5 and not business_days.is_business_day(day)]
    working_weekends = [
        day for day in year if day.weekday() >= 5 and business_days.is_business_day(day)
    ]

    # Weekdays off: 元旦 1-2 Jan, 春节 16-20 and 23 Feb, 清明 6 Apr, 劳动节 1 and 4-5 May,
    # 端午 19 Jun, 中秋 25 Sep, 国庆 1-2 and 5-7 Oct.
    assert [day.isoformat()[5:] for day in closed] == [
        "01-01", "01-02",
        "02-16", "02-17", "02-18", "02-19", "02-20", "02-23",
        "04-06",
        "05-01", "05-04", "05-05",
        "06-19",
        "09-25",
        "10-01", "10-02", "10-05", "10-06", "10-07",
    ]  # fmt: skip
    assert [day.isoformat() for day in working_weekends] == [
        "2026-01-04",
        "2026-02-14",
        "2026-02-28",
        "2026-05-09",
        "2026-09-20",
        "2026-10-10",
    ]


@pytest.mark.parametrize(
    ("day", "lag", "settles"),
    [
        pytest.param(date(2026, 11, 27), 1, date(2026, 11, 30), id="friday_t1_is_monday"),
        pytest.param(date(2026, 11, 28), 1, date(2026, 11, 30), id="saturday_t1_is_monday"),
        pytest.param(date(2026, 11, 26), 2, date(2026, 11, 30), id="thursday_t2_is_monday"),
        pytest.param(date(2026, 2, 13), 1, date(2026, 2, 14), id="working_saturday_counts"),
        pytest.param(date(2026, 2, 14), 1, date(2026, 2, 24), id="spring_festival_skipped"),
        pytest.param(date(2026, 9, 30), 1, date(2026, 10, 8), id="national_day_skipped"),
        pytest.param(date(2026, 10, 9), 1, date(2026, 10, 10), id="october_working_saturday"),
        pytest.param(date(2026, 11, 30), -1, date(2026, 11, 27), id="back_over_a_weekend"),
        pytest.param(date(2026, 11, 28), 0, date(2026, 11, 30), id="t0_of_a_saturday"),
        pytest.param(date(2026, 11, 27), 0, date(2026, 11, 27), id="t0_of_a_friday"),
    ],
)
def test_t_plus_n_counts_business_days(day, lag, settles):
    assert business_days.add_business_days(day, lag) == settles


def test_the_next_business_day_after_a_holiday_eve():
    assert business_days.next_business_day(date(2026, 4, 3)) == date(2026, 4, 7)
    assert business_days.next_business_day(date(2026, 1, 3)) == date(2026, 1, 4)  # a Sunday
    assert business_days.is_business_day(date(2026, 1, 4))
    assert not business_days.is_business_day(date(2026, 1, 3))  # a Saturday of 元旦


def test_the_calendar_follows_the_setting(settings):
    settings.BUSINESS_CALENDAR = {
        "2026": {"holidays": ["2026-11-30"], "working_weekends": ["2026-11-29"]}
    }

    assert business_days.add_business_days(date(2026, 11, 27), 1) == date(2026, 11, 29)
    assert business_days.add_business_days(date(2026, 11, 27), 2) == date(2026, 12, 1)


def test_a_year_not_in_the_calendar_counts_monday_to_friday_and_says_so(caplog):
    calendar = BusinessCalendar.from_years({})

    with caplog.at_level(logging.WARNING, logger="core.business_days"):
        assert calendar.add_business_days(date(2031, 10, 3), 1) == date(2031, 10, 6)

    assert "no business calendar for 2031" in caplog.text


@pytest.mark.parametrize(
    ("years", "fault"),
    [
        ({"2027": {"working_weekends": ["2027-02-08"]}}, "on a weekday"),
        ({"2027": {"holidays": ["2027-02-06"], "working_weekends": ["2027-02-06"]}}, "both"),
        ({"2027": {"holidays": ["2026-12-31"]}}, "not a day or range of days in 2027"),
        ({"2027": {"holidays": [["2027-10-07", "2027-10-01"]]}}, "not a day or range"),
    ],
)
def test_a_calendar_that_contradicts_itself_is_refused(years, fault):
    with pytest.raises(ValueError, match=fault):
        BusinessCalendar.from_years(years)


def test_a_deployment_adds_the_next_year_in_a_file(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(
        json.dumps({"2027": {"holidays": [["2027-01-01", "2027-01-03"]], "working_weekends": []}}),
        encoding="utf-8",
    )

    years = business_days.years_in_file(str(path))
    calendar = BusinessCalendar.from_years({"2026": {}, **years})

    assert calendar.add_business_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert business_days.years_in_file(None) == {}
    path.write_text(json.dumps({"2027": {"working_weekends": ["2027-01-04"]}}), encoding="utf-8")
    with pytest.raises(ValueError, match="on a weekday"):
        business_days.years_in_file(str(path))
