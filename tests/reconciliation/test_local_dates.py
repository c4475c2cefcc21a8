"""Our rows' business dates: the Asia/Shanghai date of each UTC time, found per hour."""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.money import BEIJING
from reconciliation.matching.transactions import _local_date

EDGES = [
    "2025-11-02T15:59:59.999999Z",  # 23:59:59.999999 in Shanghai
    "2025-11-02T16:00:00Z",  # midnight
    "1988-04-16T17:30:00Z",  # during the daylight saving of 1986-1991
    "1988-09-10T15:30:00Z",
    "1890-01-01T15:53:00Z",  # local mean time, +8:05:43: an hour that spans midnight
    "1890-01-01T15:55:00Z",
]


def one_by_one(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert(BEIJING).dt.tz_localize(None).dt.normalize()


def test_the_dates_are_those_of_a_conversion_value_by_value():
    edges = pd.Series(pd.to_datetime(EDGES, utc=True, format="ISO8601"))
    rng = np.random.default_rng(7)
    anywhen = pd.Series(pd.to_datetime(rng.integers(-(2**61), 2**61, 2_000), utc=True))
    with_missing = pd.Series([*edges, pd.NaT], dtype="datetime64[ns, UTC]")

    for times in (edges, anywhen, with_missing):
        pd.testing.assert_series_equal(_local_date(times), one_by_one(times))


def test_no_times_have_no_dates():
    assert _local_date(pd.Series([], dtype="datetime64[ns, UTC]")).empty
