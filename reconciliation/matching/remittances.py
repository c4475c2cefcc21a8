"""Leg 6: the remittances (缴库) we ordered from a settlement account against its statement.

A remittance is a credit transfer from the account with an EndToEndId of ours (``RMT`` and
24 base32 capitals), which its pain.001 also writes into the remittance information, so
the statement's debit carries it in its description whatever the bank's format.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date

import numpy as np
import pandas as pd

from integrations.statements import BANK_COLUMNS
from reconciliation.matching.frames import (
    _finish,
    _frame,
    _int64,
    _ref,
    _require,
    _shanghai_midnight,
    _text,
    _totals,
)
from reconciliation.matching.keys import _joint_keys, _key, _pair, _ranks, _unpaired
from reconciliation.matching.one_to_one import _one, _side
from reconciliation.matching.results import DISCREPANCY_COLUMNS, LegResult

OURS_REMITTANCES = ("ref", "department", "account", "amount", "execution_date", "overdue_on")
REMITTANCE_TYPES = ("missing_in_channel", "missing_in_ledger", "amount_mismatch", "duplicate")
REMITTANCE_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "account": "string",
    "execution_date": "datetime64[ns]",
    "their_line_no": "Int64",
}
END_TO_END_ID = r"RMT[A-Z2-7]{24}"
_ORDER = ["type", "key", "detail", "their_line_no"]


def end_to_end_ids(descriptions: pd.Series) -> pd.Series:
    """The first EndToEndId of ours in each description (missing where there is none)."""
    joined = _text(descriptions).str.replace("\n", "", regex=False)  # MT940 :86: cuts lines
    found = joined.str.upper().str.extract(f"({END_TO_END_ID})", expand=False)
    return found.astype("string")


def match_remittances(
    ours: pd.DataFrame,
    statement: pd.DataFrame,
    *,
    business_date: date,
    window_days: int,
    destination_accounts: Collection[str] = (),
    department: str | None = None,
    keep_matched: bool = True,
) -> LegResult:
    """Leg 6: our remittances from one account against the debits of its statement.

    ``ours`` (OURS_REMITTANCES) holds the remittances the statement of ``business_date``
    may show: `ref` is the EndToEndId, `amount` fen paid out, `execution_date` the date
    asked of the bank, `overdue_on` the statement date by which one was found missing
    (NaT before). Their side is the statement's debits (BANK_COLUMNS) carrying an
    EndToEndId of ours in their description, or paid to one of `destination_accounts`;
    their amount is what left the account (positive).

    One-to-one on the EndToEndId. A pair of other amounts is an `amount_mismatch`. Ours
    alone is `missing_in_channel` (detail `overdue`) once due: by the statement of its
    execution date plus `window_days`, or of its `overdue_on` (so a re-run finds it again);
    before that it is still on its way and is not part of the leg. Theirs alone is
    `missing_in_ledger`: `unexpected_debit` (a destination paid without a reference of
    ours) or `unknown_reference`; a second debit of one EndToEndId is a `duplicate`.
    `department` names the account's department for their rows, when it has one.
    """
    _require(ours, OURS_REMITTANCES, "ours")
    _require(statement, tuple(BANK_COLUMNS), "statement")
    o = _frame(
        {
            "ref": _ref(ours["ref"]),
            "department": _text(ours["department"]),
            "account": _text(ours["account"]),
            "amount": _int64(ours["amount"]),
            "execution_date": _day(ours["execution_date"]),
            "overdue_on": _day(ours["overdue_on"]),
        }
    )
    debits = statement[statement["amount"].to_numpy(dtype=np.int64) < 0]
    refs = end_to_end_ids(debits["description"])
    to_destination = _text(debits["counterparty_account"]).isin(list(destination_accounts))
    theirs = debits[(refs.notna() | to_destination).to_numpy(dtype=bool)]
    t = _frame(
        {
            "line_no": _int64(theirs["line_no"]),
            "ref": refs.loc[theirs.index],
            "bank_ref": _text(theirs["bank_ref"]),
            "account": _text(theirs["account"]),
            "amount": -_int64(theirs["amount"]),
            "value_date": _day(theirs["value_date"]),
        }
    )
    none_o = np.zeros(len(o), dtype=bool)
    none_t = np.zeros(len(t), dtype=bool)
    o_key, t_key = _joint_keys(o["ref"], t["ref"], none_o, none_t)
    o_amount = o["amount"].to_numpy(dtype=np.int64)
    t_amount = t["amount"].to_numpy(dtype=np.int64)
    o_rank = _ranks(o_key, [o_amount], o)
    t_rank = _ranks(t_key, [t["line_no"].to_numpy(dtype=np.int64)], t)
    oi, ti = _pair(o_key, o_rank, t_key, t_rank)
    wrong = o_amount[oi] != t_amount[ti]

    o_only = _unpaired(len(o), oi)
    day = np.datetime64(business_date, "ns")
    overdue_on = o["overdue_on"].to_numpy(dtype="datetime64[ns]")[o_only]
    due_by = o["execution_date"].to_numpy(dtype="datetime64[ns]")[o_only] + np.timedelta64(
        window_days, "D"
    )
    due = np.where(np.isnat(overdue_on), due_by <= day, overdue_on == day)
    pending = o_only[~due]
    o_only = o_only[due]
    t_only = _unpaired(len(t), ti)
    t_repeat = t_rank[t_only] > 0
    t_known = t["ref"].notna().to_numpy(dtype=bool)[t_only]

    def rows(oi_, ti_, types, details, rank) -> pd.DataFrame:
        n = len(types)
        frame = pd.DataFrame(
            {
                "type": pd.array(types, dtype="string"),
                "kind": pd.array(["remittance"] * n, dtype="string"),
                "our_ref": _side(o, "ref", oi_, t, ti_, n, "string"),
                "their_ref": _one(t, "bank_ref", ti_, n, "string"),
                "our_amount": _one(o, "amount", oi_, n, "Int64"),
                "their_amount": _one(t, "amount", ti_, n, "Int64"),
                "department": (
                    _one(o, "department", oi_, n, "string")
                    if oi_ is not None
                    else pd.array([department] * n, dtype="string")
                ),
                "occurred_at": _shanghai_midnight(
                    pd.Series(
                        _side(t, "value_date", ti_, o, oi_, n, "datetime64[ns]", "execution_date")
                    )
                ),
                "detail": pd.array(details, dtype="string"),
                "our_count": np.full(n, int(oi_ is not None), dtype=np.int64),
                "their_count": np.full(n, int(ti_ is not None), dtype=np.int64),
                "account": _side(o, "account", oi_, t, ti_, n, "string"),
                "execution_date": _one(o, "execution_date", oi_, n, "datetime64[ns]"),
                "their_line_no": _one(t, "line_no", ti_, n, "Int64"),
            }
        )
        shown = (
            frame["our_ref"]
            .fillna(frame["their_ref"])
            .fillna("line " + frame["their_line_no"].astype("string"))
        )
        frame["key"] = _key(frame["type"], frame["kind"], shown, None, rank)
        return frame

    discrepancies = _finish(
        [
            rows(
                oi[wrong],
                ti[wrong],
                np.full(int(wrong.sum()), "amount_mismatch"),
                np.full(int(wrong.sum()), "amount"),
                np.zeros(int(wrong.sum()), dtype=np.int64),
            ),
            rows(
                o_only,
                None,
                np.full(len(o_only), "missing_in_channel"),
                np.full(len(o_only), "overdue"),
                np.zeros(len(o_only), dtype=np.int64),
            ),
            rows(
                None,
                t_only,
                np.where(t_repeat, "duplicate", "missing_in_ledger"),
                np.select(
                    [t_repeat, t_known],
                    ["their_repeat", "unknown_reference"],
                    default="unexpected_debit",
                ),
                t_rank[t_only],
            ),
        ],
        REMITTANCE_DISCREPANCY_COLUMNS,
        _ORDER,
    )
    good_o, good_t = oi[~wrong], ti[~wrong]
    matched_totals = (len(good_o), int(o_amount[good_o].sum()))
    if not keep_matched:
        good_o, good_t = good_o[:0], good_t[:0]
    matched = pd.DataFrame(
        {
            "our_ref": o["ref"].array.take(good_o),
            "their_ref": t["bank_ref"].array.take(good_t),
            "department": o["department"].array.take(good_o),
            "account": o["account"].array.take(good_o),
            "execution_date": o["execution_date"].to_numpy()[good_o],
            "value_date": t["value_date"].to_numpy()[good_t],
            "our_amount": o_amount[good_o],
            "their_amount": t_amount[good_t],
            "our_count": np.ones(len(good_o), dtype=np.int64),
            "their_count": np.ones(len(good_o), dtype=np.int64),
        }
    )
    kept = np.ones(len(o), dtype=bool)
    kept[pending] = False
    totals = _totals(
        REMITTANCE_TYPES,
        ours=(int(kept.sum()), int(o_amount[kept].sum())),
        theirs=(len(t), int(t_amount.sum())),
        matched=matched_totals,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


def _day(column: pd.Series) -> pd.Series:
    return pd.to_datetime(column).astype("datetime64[ns]")
