"""Leg 1: our payments and refunds against a processor's bill."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd

from core.money import BEIJING as SHANGHAI
from integrations.statements import TRANSACTION_COLUMNS
from reconciliation.matching.frames import (
    _finish,
    _frame,
    _int64,
    _ns,
    _optional,
    _ref,
    _refunds,
    _require,
    _text,
    _totals,
    _utc,
)
from reconciliation.matching.keys import _joint_keys, _key, _pair, _ranks, _unpaired
from reconciliation.matching.results import (
    TRANSACTION_DISCREPANCY_COLUMNS,
    TRANSACTION_TYPES,
    LegResult,
)
from reconciliation.matching.settlements import CLEARING_COLUMNS

# A processor's line in one of these statuses says the money did not move (lower case).
THEIR_FAILED_STATUSES = frozenset({"closed", "reversed", "revoked", "failed", "cancelled"})
# What a pair breaks, by the first rule that holds (code 0: none, a match).
_PAIR_TYPES = np.array(
    ["", "status_mismatch", "duplicate", "refund_mismatch", "amount_mismatch", "fee_mismatch"],
    dtype=object,
)

_OURS_TRANSACTION = ("kind", "ref", "provider_ref", "amount", "status", "department", "occurred_at")


def match_transactions(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    *,
    business_date: date,
    fee_rates: Mapping[str, int] | None = None,
    cutoff_grace: timedelta = timedelta(minutes=5),
    day_turns_at: time | None = None,
    matched_columns: Collection[str] | None = None,
) -> LegResult:
    """Leg 1: our payments and refunds against a processor's bill.

    One-to-one on (kind, our out-trade or refund number), then, for lines still unpaired, on
    (kind, the processor's number). `fee_rates` maps our `processor` column to the
    processor's rate in basis points; a payment's expected fee is amount × rate / 10000
    rounded half up to the fen, taken on the amount the processor billed. Refund fees are
    not checked: whether a processor gives its fee back on a refund is its own policy.
    A one-sided item within `cutoff_grace` of the business date's start or end is
    `timing_cutoff`: the other side has it on the neighbouring day. The date runs from
    00:00 to 24:00 (Asia/Shanghai), or, for a processor whose day turns at `day_turns_at`
    (UnionPay's settlement day at 23:00), from that time the day before to that time on
    the date (`day_bounds`); a pair's business date, the clearing's, is then the
    processor's date of our line's time.

    `cleared` holds every pair the processor's money moved on, at the bill's amount and
    fee: the matched ones and those whose discrepancy is about amounts, fees or a payment
    made twice, for the processor transferred them all; not those whose bill line says
    the money did not move (`status_mismatch`).

    `matched_columns` names the columns of `matched` to build (every one when None): a run
    keeps no pair (its clearing reads `cleared`), and building them would copy each of the
    day's millions of pairs column by column for nothing.
    """
    start, end = (pd.Timestamp(bound).value for bound in day_bounds(business_date, day_turns_at))
    o = _ours_transactions(
        ours, need_processor=fee_rates is not None, lead=_lead(business_date, start)
    )
    t = _their_transactions(theirs)
    n_o, n_t = len(o), len(t)

    o_refund = _refunds(o["kind"], "ours")
    t_refund = _refunds(t["kind"], "theirs")
    o_key, t_key = _joint_keys(o["ref"], t["ref"], o_refund, t_refund)
    o_time = _ns(o["occurred_at"])
    t_time = _ns(t["occurred_at"])
    o_amount = o["amount"].to_numpy(dtype=np.int64)
    t_amount = t["amount"].to_numpy(dtype=np.int64)
    t_line = t["line_no"].to_numpy(dtype=np.int64)

    o_rank = _ranks(o_key, [o_time, o_amount], o)
    t_rank = _ranks(t_key, [t_time, t_line], t)
    oi, ti = _pair(o_key, o_rank, t_key, t_rank)
    on_ref = np.ones(len(oi), dtype=bool)

    # Second pass: the processor's number, for rank-0 lines the first pass left alone.
    o_left = _unpaired(n_o, oi)
    t_left = _unpaired(n_t, ti)
    o_left = o_left[o_rank[o_left] == 0]
    t_left = t_left[t_rank[t_left] == 0]
    o_left = o_left[o["provider_ref"].iloc[o_left].notna().to_numpy(dtype=bool)]
    t_left = t_left[t["provider_ref"].iloc[t_left].notna().to_numpy(dtype=bool)]
    if len(o_left) and len(t_left):
        ko, kt = _joint_keys(
            o["provider_ref"].iloc[o_left],
            t["provider_ref"].iloc[t_left],
            o_refund[o_left],
            t_refund[t_left],
        )
        ro = _ranks(ko, [o_time[o_left], o_amount[o_left]], o.iloc[o_left])
        rt = _ranks(kt, [t_time[t_left], t_line[t_left]], t.iloc[t_left])
        po, pt = _pair(ko, ro, kt, rt)
        oi = np.concatenate([oi, o_left[po]])
        ti = np.concatenate([ti, t_left[pt]])
        on_ref = np.concatenate([on_ref, np.zeros(len(po), dtype=bool)])

    # Pairs: the first rule that holds names the type.
    p_amount_o = o_amount[oi]
    p_amount_t = t_amount[ti]
    p_refund = o_refund[oi]
    t_fee = t["fee"].to_numpy(dtype=np.int64)
    expected_fee = np.zeros(len(ti), dtype=np.int64)
    fee_known = np.zeros(len(ti), dtype=bool)
    if fee_rates:
        rates = o["processor"].map(dict(fee_rates)).astype("Int64").iloc[oi]
        fee_known = rates.notna().to_numpy(dtype=bool) & ~p_refund
        rate = rates.fillna(0).to_numpy(dtype=np.int64)
        expected_fee = _round_half_up_div(p_amount_t * rate, 10_000)
    fee_wrong = fee_known & (t_fee[ti] != expected_fee)
    failed = _failed_statuses(o, t, oi, ti)
    refund_due = o["refund_due"].to_numpy(dtype=bool)[oi] & ~p_refund
    amount_wrong = p_amount_o != p_amount_t
    pair_code = np.select(
        [failed, refund_due, amount_wrong & p_refund, amount_wrong, fee_wrong],
        np.arange(1, len(_PAIR_TYPES), dtype=np.int8),
        default=np.int8(0),
    )
    is_match = pair_code == 0

    # One-sided rows.
    o_only = _unpaired(n_o, oi)
    t_only = _unpaired(n_t, ti)
    grace = int(pd.Timedelta(cutoff_grace).value)
    o_near = _near(o_time[o_only], start, end, grace)
    t_near = _near(t_time[t_only], start, end, grace)
    o_repeat = o_rank[o_only] > 0
    t_repeat = t_rank[t_only] > 0
    o_type = np.select(
        [o_repeat, o_near], ["duplicate", "timing_cutoff"], default="missing_in_channel"
    )
    t_type = np.select(
        [t_repeat, t_near], ["duplicate", "timing_cutoff"], default="missing_in_ledger"
    )
    o_detail = np.select([o_repeat, o_near], ["our_repeat", "ours"], default="")
    t_detail = np.select([t_repeat, t_near], ["their_repeat", "theirs"], default="")

    matched = _transaction_matched(
        o, t, oi[is_match], ti[is_match], on_ref[is_match], o_key, o_rank, matched_columns
    )
    cleared = _transaction_matched(
        o, t, oi[~failed], ti[~failed], on_ref[~failed], o_key, o_rank, CLEARING_COLUMNS
    )

    bad = ~is_match
    pair_type = _PAIR_TYPES[pair_code[bad]]
    pairs = _transaction_rows(
        o,
        t,
        oi[bad],
        ti[bad],
        pair_type,
        np.where(pair_type == "duplicate", "refund_due", ""),
        rank=np.zeros(int(bad.sum()), dtype=np.int64),
        expected_fee=pd.Series(expected_fee[bad], dtype="Int64").where(fee_known[bad]).array,
    )
    ours_only = _transaction_rows(
        o, t, o_only, None, o_type, o_detail, rank=o_rank[o_only], expected_fee=None
    )
    theirs_only = _transaction_rows(
        o, t, None, t_only, t_type, t_detail, rank=t_rank[t_only], expected_fee=None
    )
    discrepancies = _finish(
        [pairs, ours_only, theirs_only],
        TRANSACTION_DISCREPANCY_COLUMNS,
        ["type", "key", "detail", "their_line_no", "our_amount", "occurred_at"],
    )
    totals = _totals(
        TRANSACTION_TYPES,
        ours=(n_o, int(o_amount.sum())),
        theirs=(n_t, int(t_amount.sum())),
        matched=(int(is_match.sum()), int(p_amount_o[is_match].sum())),
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals, cleared=cleared)


def _ours_transactions(ours: pd.DataFrame, *, need_processor: bool, lead: int) -> pd.DataFrame:
    """Our lines, each with its business date: the local date of its time, moved on by
    ``lead`` nanoseconds where the processor's day turns before 24:00."""
    _require(ours, _OURS_TRANSACTION, "ours")
    if need_processor:
        _require(ours, ("processor",), "ours (fee_rates are per processor)")
    frame = _frame(
        {
            "kind": _text(ours["kind"]),
            "ref": _text(ours["ref"]),
            "provider_ref": _ref(ours["provider_ref"]),
            "amount": _int64(ours["amount"]),
            "status": _text(ours["status"]),
            "department": _text(ours["department"]),
            "occurred_at": _utc(ours["occurred_at"]),
            "refund_due": (
                ours["refund_due"].fillna(False).astype(bool)
                if "refund_due" in ours
                else pd.Series(False, index=ours.index)
            ),
            "processor": _optional(ours, "processor", _text, "string"),
        }
    )
    frame["business_date"] = (
        pd.to_datetime(ours["business_date"]).astype("datetime64[ns]").reset_index(drop=True)
        if "business_date" in ours
        else _local_date(
            frame["occurred_at"] + pd.Timedelta(lead) if lead else frame["occurred_at"]
        )
    )
    return frame


def _their_transactions(theirs: pd.DataFrame) -> pd.DataFrame:
    _require(theirs, tuple(TRANSACTION_COLUMNS), "theirs")
    return _frame(
        {
            "line_no": _int64(theirs["line_no"]),
            "kind": _text(theirs["kind"]),
            "ref": _ref(theirs["ref"]),
            "provider_ref": _ref(theirs["provider_ref"]),
            "amount": _int64(theirs["amount"]),
            "fee": _int64(theirs["fee"]),
            "occurred_at": _utc(theirs["occurred_at"]),
            "status": _optional(theirs, "status", lambda s: _text(s).str.lower(), "string"),
        }
    )


def _failed_statuses(o: pd.DataFrame, t: pd.DataFrame, oi: np.ndarray, ti: np.ndarray):
    """Pairs whose bill line says the money did not move while ours says it did."""
    failed = np.zeros(len(ti), dtype=bool)
    if t["status"].isna().all():
        return failed
    theirs = t["status"].array.take(ti)
    failed = pd.Series(theirs).isin(THEIR_FAILED_STATUSES).to_numpy(dtype=bool)
    if failed.any():
        ours = pd.Series(o["status"].array.take(oi[failed])).str.lower()
        failed[failed] = ~ours.isin(THEIR_FAILED_STATUSES).to_numpy(dtype=bool)
    return failed


def _transaction_matched(
    o, t, oi, ti, on_ref, o_key, o_rank, columns: Collection[str] | None
) -> pd.DataFrame:
    order = np.lexsort((o_rank[oi], o_key[oi]))
    oi, ti, on_ref = oi[order], ti[order], on_ref[order]
    n = len(oi)
    built = {
        "kind": lambda: o["kind"].array.take(oi),
        "our_ref": lambda: o["ref"].array.take(oi),
        "their_ref": lambda: t["provider_ref"].array.take(ti),
        "our_amount": lambda: o["amount"].to_numpy()[oi],
        "their_amount": lambda: t["amount"].to_numpy()[ti],
        "fee": lambda: t["fee"].to_numpy()[ti],
        "processor": lambda: o["processor"].array.take(oi),
        "department": lambda: o["department"].array.take(oi),
        "occurred_at": lambda: o["occurred_at"].array.take(oi),
        "their_occurred_at": lambda: t["occurred_at"].array.take(ti),
        "business_date": lambda: o["business_date"].to_numpy()[oi],
        "their_line_no": lambda: t["line_no"].to_numpy()[ti],
        "matched_on": lambda: pd.Categorical.from_codes(
            on_ref.astype(np.int8), categories=["provider_ref", "ref"]
        ),
        "our_count": lambda: np.ones(n, dtype=np.int64),
        "their_count": lambda: np.ones(n, dtype=np.int64),
    }
    return pd.DataFrame(
        {name: build() for name, build in built.items() if columns is None or name in columns}
    )


def _transaction_rows(o, t, oi, ti, types, details, *, rank, expected_fee) -> pd.DataFrame:
    """Discrepancy rows for pairs (both indexes), our rows (ti None) or theirs (oi None)."""
    n = len(types)

    def ours(column: str, dtype: str) -> pd.api.extensions.ExtensionArray:
        if oi is None:
            return pd.array([pd.NA] * n, dtype=dtype)
        return pd.array(o[column].array.take(oi), dtype=dtype)

    def theirs(column: str, dtype: str) -> pd.api.extensions.ExtensionArray:
        if ti is None:
            return pd.array([pd.NA] * n, dtype=dtype)
        return pd.array(t[column].array.take(ti), dtype=dtype)

    kind = ours("kind", "string") if oi is not None else theirs("kind", "string")
    our_ref = ours("ref", "string") if oi is not None else theirs("ref", "string")
    their_ref = (
        theirs("provider_ref", "string") if ti is not None else ours("provider_ref", "string")
    )
    occurred = (
        o["occurred_at"].array.take(oi) if oi is not None else t["occurred_at"].array.take(ti)
    )
    frame = pd.DataFrame(
        {
            "type": pd.array(types, dtype="string"),
            "kind": kind,
            "our_ref": our_ref,
            "their_ref": their_ref,
            "our_amount": ours("amount", "Int64"),
            "their_amount": theirs("amount", "Int64"),
            "department": ours("department", "string"),
            "occurred_at": occurred,
            "detail": pd.array(details, dtype="string"),
            "our_count": np.full(n, int(oi is not None), dtype=np.int64),
            "their_count": np.full(n, int(ti is not None), dtype=np.int64),
            "processor": ours("processor", "string"),
            "their_line_no": theirs("line_no", "Int64"),
            "their_fee": theirs("fee", "Int64"),
            "expected_fee": (
                expected_fee if expected_fee is not None else pd.array([pd.NA] * n, dtype="Int64")
            ),
        }
    )
    frame["key"] = _key(frame["type"], frame["kind"], frame["our_ref"], frame["their_ref"], rank)
    return frame


def _local_date(column: pd.Series) -> pd.Series:
    """The Asia/Shanghai date of each UTC time, as a midnight datetime.

    pandas converts a zoneinfo zone value by value, so the dates are found once per
    distinct UTC hour (a day's rows span a few dozen): an hour whose first and last
    instants fall on the same local date gives it to all its rows; the rows of any other
    hour (only under an offset of odd minutes, before 1901) are converted one by one.
    """
    hour = pd.Timedelta(hours=1).value
    times = _ns(column)
    known = times != np.iinfo(np.int64).min  # NaT
    at, hours = pd.factorize(times[known] // hour)
    first = _shanghai_dates(hours * hour)
    last = _shanghai_dates(hours * hour + hour - 1)
    dates = np.full(len(times), np.datetime64("NaT"), dtype="datetime64[ns]")
    dates[known] = first[at]
    odd = np.flatnonzero(known)[(first != last)[at]]
    dates[odd] = _shanghai_dates(times[odd])
    return pd.Series(dates, index=column.index)


def _shanghai_dates(ns: np.ndarray) -> np.ndarray:
    utc = pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC")
    return utc.tz_convert(SHANGHAI).tz_localize(None).normalize().to_numpy()


def day_bounds(business_date: date, turns_at: time | None = None) -> tuple[datetime, datetime]:
    """The span of a business date in Beijing, its start in and its end out: 00:00 to
    24:00, or, for a party whose day turns at ``turns_at``, from that time the day before
    to that time on the date (a payment at 23:00:00 on D is UnionPay's D+1's)."""
    if turns_at is None:
        start = datetime.combine(business_date, time.min, tzinfo=SHANGHAI)
    else:
        start = datetime.combine(business_date - timedelta(days=1), turns_at, tzinfo=SHANGHAI)
    return start, start + timedelta(days=1)


def _lead(business_date: date, start: int) -> int:
    """How long before the date's 00:00 its day starts, in nanoseconds (0 at 24:00)."""
    midnight = datetime.combine(business_date, time.min, tzinfo=SHANGHAI)
    return pd.Timestamp(midnight).value - start


def _near(times: np.ndarray, start: int, end: int, grace: int) -> np.ndarray:
    known = times != np.iinfo(np.int64).min  # NaT
    safe = np.where(known, times, start + 2 * grace + 1)
    return known & ((np.abs(safe - start) <= grace) | (np.abs(safe - end) <= grace))


def _round_half_up_div(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    half = denominator // 2
    up = (np.abs(numerator) + half) // denominator
    return np.sign(numerator) * up
