"""An adapter's clock set apart from its sandbox's, to play a request signed too long ago.

The sandboxes serve from the tests' own process, so moving time itself (time_machine)
would move their clocks too. Instead the names an adapter's module reads the time through,
``time`` and ``datetime``, are swapped for ones that run off true time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from types import ModuleType

import pytest

# Further off than any party allows: Alipay's gateway takes 15 minutes, the others less.
TOO_FAR = timedelta(minutes=20)


class _Time:
    """The time module, but for ``time()``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.time = clock

    def __getattr__(self, name: str) -> object:
        return getattr(time, name)


def skew_clock(
    monkeypatch: pytest.MonkeyPatch,
    module: ModuleType,
    offset: timedelta,
    *,
    readings: int | None = None,
) -> None:
    """Run ``module``'s clock ``offset`` off true time: for its first ``readings`` readings
    (a request signed, then held that long on its way), or for all of them."""
    read = 0

    def clock() -> float:
        nonlocal read
        read += 1
        off = readings is None or read <= readings
        return time.time() + (offset.total_seconds() if off else 0)

    class Skewed(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:
            return datetime.fromtimestamp(clock(), tz)

    swapped = {"time": (time, _Time(clock)), "datetime": (datetime, Skewed)}
    names = [name for name, (real, _) in swapped.items() if getattr(module, name, None) is real]
    assert names, f"{module.__name__} reads the time through neither time nor datetime"
    for name in names:
        monkeypatch.setattr(module, name, swapped[name][1])
