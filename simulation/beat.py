"""Celery beat's schedule, played by the simulator on the simulated clock.

A beat process sleeps in real seconds and keeps its entries in a heap ordered by when each
is next due; when the clock jumps hours ahead, an entry at the heap's head that is not due
(a crontab whose day has not turned) holds back every other one. So the simulator sends
the schedule's tasks itself: before each step of its timeline it sends every entry that is
due by the simulated clock, as beat would, to the run's queues. The same seed then sends
the same tasks at the same simulated moments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery import schedules
from django.conf import settings
from django.utils import timezone

from config.celery_app import app as celery_app


@dataclass
class _Entry:
    task: str
    every: timedelta | None  # an interval entry's
    crontab: schedules.crontab | None  # a crontab entry's (every day: hours and minutes)
    last_run_at: datetime

    def due(self, now: datetime) -> bool:
        if self.every is not None:
            return now - self.last_run_at >= self.every
        return _occurs_between(self.crontab, self.last_run_at, now)


def _occurs_between(crontab: schedules.crontab, after: datetime, until: datetime) -> bool:
    """Whether the crontab has a moment in (after, until], in the schedule's time zone."""
    zone = ZoneInfo(settings.CELERY_TIMEZONE)
    start, end = after.astimezone(zone), until.astimezone(zone)
    day = start.date()
    while day <= end.date():
        for hour in sorted(crontab.hour):
            for minute in sorted(crontab.minute):
                moment = datetime.combine(day, time(hour, minute), zone)
                if start < moment <= end:
                    return True
        day += timedelta(days=1)
    return False


@dataclass
class Beat:
    entries: list[_Entry] = field(default_factory=list)

    @classmethod
    def from_settings(cls) -> Beat:
        """Every entry of CELERY_BEAT_SCHEDULE, as if each had just run. Crontab entries
        name hours and minutes of every day (the schedule's have no other)."""
        now = timezone.now()
        entries = []
        for entry in settings.CELERY_BEAT_SCHEDULE.values():
            when = entry["schedule"]
            if isinstance(when, schedules.crontab):
                if len(when.day_of_week) != 7 or len(when.day_of_month) != 31:
                    raise ValueError(f"{entry['task']}: only daily crontabs are played")
                entries.append(_Entry(entry["task"], None, when, now))
            else:
                every = when if isinstance(when, timedelta) else timedelta(seconds=when)
                entries.append(_Entry(entry["task"], every, None, now))
        return cls(entries)

    def tick(self) -> None:
        """Send each entry that is due now; each is sent once, however long since its last."""
        now = timezone.now()
        for entry in self.entries:
            if entry.due(now):
                entry.last_run_at = now
                celery_app.send_task(entry.task)
