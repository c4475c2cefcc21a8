"""The simulator's beat: interval entries after their interval, crontab entries when one of
their moments falls between the last send and the simulated now, however far it jumped."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab

from simulation.beat import _Entry

BEIJING = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=BEIJING)


def test_a_daily_crontab_is_due_once_its_moment_has_passed_whatever_the_jump():
    nightly = _Entry("reconcile", None, crontab(hour=0, minute=30), at(26, 7))
    assert not nightly.due(at(26, 23, 59))
    assert nightly.due(at(27, 0, 30))
    assert nightly.due(at(28, 10))  # a jump over two nights: sent once, now
    assert not _Entry("reconcile", None, crontab(hour=0, minute=30), at(27, 0, 30)).due(
        at(27, 23)
    )
    # In the schedule's zone, not UTC: 00:30 in Beijing is 16:30 UTC the day before.
    assert nightly.due(datetime(2026, 10, 26, 16, 30, tzinfo=UTC))


def test_an_hourly_crontab_and_an_interval():
    hourly = _Entry("retry", None, crontab(minute=15, hour="1-23"), at(27, 0, 31))
    assert not hourly.due(at(27, 1, 14))
    assert hourly.due(at(27, 1, 15))
    sweep = _Entry("sweep", timedelta(seconds=60), None, at(27, 9))
    assert not sweep.due(at(27, 9) + timedelta(seconds=59))
    assert sweep.due(at(27, 9, 1))
