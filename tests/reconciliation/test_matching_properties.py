"""Properties of the matching engine on generated days.

A consistent day (our records equal to the processor's bill) gets a random set of known
differences; the engine must find exactly that set, keep every row in exactly one place,
and give the same answer whatever the order of the rows and however often it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciliation.matching import (
    LegResult,
    match_freight,
    match_revenue,
    match_settlements,
    match_transactions,
)
from tests.reconciliation.test_matching import (
    bill_frame,
    credits_frame,
    expected_frame,
    paid_frame,
    records_frame,
    shipments_frame,
)

DAY = date(2024, 3, 1)
START = pd.Timestamp("2024-03-01", tz="Asia/Shanghai").tz_convert("UTC")
END = START + pd.Timedelta(days=1)
GRACE = timedelta(minutes=5)
RATE = 60  # basis points
PROCESSOR = "alipay"

INJECTIONS = (
    "none",
    "drop_theirs",
    "drop_ours",
    "amount",
    "duplicate",
    "cutoff_ours",
    "cutoff_theirs",
    "fee",
    "status",
    "refund_due",
    "provider_ref",
)
PAYMENT_ONLY = {"fee", "refund_due"}  # refund fees are not checked; refund_due is a payment's


@dataclass(frozen=True)
class Item:
    """One payment or refund of the day and the difference injected into it."""

    number: int
    kind: str
    amount: int
    second: int  # seconds after the day's start (Asia/Shanghai)
    ours_knows_provider_ref: bool
    department: str
    injection: str
    delta: int  # the change for amount and fee
    near: int  # seconds from 24:00 for the cut-off injections, within the grace


def expected_fee(amount: int) -> int:
    return (amount * RATE + 5_000) // 10_000


def day_frames(items: list[Item]) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[str, str]]]:
    """Our frame, the bill, and the (type, key) of every injected difference."""
    ours: list[dict] = []
    theirs: list[dict] = []
    injected: set[tuple[str, str]] = set()
    for item in items:
        ref = f"{'po' if item.kind == 'payment' else 'rf'}_{item.number:06d}"
        provider_ref = f"42{item.number:010d}"
        at = START + pd.Timedelta(seconds=item.second)
        if item.injection in ("cutoff_ours", "cutoff_theirs"):
            at = END + pd.Timedelta(seconds=item.near)
        fee = expected_fee(item.amount) * (1 if item.kind == "payment" else -1)
        our = {
            "kind": item.kind,
            "ref": ref,
            "provider_ref": provider_ref if item.ours_knows_provider_ref else "",
            "amount": item.amount,
            "status": "succeeded",
            "department": item.department,
            "occurred_at": at,
            "refund_due": item.injection == "refund_due",
            "processor": PROCESSOR,
        }
        their = {
            "line_no": item.number + 2,
            "kind": item.kind,
            "ref": ref,
            "provider_ref": provider_ref,
            "amount": item.amount,
            "fee": fee,
            "occurred_at": at,
            "status": "success",
        }
        pair_key = f"{item.kind}:{ref}:{provider_ref}"
        our_key = f"{item.kind}:{ref}:{our['provider_ref']}"
        name, key = None, pair_key  # the injected difference's type and key, if any
        match item.injection:
            case "drop_theirs" | "cutoff_ours":
                their = None
                name = "missing_in_channel" if item.injection == "drop_theirs" else "timing_cutoff"
                key = our_key
            case "drop_ours" | "cutoff_theirs":
                our = None
                name = "missing_in_ledger" if item.injection == "drop_ours" else "timing_cutoff"
            case "amount":
                their["amount"] += item.delta
                name = "amount_mismatch" if item.kind == "payment" else "refund_mismatch"
            case "duplicate":
                theirs.append({**their, "line_no": 1_000_000 + item.number})
                name, key = "duplicate", f"{pair_key}#1"
            case "fee":
                their["fee"] += item.delta
                name = "fee_mismatch"
            case "status":
                their["status"] = "closed"
                name = "status_mismatch"
            case "refund_due":
                name = "duplicate"
            case "provider_ref":
                their["ref"] = f"alt_{ref}"  # found again through the processor's number
        if name is not None:
            injected.add((name, f"{name}:{key}"))
        if our is not None:
            ours.append(our)
        if their is not None:
            theirs.append(their)
    return _ours(ours), _theirs(theirs), injected


def _ours(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows,
        columns=[
            "kind",
            "ref",
            "provider_ref",
            "amount",
            "status",
            "department",
            "occurred_at",
            "refund_due",
            "processor",
        ],
    )
    frame = frame.astype(
        {
            "kind": "string",
            "ref": "string",
            "provider_ref": "string",
            "amount": "int64",
            "status": "string",
            "department": "string",
            "occurred_at": "datetime64[ns, UTC]",
            "refund_due": bool,
            "processor": "string",
        }
    )
    frame["business_date"] = (
        frame["occurred_at"].dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).dt.normalize()
    )
    return frame


def _theirs(rows: list[dict]) -> pd.DataFrame:
    columns = ["line_no", "kind", "ref", "provider_ref", "amount", "fee", "occurred_at", "status"]
    return pd.DataFrame(rows, columns=columns).astype(
        {
            "line_no": "int64",
            "kind": "string",
            "ref": "string",
            "provider_ref": "string",
            "amount": "int64",
            "fee": "int64",
            "occurred_at": "datetime64[ns, UTC]",
            "status": "string",
        }
    )


@st.composite
def items(draw: st.DrawFn, max_size: int = 40) -> list[Item]:
    count = draw(st.integers(0, max_size))
    out = []
    for number in range(count):
        kind = draw(st.sampled_from(["payment", "refund"]))
        knows = draw(st.booleans())
        allowed = [
            name
            for name in INJECTIONS
            if (kind == "payment" or name not in PAYMENT_ONLY) and (knows or name != "provider_ref")
        ]
        out.append(
            Item(
                number=number,
                kind=kind,
                amount=draw(st.integers(1, 10**10)),
                second=draw(st.integers(GRACE.seconds + 1, 86_400 - GRACE.seconds - 1)),
                ours_knows_provider_ref=knows,
                department=draw(st.sampled_from(["D1", "D2", "D3"])),
                injection=draw(st.sampled_from(allowed)),
                delta=draw(st.integers(1, 10**6) | st.integers(-(10**6), -1)),
                near=draw(st.integers(-GRACE.seconds, GRACE.seconds)),
            )
        )
    return out


def run(ours: pd.DataFrame, theirs: pd.DataFrame):
    return match_transactions(
        ours, theirs, business_date=DAY, fee_rates={PROCESSOR: RATE}, cutoff_grace=GRACE
    )


def amount_injections(day: list[Item]) -> list[Item]:
    """An amount change never makes the amount zero or negative: keep such items out."""
    return [i for i in day if not (i.injection == "amount" and i.amount + i.delta <= 0)]


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHUFFLE = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(day=items())
def test_the_engine_finds_exactly_the_injected_differences(day):
    day = amount_injections(day)
    ours, theirs, injected = day_frames(day)
    result = run(ours, theirs)

    found = list(zip(result.discrepancies["type"], result.discrepancies["key"], strict=True))
    assert set(found) == injected
    assert len(found) == len(injected)  # one row each, no key twice
    result.check_conservation()
    clean = [i for i in day if i.injection in ("none", "provider_ref", "duplicate")]
    assert result.totals["matched_count"] == len(clean)
    assert result.totals["matched_amount"] == sum(i.amount for i in clean)
    by_type = pd.Series([t for t, _ in injected], dtype="string").value_counts()
    for name in by_type.index:
        assert result.totals[f"{name}_count"] == by_type[name]


def order_free(
    match: Callable[[pd.DataFrame, pd.DataFrame], LegResult],
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    seed: int,
) -> LegResult:
    """The leg's result, after checking that it keeps every row once and that running it
    again, or on both sides shuffled, gives the same frames and totals."""
    first = match(ours, theirs)
    first.check_conservation()
    again = match(ours, theirs)
    rng = np.random.default_rng(seed)
    shuffled = match(ours.sample(frac=1, random_state=rng), theirs.sample(frac=1, random_state=rng))
    for other in (again, shuffled):
        pd.testing.assert_frame_equal(first.matched, other.matched)
        pd.testing.assert_frame_equal(first.discrepancies, other.discrepancies)
        assert first.totals == other.totals
    return first


@SHUFFLE
@given(day=items(), seed=st.integers(0, 2**32 - 1))
def test_order_of_rows_and_repeated_runs_change_nothing(day, seed):
    ours, theirs, _ = day_frames(amount_injections(day))
    order_free(run, ours, theirs, seed)


@SHUFFLE
@given(
    ours=st.lists(
        st.tuples(st.sampled_from(["C1", "C2", "C3"]), st.sampled_from(["payment", "refund"])),
        max_size=12,
    ),
    theirs=st.lists(
        st.tuples(
            st.sampled_from(["C1", "C2", "C4"]),
            st.sampled_from(["payment", "refund"]),
            st.sampled_from([100, 200]),
            st.sampled_from(["D1", "D2"]),
        ),
        max_size=12,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_revenue_leg_keeps_every_row_once_in_any_order(ours, theirs, seed):
    paid = paid_frame(
        [(code, "D1", 100 * (1 + n % 2), kind) for n, (code, kind) in enumerate(ours)]
    )
    records = records_frame(
        [
            (f"R{n}", code, department, amount, kind)
            for n, (code, kind, amount, department) in enumerate(theirs)
        ]
    )
    first = order_free(match_revenue, paid, records, seed)
    assert first.discrepancies["key"].is_unique


@SHUFFLE
@given(
    ours=st.lists(
        st.tuples(st.sampled_from(["W1", "W2", "W3"]), st.sampled_from([500, 600]), st.booleans()),
        max_size=10,
    ),
    theirs=st.lists(
        st.tuples(st.sampled_from(["W1", "W2", "W4"]), st.sampled_from([500, 600])), max_size=10
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_freight_leg_keeps_every_row_once_in_any_order(ours, theirs, seed):
    shipments = shipments_frame(
        [
            (f"shp_{n}", waybill, amount, amount if pays else 0, "applicant" if pays else "agency")
            for n, (waybill, amount, pays) in enumerate(ours)
        ]
    )
    bill = bill_frame([(waybill, "", amount) for waybill, amount in theirs])
    order_free(match_freight, shipments, bill, seed)


@SHUFFLE
@given(
    expected=st.lists(
        st.tuples(st.sampled_from(["A1", "A2"]), st.integers(1, 6), st.sampled_from([0, 300, 500])),
        max_size=6,
        unique_by=lambda e: (e[0], e[1]),
    ),
    credits=st.lists(
        st.tuples(
            st.sampled_from(["A1", "A2"]), st.integers(1, 10), st.sampled_from([200, 300, 500])
        ),
        max_size=10,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_settlement_leg_keeps_every_row_once_in_any_order(expected, credits, seed):
    day = pd.Timestamp("2024-03-01")
    clearings = expected_frame(
        [("alipay", f"D{a}", a, day + pd.Timedelta(days=d), m) for a, d, m in expected]
    )
    bank = credits_frame(
        [
            ("alipay", account, day + pd.Timedelta(days=d), m, f"B{n}")
            for n, (account, d, m) in enumerate(credits)
        ]
    )
    first = order_free(functools.partial(match_settlements, window_days=2), clearings, bank, seed)
    assert first.discrepancies["key"].is_unique


@pytest.mark.parametrize("injection", [i for i in INJECTIONS if i != "none"])
def test_each_injection_alone_is_found(injection):
    """Every injection kind, once, so no kind depends on the generator drawing it."""
    kind = "payment"
    day = [
        Item(0, kind, 10_000, 3_600, True, "D1", "none", 0, 0),
        Item(1, kind, 12_750, 7_200, True, "D2", injection, 5, -GRACE.seconds),
    ]
    ours, theirs, injected = day_frames(day)
    result = run(ours, theirs)
    assert len(injected) == (0 if injection == "provider_ref" else 1)
    assert set(zip(result.discrepancies["type"], result.discrepancies["key"], strict=True)) == (
        injected
    )
    result.check_conservation()
