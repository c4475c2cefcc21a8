"""Leg 5: the fiscal receipts our payments and refunds are owed, against the receipts the
platform issued on the day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from integrations.statements import RECEIPT_COLUMNS
from reconciliation.matching.frames import (
    _finish,
    _frame,
    _int64,
    _ref,
    _require,
    _text,
    _totals,
    _utc,
)
from reconciliation.matching.keys import (
    _joint_keys,
    _key,
    _pair,
    _ranks,
    _sorted_codes,
    _unpaired,
)
from reconciliation.matching.one_to_one import _one, _side
from reconciliation.matching.results import (
    RECEIPT_DISCREPANCY_COLUMNS,
    RECEIPT_TYPES,
    LegResult,
)

OURS_RECEIPTS = ("kind", "ref", "department", "amount", "status", "code", "number", "on_day")
NUMBERS = ("code", "department", "number")
_STATUSES = ("issued", "requested", "failed")  # our receipt's; "" when there is none
_ORDER = ["type", "key", "detail", "their_line_no"]
# A number gap's columns that no receipt fills.
_NONE = {
    "our_ref": "string",
    "occurred_at": "datetime64[ns, UTC]",
    "our_amount": "Int64",
    "their_amount": "Int64",
    "their_line_no": "Int64",
}


def match_receipts(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    *,
    previous_numbers: pd.DataFrame | None = None,
    keep_matched: bool = True,
) -> LegResult:
    """Leg 5: the receipts of our payments and refunds against the platform's day.

    `ours` has a row per paid order (kind `normal`) and per refund (kind `red`) of the
    date, with the receipt we hold for it (`status` issued, requested or failed; empty
    when there is none) and the `amount` it must show (a refund's negative); and a row per
    receipt we hold as issued on the date (`on_day`) for a payment or refund of another
    date. A receipt we hold as issued on another date is that date's file's, and left out.

    One-to-one on (kind, business id). A pair breaks a rule as `status_mismatch` when we do
    not hold the receipt as issued (detail: our status, or `no_receipt`) or hold another
    one (`number`), else as `amount_mismatch`. Ours alone: `timing_cutoff` (detail
    `pending`) while the platform is still asked for it, else `missing_in_channel`
    (`not_on_platform`, `failed`, `no_receipt`). Theirs alone: `missing_in_ledger`, or a
    `duplicate` (`their_repeat`) when the business id already has a receipt; a number
    the file holds twice is a `duplicate` of kind `number` and takes no part in pairing.

    A gap in a department's numbers of a code (kind `number`): numbers missing between
    those of the day (the file's, and the receipts we hold as issued on the day), or
    between the day's first and `previous_numbers` (code, department, number: the last
    number before the day's first, where known), is a `missing_in_ledger` of their range
    (detail `in_day` or `since_previous`) that holds no row of either side.

    `keep_matched` as in `match_revenue`.
    """
    _require(ours, OURS_RECEIPTS, "ours")
    _require(theirs, tuple(RECEIPT_COLUMNS), "theirs")
    issued_elsewhere = _is(ours["status"], "issued") & ~ours["on_day"].to_numpy(
        dtype=bool, na_value=False
    )
    held = ours.iloc[np.flatnonzero(~issued_elsewhere)]
    o = _frame(
        {
            "kind": _text(held["kind"]),
            "ref": _ref(held["ref"]),
            "department": _text(held["department"]),
            "amount": _int64(held["amount"]),
            "status": _text(held["status"]).fillna(""),
            "code": _text(held["code"]),
            "number": _text(held["number"]),
            "receipt_ref": receipt_refs(held["code"], held["number"]),
        }
    )
    t = _frame(
        {
            "line_no": _int64(theirs["line_no"]),
            "business_id": _ref(theirs["business_id"]),
            "kind": _text(theirs["kind"]),
            "code": _text(theirs["code"]),
            "number": _text(theirs["number"]),
            "department": _text(theirs["department"]),
            "amount": _int64(theirs["amount"]),
            "receipt_ref": receipt_refs(theirs["code"], theirs["number"]),
            "issued_at": _utc(theirs["issued_at"]),
        }
    )
    o_amount = o["amount"].to_numpy(dtype=np.int64)
    t_amount = t["amount"].to_numpy(dtype=np.int64)
    t_line = t["line_no"].to_numpy(dtype=np.int64)

    # A number twice: every line after the first is a duplicate, paired with nothing.
    number_rank = _ranks(_sorted_codes([t["receipt_ref"]]), [t_line], t)
    renumbered = np.flatnonzero(number_rank > 0)
    kept = np.flatnonzero(number_rank == 0)
    k = t.iloc[kept].reset_index(drop=True)
    o_key, k_key = _joint_keys(o["ref"], k["business_id"], _red(o, "ours"), _red(k, "theirs"))
    o_rank = _ranks(o_key, [o_amount], o)
    k_rank = _ranks(k_key, [t_line[kept]], k)
    oi, ki = _pair(o_key, o_rank, k_key, k_rank)
    ti = kept[ki]

    issued, requested, failed = (_is(o["status"], status) for status in _STATUSES)
    held_as = np.select([requested, failed], ["requested", "failed"], "no_receipt")
    same_receipt = (o["receipt_ref"].array.take(oi) == t["receipt_ref"].array.take(ti)).to_numpy(
        dtype=bool, na_value=False
    )
    rules = [~issued[oi], ~same_receipt, o_amount[oi] != t_amount[ti]]
    pair_type = np.select(rules, ["status_mismatch", "status_mismatch", "amount_mismatch"], "")
    pair_detail = np.select(rules, [held_as[oi], "number", "amount"], "")
    bad = pair_type != ""

    o_only = _unpaired(len(o), oi)
    k_only = _unpaired(len(k), ki)
    t_repeat = k_rank[k_only] > 0

    def rows(oi_, ti_, types, details, rank, *, numbering=False) -> pd.DataFrame:
        n = len(types)
        frame = pd.DataFrame(
            {
                "type": pd.array(types, dtype="string"),
                "kind": _side(o, "kind", oi_, t, ti_, n, "string"),
                "our_ref": _side(o, "ref", oi_, t, ti_, n, "string", "business_id"),
                "their_ref": _side(t, "receipt_ref", ti_, o, oi_, n, "string"),
                "department": _side(o, "department", oi_, t, ti_, n, "string"),
                "occurred_at": _one(t, "issued_at", ti_, n, "datetime64[ns, UTC]"),
                "our_amount": _one(o, "amount", oi_, n, "Int64"),
                "their_amount": _one(t, "amount", ti_, n, "Int64"),
                "detail": pd.array(details, dtype="string"),
                "our_count": np.full(n, int(oi_ is not None), dtype=np.int64),
                "their_count": np.full(n, int(ti_ is not None), dtype=np.int64),
                "their_line_no": _one(t, "line_no", ti_, n, "Int64"),
            }
        )
        if numbering:
            frame["kind"] = pd.array(["number"] * n, dtype="string")
            frame["key"] = _key(frame["type"], frame["kind"], frame["their_ref"], None, rank)
        else:
            frame["key"] = _key(frame["type"], frame["kind"], frame["our_ref"], None, rank)
        return frame

    discrepancies = _finish(
        [
            rows(oi[bad], ti[bad], pair_type[bad], pair_detail[bad], o_rank[oi[bad]]),
            rows(
                o_only,
                None,
                np.where(requested[o_only], "timing_cutoff", "missing_in_channel"),
                np.select(
                    [issued[o_only], requested[o_only], failed[o_only]],
                    ["not_on_platform", "pending", "failed"],
                    "no_receipt",
                ),
                o_rank[o_only],
            ),
            rows(
                None,
                kept[k_only],
                np.where(t_repeat, "duplicate", "missing_in_ledger"),
                np.where(t_repeat, "their_repeat", "missing_in_ours"),
                k_rank[k_only],
            ),
            rows(
                None,
                renumbered,
                np.full(len(renumbered), "duplicate"),
                np.full(len(renumbered), "number"),
                number_rank[renumbered],
                numbering=True,
            ),
            _number_gaps([t, o.iloc[np.flatnonzero(issued)]], previous_numbers),
        ],
        RECEIPT_DISCREPANCY_COLUMNS,
        _ORDER,
    )
    good_o, good_t = oi[~bad], ti[~bad]
    matched_totals = (len(good_o), int(o_amount[good_o].sum()))
    if not keep_matched:
        good_o, good_t = good_o[:0], good_t[:0]
    ones = np.ones(len(good_o), dtype=np.int64)
    matched = pd.DataFrame(
        {
            "kind": o["kind"].array.take(good_o),
            "our_ref": o["ref"].array.take(good_o),
            "their_ref": t["receipt_ref"].array.take(good_t),
            "department": o["department"].array.take(good_o),
            "our_amount": o_amount[good_o],
            "their_amount": t_amount[good_t],
            "their_line_no": t_line[good_t],
            "our_count": ones,
            "their_count": ones,
        }
    )
    totals = _totals(
        RECEIPT_TYPES,
        ours=(len(o), int(o_amount.sum())),
        theirs=(len(t), int(t_amount.sum())),
        matched=matched_totals,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


def receipt_refs(code: pd.Series, number: pd.Series) -> pd.Series:
    """A receipt's reference as lines and discrepancies show it, ``<code>_<number>`` (the
    name the platform gives its file); missing where there is no code."""
    code = _text(code)
    return (code + "_" + _text(number)).mask(code.fillna("") == "")


def first_numbers(theirs: pd.DataFrame) -> pd.DataFrame:
    """The day's first number of each code in each department (NUMBERS columns)."""
    return theirs.groupby(["code", "department"], as_index=False)["number"].min()[list(NUMBERS)]


def _number_gaps(day: list[pd.DataFrame], previous: pd.DataFrame | None) -> pd.DataFrame:
    """One row per run of numbers missing between a department's numbers of a code: those
    of the day (on the platform's file or held by us), and the last one before them
    (`previous`) where it is known."""
    numbers = [frame.loc[:, list(NUMBERS)].assign(before=False) for frame in day]
    if previous is not None and len(previous):
        numbers.append(previous.loc[:, list(NUMBERS)].assign(before=True))
    held = pd.concat(numbers, ignore_index=True).astype(
        {"code": "string", "department": "string", "number": "int64"}
    )
    held = held.drop_duplicates(list(NUMBERS)).sort_values(list(NUMBERS), kind="stable")
    code, department, number = held["code"], held["department"], held["number"]
    same_range = ((code == code.shift()) & (department == department.shift())).fillna(False)
    gap = (same_range & (number - number.shift() > 1)).to_numpy(dtype=bool)
    first = (number.shift() + 1)[gap].astype("int64")
    last = (number - 1)[gap].astype("int64")
    n = len(first)
    span = _padded(first) + ("-" + _padded(last)).where(last > first, "")
    their_ref = code[gap] + "_" + span
    since_previous = held["before"].shift(fill_value=False).to_numpy(dtype=bool)[gap]
    none = {name: pd.array([pd.NA] * n, dtype=dtype) for name, dtype in _NONE.items()}
    return pd.DataFrame(
        {
            **none,
            "type": pd.array(["missing_in_ledger"] * n, dtype="string"),
            "key": ("missing_in_ledger:number:" + department[gap] + ":" + their_ref).array,
            "kind": pd.array(["number"] * n, dtype="string"),
            "their_ref": their_ref.array,
            "department": department[gap].array,
            "detail": pd.array(np.where(since_previous, "since_previous", "in_day"), "string"),
            "our_count": np.zeros(n, dtype=np.int64),
            "their_count": np.zeros(n, dtype=np.int64),
        }
    )


def _padded(numbers: pd.Series) -> pd.Series:
    return numbers.astype("string").str.zfill(10)


def _is(column: pd.Series, value: str) -> np.ndarray:
    return (column == value).to_numpy(dtype=bool, na_value=False)


def _red(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Which rows are red-letter receipts; every row must be `normal` or `red`."""
    wrong = set(frame["kind"].dropna().unique()) - {"normal", "red"}
    if wrong or frame["kind"].isna().any():
        raise ValueError(f"{name}: a kind is {(sorted(wrong) or [None])[0]!r}, not normal or red")
    return _is(frame["kind"], "red")
