"""Legs 3 and 4, one to one: a revenue system's records and a courier's freight bill."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from integrations.statements import FREIGHT_COLUMNS, REVENUE_COLUMNS
from reconciliation.matching.frames import (
    _finish,
    _frame,
    _int64,
    _ns,
    _optional,
    _ref,
    _refunds,
    _require,
    _shanghai_midnight,
    _text,
    _totals,
    _utc,
)
from reconciliation.matching.keys import _joint_keys, _key, _pair, _ranks, _unpaired
from reconciliation.matching.results import (
    FREIGHT_DISCREPANCY_COLUMNS,
    FREIGHT_TYPES,
    REVENUE_DISCREPANCY_COLUMNS,
    REVENUE_TYPES,
    LegResult,
)


@dataclass(frozen=True)
class _OneToOne:
    """What tells one one-to-one leg from another; `_match_one_to_one` does the rest."""

    types: tuple[str, ...]
    columns: Mapping[str, str]  # the discrepancy frame's
    order: tuple[str, ...]  # how the discrepancies sort
    mismatch: str  # the type of a pair that breaks a rule and of a row on one side only
    missing_in_theirs: str  # the detail of a row only we have
    our_repeats: bool  # a repeat on our side is a `duplicate` (else a one-sided mismatch)
    key: tuple[str | None, str]  # the discrepancy key's kind column (or none) and reference
    matched: Mapping[str, tuple[str, str]]  # a matched column: its side and source column


_REVENUE = _OneToOne(
    types=REVENUE_TYPES,
    columns=REVENUE_DISCREPANCY_COLUMNS,
    order=("type", "key", "detail", "their_line_no", "our_amount"),
    mismatch="revenue_mismatch",
    missing_in_theirs="missing_in_records",
    our_repeats=False,
    key=("kind", "our_ref"),
    matched={
        "kind": ("ours", "kind"),
        "our_ref": ("ours", "payment_code"),
        "their_ref": ("theirs", "record_id"),
        "department": ("ours", "department"),
        "our_amount": ("ours", "amount"),
        "their_amount": ("theirs", "amount"),
        "received_at": ("theirs", "received_at"),
        "their_line_no": ("theirs", "line_no"),
    },
)

_FREIGHT = _OneToOne(
    types=FREIGHT_TYPES,
    columns=FREIGHT_DISCREPANCY_COLUMNS,
    order=("type", "key", "detail", "their_line_no", "our_ref"),
    mismatch="freight_mismatch",
    missing_in_theirs="missing_in_bill",
    our_repeats=True,
    key=(None, "their_ref"),
    matched={
        "our_ref": ("ours", "shipment_id"),
        "their_ref": ("ours", "waybill_no"),
        "courier": ("ours", "courier"),
        "department": ("ours", "department"),
        "freight_payer": ("ours", "freight_payer"),
        "freight_paid": ("ours", "freight_paid"),
        "our_amount": ("ours", "amount"),
        "their_amount": ("theirs", "amount"),
        "bill_date": ("theirs", "bill_date"),
        "their_line_no": ("theirs", "line_no"),
    },
)

# The rows of a discrepancy on each side (None: it has none there) and how many rows it is.
_Columns = Callable[[np.ndarray | None, np.ndarray | None, int], dict[str, object]]


def match_revenue(
    paid_orders: pd.DataFrame, records: pd.DataFrame, *, keep_matched: bool = True
) -> LegResult:
    """Leg 3: our paid orders and refunds against a revenue system's daily records.

    One-to-one on (payment code, kind); an order refunded twice in a day is two rows on
    each side, paired in amount order. `revenue_mismatch`: a row on one side only, a
    different amount, or a record under another department. A record repeated beyond our
    rows for its (payment code, kind) is a `duplicate`.

    Without `keep_matched`, `matched` has no rows (its totals are still counted): a run
    stores only the totals of this leg's pairs, a million rows it need not build.
    """
    _require(paid_orders, ("payment_code", "department", "amount", "kind"), "paid_orders")
    _require(records, tuple(REVENUE_COLUMNS), "records")
    o = _frame(
        {
            "payment_code": _ref(paid_orders["payment_code"]),
            "department": _text(paid_orders["department"]),
            "amount": _int64(paid_orders["amount"]),
            "kind": _text(paid_orders["kind"]),
            "occurred_at": _optional(paid_orders, "occurred_at", _utc, "datetime64[ns, UTC]"),
        }
    )
    t = _frame(
        {
            "line_no": _int64(records["line_no"]),
            "record_id": _text(records["record_id"]),
            "payment_code": _ref(records["payment_code"]),
            "department": _text(records["department"]),
            "amount": _int64(records["amount"]),
            "kind": _text(records["kind"]),
            "received_at": _utc(records["received_at"]),
        }
    )
    o_refund = _refunds(o["kind"], "paid_orders")
    t_refund = _refunds(t["kind"], "records")

    def department_wrong(oi: np.ndarray, ti: np.ndarray) -> np.ndarray:
        ours = o["department"].array.take(oi).fillna("")
        return (ours != t["department"].array.take(ti).fillna("")).to_numpy(dtype=bool)

    def columns(oi: np.ndarray | None, ti: np.ndarray | None, n: int) -> dict[str, object]:
        return {
            "kind": _side(o, "kind", oi, t, ti, n, "string"),
            "our_ref": _side(o, "payment_code", oi, t, ti, n, "string"),
            "their_ref": _one(t, "record_id", ti, n, "string"),
            "department": _side(o, "department", oi, t, ti, n, "string"),
            "occurred_at": _side(
                t, "received_at", ti, o, oi, n, "datetime64[ns, UTC]", "occurred_at"
            ),
        }

    return _match_one_to_one(
        _REVENUE,
        o,
        t,
        _joint_keys(o["payment_code"], t["payment_code"], o_refund, t_refund),
        their_order=[
            t["amount"].to_numpy(dtype=np.int64),
            _ns(t["received_at"]),
            t["line_no"].to_numpy(),
        ],
        rule=("department", department_wrong),
        columns=columns,
        keep_matched=keep_matched,
    )


def match_freight(
    shipments: pd.DataFrame, bill: pd.DataFrame, *, keep_matched: bool = True
) -> LegResult:
    """Leg 4: our shipments and the applicants' freight payments against a courier's bill.

    One-to-one on the waybill number. `freight_mismatch`: a waybill on one side only, a
    billed amount other than our freight, or (when the applicant pays) a paid freight other
    than the billed amount. A waybill billed again is a `duplicate`. `keep_matched` as in
    `match_revenue`.
    """
    _require(
        shipments,
        ("shipment_id", "waybill_no", "courier", "freight_amount", "freight_paid", "freight_payer"),
        "shipments",
    )
    _require(bill, tuple(FREIGHT_COLUMNS), "bill")
    o = _frame(
        {
            "shipment_id": _text(shipments["shipment_id"]),
            "waybill_no": _ref(shipments["waybill_no"]),
            "courier": _text(shipments["courier"]),
            "amount": _int64(shipments["freight_amount"]),
            "freight_paid": _int64(shipments["freight_paid"]),
            "freight_payer": _text(shipments["freight_payer"]),
            "department": _optional(shipments, "department", _text, "string"),
        }
    )
    t = _frame(
        {
            "line_no": _int64(bill["line_no"]),
            "waybill_no": _ref(bill["waybill_no"]),
            "order_no": _text(bill["order_no"]),
            "amount": _int64(bill["amount"]),
            "bill_date": pd.to_datetime(bill["bill_date"]).astype("datetime64[ns]"),
        }
    )
    t["occurred_at"] = _shanghai_midnight(t["bill_date"])
    none_o = np.zeros(len(o), dtype=bool)
    none_t = np.zeros(len(t), dtype=bool)
    applicant = (o["freight_payer"] == "applicant").fillna(False).to_numpy(dtype=bool)
    paid = o["freight_paid"].to_numpy(dtype=np.int64)
    billed = t["amount"].to_numpy(dtype=np.int64)

    def paid_wrong(oi: np.ndarray, ti: np.ndarray) -> np.ndarray:
        return applicant[oi] & (paid[oi] != billed[ti])

    def columns(oi: np.ndarray | None, ti: np.ndarray | None, n: int) -> dict[str, object]:
        return {
            "kind": pd.array(["freight"] * n, dtype="string"),
            "our_ref": _side(o, "shipment_id", oi, t, ti, n, "string", "order_no"),
            "their_ref": _side(o, "waybill_no", oi, t, ti, n, "string"),
            "department": _one(o, "department", oi, n, "string"),
            "occurred_at": _one(t, "occurred_at", ti, n, "datetime64[ns, UTC]"),
            "courier": _one(o, "courier", oi, n, "string"),
            "freight_payer": _one(o, "freight_payer", oi, n, "string"),
            "freight_paid": _one(o, "freight_paid", oi, n, "Int64"),
        }

    return _match_one_to_one(
        _FREIGHT,
        o,
        t,
        _joint_keys(o["waybill_no"], t["waybill_no"], none_o, none_t),
        their_order=[t["line_no"].to_numpy()],
        rule=("applicant_paid", paid_wrong),
        columns=columns,
        keep_matched=keep_matched,
    )


def _match_one_to_one(
    leg: _OneToOne,
    o: pd.DataFrame,
    t: pd.DataFrame,
    keys: tuple[np.ndarray, np.ndarray],
    *,
    their_order: Sequence[np.ndarray],
    rule: tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
    columns: _Columns,
    keep_matched: bool,
) -> LegResult:
    """Pair the rows of `o` and `t` (each with `amount`, `t` with `line_no`) of equal key.

    Our rows of one key pair in amount order, theirs in `their_order`. A pair is a mismatch
    when the amounts differ (detail `amount`) or else when the rule (its detail, and which
    of the pairs break it) holds. `columns` gives a discrepancy row's columns of this leg.
    """
    o_key, t_key = keys
    o_amount = o["amount"].to_numpy(dtype=np.int64)
    t_amount = t["amount"].to_numpy(dtype=np.int64)
    o_rank = _ranks(o_key, [o_amount], o)
    t_rank = _ranks(t_key, their_order, t)
    oi, ti = _pair(o_key, o_rank, t_key, t_rank)

    rule_detail, rule_broken = rule
    amount_wrong = o_amount[oi] != t_amount[ti]
    bad = amount_wrong | rule_broken(oi, ti)
    detail = np.where(amount_wrong, "amount", rule_detail)[bad]
    o_only = _unpaired(len(o), oi)
    t_only = _unpaired(len(t), ti)
    o_repeat = (o_rank[o_only] > 0) & leg.our_repeats
    t_repeat = t_rank[t_only] > 0

    def rows(oi_, ti_, types, details, rank) -> pd.DataFrame:
        n = len(types)
        frame = pd.DataFrame(
            {
                "type": pd.array(types, dtype="string"),
                **columns(oi_, ti_, n),
                "our_amount": _one(o, "amount", oi_, n, "Int64"),
                "their_amount": _one(t, "amount", ti_, n, "Int64"),
                "detail": pd.array(details, dtype="string"),
                "our_count": np.full(n, int(oi_ is not None), dtype=np.int64),
                "their_count": np.full(n, int(ti_ is not None), dtype=np.int64),
                "their_line_no": _one(t, "line_no", ti_, n, "Int64"),
            }
        )
        kind, ref = leg.key
        frame["key"] = _key(frame["type"], frame[kind] if kind else None, frame[ref], None, rank)
        return frame

    discrepancies = _finish(
        [
            rows(oi[bad], ti[bad], np.full(len(detail), leg.mismatch), detail, o_rank[oi[bad]]),
            rows(
                o_only,
                None,
                np.where(o_repeat, "duplicate", leg.mismatch),
                np.where(o_repeat, "our_repeat", leg.missing_in_theirs),
                o_rank[o_only],
            ),
            rows(
                None,
                t_only,
                np.where(t_repeat, "duplicate", leg.mismatch),
                np.where(t_repeat, "their_repeat", "missing_in_ours"),
                t_rank[t_only],
            ),
        ],
        leg.columns,
        list(leg.order),
    )
    good_o, good_t = oi[~bad], ti[~bad]
    matched_totals = (len(good_o), int(o_amount[good_o].sum()))
    if not keep_matched:
        good_o, good_t = good_o[:0], good_t[:0]
    order = np.lexsort((o_rank[good_o], o_key[good_o]))
    good = {"ours": (o, good_o[order]), "theirs": (t, good_t[order])}
    matched = pd.DataFrame(
        {
            name: good[side][0][column].array.take(good[side][1])
            for name, (side, column) in leg.matched.items()
        }
    )
    matched["our_count"] = np.ones(len(matched), dtype=np.int64)
    matched["their_count"] = np.ones(len(matched), dtype=np.int64)
    totals = _totals(
        leg.types,
        ours=(len(o), int(o_amount.sum())),
        theirs=(len(t), int(t_amount.sum())),
        matched=matched_totals,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


def _side(first, column, first_rows, second, second_rows, n, dtype, second_column=None):
    """A column from the first frame where its rows are given, else from the second."""
    if first_rows is not None:
        return pd.array(first[column].array.take(first_rows), dtype=dtype)
    return pd.array(second[second_column or column].array.take(second_rows), dtype=dtype)


def _one(frame, column, rows, n, dtype):
    if rows is None:
        return pd.array([pd.NA] * n, dtype=dtype)
    return pd.array(frame[column].array.take(rows), dtype=dtype)
