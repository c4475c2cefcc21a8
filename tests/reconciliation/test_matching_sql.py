"""Leg 1 cross-checked against a plain SQL formulation of the same rules (DuckDB).

The SQL numbers repeated references with row_number(), joins the two sides with a FULL
OUTER JOIN on (kind, ref, occurrence) and classifies each joined row with one CASE. Both
must put every reference in the same class, as many times. (The SQL leaves out the
engine's second pass on the processor's number, so the data here never needs it.)
"""

from __future__ import annotations

from collections import Counter

import duckdb
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciliation.matching.results import TRANSACTION_TYPES
from reconciliation.matching.transactions import THEIR_FAILED_STATUSES
from tests.reconciliation.test_matching_properties import (
    END,
    GRACE,
    INJECTIONS,
    PAYMENT_ONLY,
    RATE,
    START,
    Item,
    day_frames,
    run,
)

CLASSIFY = """
WITH o AS (
    SELECT *, row_number() OVER (PARTITION BY kind, ref ORDER BY occurred_ns, amount) AS rn
    FROM ours
), t AS (
    SELECT *, row_number() OVER (PARTITION BY kind, ref ORDER BY occurred_ns, line_no) AS rn
    FROM theirs
)
SELECT
    CASE
        WHEN o.ref IS NULL THEN CASE
            WHEN t.rn > 1 THEN 'duplicate'
            WHEN abs(t.occurred_ns - $start) <= $grace
                OR abs(t.occurred_ns - $end) <= $grace THEN 'timing_cutoff'
            ELSE 'missing_in_ledger' END
        WHEN t.ref IS NULL THEN CASE
            WHEN o.rn > 1 THEN 'duplicate'
            WHEN abs(o.occurred_ns - $start) <= $grace
                OR abs(o.occurred_ns - $end) <= $grace THEN 'timing_cutoff'
            ELSE 'missing_in_channel' END
        WHEN list_contains($failed, lower(t.status))
            AND NOT list_contains($failed, lower(o.status)) THEN 'status_mismatch'
        WHEN o.kind = 'payment' AND o.refund_due THEN 'duplicate'
        WHEN o.amount <> t.amount AND o.kind = 'refund' THEN 'refund_mismatch'
        WHEN o.amount <> t.amount THEN 'amount_mismatch'
        WHEN o.kind = 'payment' AND t.fee <> (t.amount * $rate + 5000) // 10000 THEN 'fee_mismatch'
        ELSE 'matched'
    END AS class,
    coalesce(o.kind, t.kind) AS kind,
    coalesce(o.ref, t.ref) AS ref
FROM o FULL OUTER JOIN t ON o.kind = t.kind AND o.ref = t.ref AND o.rn = t.rn
"""


def random_day(seed: int, size: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A day with every injection the SQL knows, plus lines repeated on either side."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(["payment", "refund"], size=size, p=[0.8, 0.2])
    plain = [name for name in INJECTIONS if name != "provider_ref"]
    items = []
    for number, kind in enumerate(kinds):
        allowed = [name for name in plain if kind == "payment" or name not in PAYMENT_ONLY]
        items.append(
            Item(
                number=number,
                kind=str(kind),
                amount=int(rng.integers(1, 10**9)),
                second=int(rng.integers(GRACE.seconds + 1, 86_400 - GRACE.seconds)),
                ours_knows_provider_ref=bool(rng.random() < 0.7),
                department=str(rng.choice(["D1", "D2"])),
                injection=str(rng.choice(allowed, p=_weights(allowed))),
                delta=int(rng.integers(1, 1000)),
                near=int(rng.integers(-GRACE.seconds, GRACE.seconds + 1)),
            )
        )
    ours, theirs, _ = day_frames(items)
    # Some references repeated on our side (another amount) and some lines a third time.
    again = ours.sample(n=len(ours) // 50, random_state=rng).assign(
        amount=lambda frame: frame["amount"] + 1
    )
    thrice = theirs.sample(n=len(theirs) // 50, random_state=rng)
    thrice = thrice.assign(line_no=thrice["line_no"] + 5_000_000)
    return (
        pd.concat([ours, again], ignore_index=True),
        pd.concat([theirs, thrice], ignore_index=True),
    )


def _weights(names: list[str]) -> list[float]:
    weights = np.array([8.0 if name == "none" else 1.0 for name in names])
    return list(weights / weights.sum())


def sql_classes(ours: pd.DataFrame, theirs: pd.DataFrame) -> Counter:
    connection = duckdb.connect()
    for name, frame in (("ours", ours), ("theirs", theirs)):
        plain = frame.astype(
            {c: object for c in frame.columns if frame[c].dtype == "string"}
        ).assign(occurred_ns=frame["occurred_at"].to_numpy(dtype="datetime64[ns]").view("int64"))
        connection.register(name, plain.drop(columns="occurred_at"))
    rows = connection.execute(
        CLASSIFY,
        {
            "start": START.value,
            "end": END.value,
            "grace": int(pd.Timedelta(GRACE).value),
            "rate": RATE,
            "failed": sorted(THEIR_FAILED_STATUSES),
        },
    ).fetchall()
    connection.close()
    return Counter(rows)


def engine_classes(ours: pd.DataFrame, theirs: pd.DataFrame) -> Counter:
    result = run(ours, theirs)
    result.check_conservation()
    matched = zip(
        ["matched"] * len(result.matched),
        result.matched["kind"],
        result.matched["our_ref"],
        strict=True,
    )
    found = zip(
        result.discrepancies["type"],
        result.discrepancies["kind"],
        result.discrepancies["our_ref"],
        strict=True,
    )
    return Counter(matched) + Counter(found)


def test_engine_and_sql_agree_on_a_large_day():
    ours, theirs = random_day(seed=20240301, size=20_000)
    expected = sql_classes(ours, theirs)
    assert engine_classes(ours, theirs) == expected
    # The data exercises every class the SQL knows (each leg-1 type), not only the easy ones.
    assert {name for name, _, _ in expected} == {"matched", *TRANSACTION_TYPES}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(0, 200))
def test_engine_and_sql_agree_on_generated_days(seed, size):
    ours, theirs = random_day(seed, size)
    assert engine_classes(ours, theirs) == sql_classes(ours, theirs)
