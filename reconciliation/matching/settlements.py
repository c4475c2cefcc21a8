"""Clearing (清分) from leg 1's pairs, and leg 2: each clearing against its bank credits."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.business_days import BusinessCalendar, configured
from integrations.statements import BANK_COLUMNS
from reconciliation.matching.frames import (
    _finish,
    _matched_totals,
    _require,
    _shanghai_midnight,
    _text,
    _totals,
)
from reconciliation.matching.results import (
    SETTLEMENT_DISCREPANCY_COLUMNS,
    SETTLEMENT_TYPES,
    LegResult,
)

# What the clearing reads of leg 1's pairs.
CLEARING_COLUMNS = ("processor", "department", "kind", "their_amount", "fee", "business_date")


def clearing(
    cleared: pd.DataFrame,
    settlement_lag_days: Mapping[str, int],
    *,
    accounts: Mapping[str, str] | None = None,
    calendar: BusinessCalendar | None = None,
) -> pd.DataFrame:
    """清分: per (processor, department, settlement date), what the processor must transfer.

    From the pairs of leg 1 the processor's money moved on (`LegResult.cleared`), at the
    bill's amounts and fees: payments − refunds − fees (a refund's negative fee is a fee
    given back). A pair that is also a discrepancy (another amount, another fee, a payment
    made twice) counts as the processor transferred it; the discrepancy says the rest.
    The settlement date is the business date plus the processor's lag in business days of
    `calendar` (the configured one by default): T+1 of a Friday is the Monday after.
    `accounts` maps a department to its settlement account (else the column is empty, for
    the caller to fill).
    """
    _require(cleared, CLEARING_COLUMNS, "cleared")
    processor = _text(cleared["processor"])
    lag = processor.map(dict(settlement_lag_days))
    if lag.isna().any():
        unknown = sorted(set(processor[lag.isna()].fillna("<none>")))
        raise ValueError(f"no settlement lag for processor {', '.join(unknown)}")
    refund = (cleared["kind"] == "refund").to_numpy(dtype=bool)
    amount = cleared["their_amount"].to_numpy(dtype=np.int64)
    fee = cleared["fee"].to_numpy(dtype=np.int64)
    business_date = pd.to_datetime(cleared["business_date"]).astype("datetime64[ns]")
    parts = pd.DataFrame(
        {
            "processor": processor.array,
            "department": _text(cleared["department"]).array,
            "business_date": business_date.to_numpy(),
            "settlement_date": _business_days_after(
                business_date, lag.astype("int64"), calendar or configured()
            ),
            "payments_count": (~refund).astype(np.int64),
            "payments_amount": np.where(refund, 0, amount),
            "refunds_count": refund.astype(np.int64),
            "refunds_amount": np.where(refund, amount, 0),
            "fees_amount": fee,
        }
    )
    out = (
        parts.groupby(["processor", "department", "settlement_date"], sort=True)
        .agg(
            business_date=("business_date", "min"),
            payments_count=("payments_count", "sum"),
            payments_amount=("payments_amount", "sum"),
            refunds_count=("refunds_count", "sum"),
            refunds_amount=("refunds_amount", "sum"),
            fees_amount=("fees_amount", "sum"),
        )
        .reset_index()
    )
    out["amount"] = out["payments_amount"] - out["refunds_amount"] - out["fees_amount"]
    out["account"] = out["department"].map(dict(accounts)) if accounts is not None else pd.NA
    columns = {
        "processor": "string",
        "department": "string",
        "account": "string",
        "business_date": "datetime64[ns]",
        "settlement_date": "datetime64[ns]",
        "amount": "int64",
        "payments_count": "int64",
        "payments_amount": "int64",
        "refunds_count": "int64",
        "refunds_amount": "int64",
        "fees_amount": "int64",
    }
    return out[list(columns)].astype(columns)


def match_settlements(
    expected: pd.DataFrame,
    credits: pd.DataFrame,
    *,
    window_days: int = 3,
    calendar: BusinessCalendar | None = None,
) -> LegResult:
    """Leg 2: each expected clearing against the bank credits of its settlement account.

    A clearing takes the credits of its (processor, account) whose value date falls from
    its settlement date to `window_days` business days of `calendar` (the configured one
    by default) after it. First, a single credit of exactly the
    expected amount (the nearest in time, then the earliest clearing); then each remaining
    credit goes to the remaining clearing with the latest settlement date on or before its
    value date. A clearing whose credits sum to its amount is matched (a zero clearing with
    no credit too); otherwise it is a `settlement_mismatch`, and so is each credit that
    belongs to no clearing.
    """
    _require(
        expected, ("processor", "department", "account", "settlement_date", "amount"), "expected"
    )
    _require(credits, (*BANK_COLUMNS, "processor"), "credits")
    e = pd.DataFrame(
        {
            "processor": _text(expected["processor"]),
            "department": _text(expected["department"]),
            "account": _text(expected["account"]),
            "settlement_date": pd.to_datetime(expected["settlement_date"]).astype("datetime64[ns]"),
            "amount": expected["amount"].astype("int64"),
        }
    )
    e = e.sort_values(
        ["processor", "account", "settlement_date", "department", "amount"], kind="stable"
    ).reset_index(drop=True)
    e["eid"] = np.arange(len(e), dtype=np.int64)
    e["due_by"] = _business_days_after(
        e["settlement_date"], pd.Series(window_days, index=e.index), calendar or configured()
    )
    c = pd.DataFrame(
        {
            "processor": _text(credits["processor"]),
            "account": _text(credits["account"]),
            "value_date": pd.to_datetime(credits["value_date"]).astype("datetime64[ns]"),
            "amount": credits["amount"].astype("int64"),
            "bank_ref": _text(credits["bank_ref"]),
            "line_no": credits["line_no"].astype("int64"),
        }
    )
    c = c.sort_values(
        ["processor", "account", "value_date", "amount", "bank_ref", "line_no"], kind="stable"
    ).reset_index(drop=True)
    c["cid"] = np.arange(len(c), dtype=np.int64)

    candidates = e[["eid", "processor", "account", "settlement_date", "due_by", "amount"]].merge(
        c[["cid", "processor", "account", "value_date", "amount"]],
        on=["processor", "account"],
        suffixes=("_e", "_c"),
    )
    candidates["delay"] = candidates["value_date"] - candidates["settlement_date"]
    candidates = candidates[
        (candidates["delay"] >= pd.Timedelta(0))
        & (candidates["value_date"] <= candidates["due_by"])
    ].sort_values(["delay", "eid", "cid"], kind="stable")

    # Exact single credits, one-to-one; each round pairs at least one, usually all.
    owner = np.full(len(c), -1, dtype=np.int64)
    exact = candidates[candidates["amount_e"] == candidates["amount_c"]]
    while len(exact):
        picked = exact.drop_duplicates("cid").drop_duplicates("eid")
        owner[picked["cid"].to_numpy()] = picked["eid"].to_numpy()
        exact = exact[~exact["cid"].isin(picked["cid"]) & ~exact["eid"].isin(picked["eid"])]
    taken_e = np.unique(owner[owner >= 0])
    rest = candidates[
        (owner[candidates["cid"].to_numpy()] < 0) & ~candidates["eid"].isin(taken_e)
    ].drop_duplicates("cid")
    owner[rest["cid"].to_numpy()] = rest["eid"].to_numpy()

    c["eid"] = owner
    got = c[c["eid"] >= 0]
    sums = got.groupby("eid").agg(
        credited=("amount", "sum"),
        credits=("amount", "size"),
        bank_refs=("bank_ref", lambda refs: ",".join(refs.fillna(""))),
        value_date=("value_date", "max"),
    )
    e = e.join(sums, on="eid")
    e["credits"] = e["credits"].fillna(0).astype("int64")
    e["credited"] = e["credited"].fillna(0).astype("int64")
    ok = (e["credited"] == e["amount"]).to_numpy(dtype=bool)

    matched_e = e[ok]
    matched = pd.DataFrame(
        {
            "processor": matched_e["processor"],
            "department": matched_e["department"],
            "account": matched_e["account"],
            "settlement_date": matched_e["settlement_date"],
            "value_date": matched_e["value_date"],
            "our_amount": matched_e["amount"],
            "their_amount": matched_e["credited"],
            "their_ref": matched_e["bank_refs"].astype("string"),
            "our_count": np.ones(len(matched_e), dtype=np.int64),
            "their_count": matched_e["credits"],
        }
    ).reset_index(drop=True)

    short = e[~ok]
    day = short["settlement_date"].dt.strftime("%Y-%m-%d").astype("string")
    ours_rows = pd.DataFrame(
        {
            "type": "settlement_mismatch",
            "key": _joined(
                "settlement_mismatch", short["processor"], short["department"], short["account"]
            )
            + ":"
            + day,
            "kind": "settlement",
            "our_ref": _joined(short["processor"], short["department"]) + ":" + day,
            "their_ref": short["bank_refs"].astype("string"),
            "our_amount": short["amount"].astype("Int64"),
            "their_amount": short["credited"].astype("Int64").where(short["credits"] > 0),
            "department": short["department"],
            "occurred_at": _shanghai_midnight(short["settlement_date"]),
            "detail": np.where(short["credits"] > 0, "amount", "nothing_arrived"),
            "our_count": 1,
            "their_count": short["credits"],
            "processor": short["processor"],
            "account": short["account"],
            "settlement_date": short["settlement_date"],
        }
    )
    stray = c[c["eid"] < 0]
    department_of = e.drop_duplicates(["processor", "account"]).set_index(["processor", "account"])[
        "department"
    ]
    stray_department = pd.Series(
        department_of.reindex(pd.MultiIndex.from_frame(stray[["processor", "account"]])).array,
        index=stray.index,
        dtype="string",
    )
    stray_ref = stray["bank_ref"].fillna("line " + stray["line_no"].astype("string"))
    theirs_rows = pd.DataFrame(
        {
            "type": "settlement_mismatch",
            "key": _joined("settlement_mismatch", stray["processor"], stray["account"], stray_ref),
            "kind": "settlement",
            "our_ref": pd.Series(pd.NA, index=stray.index, dtype="string"),
            "their_ref": stray["bank_ref"],
            "our_amount": pd.Series(pd.NA, index=stray.index, dtype="Int64"),
            "their_amount": stray["amount"].astype("Int64"),
            "department": stray_department,
            "occurred_at": _shanghai_midnight(stray["value_date"]),
            "detail": "unexpected_credit",
            "our_count": 0,
            "their_count": 1,
            "processor": stray["processor"],
            "account": stray["account"],
            "settlement_date": pd.Series(pd.NaT, index=stray.index, dtype="datetime64[ns]"),
        }
    )
    discrepancies = _finish(
        [ours_rows, theirs_rows],
        SETTLEMENT_DISCREPANCY_COLUMNS,
        ["type", "key", "their_ref", "their_amount"],
    )
    totals = _totals(
        SETTLEMENT_TYPES,
        ours=(len(e), int(e["amount"].sum())),
        theirs=(len(c), int(c["amount"].sum())),
        matched=_matched_totals(matched),
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


def _business_days_after(
    dates: pd.Series, days: pd.Series, calendar: BusinessCalendar
) -> np.ndarray:
    """Each date moved on by its number of business days, computed once per distinct pair."""
    keys = pd.DataFrame({"date": dates.to_numpy(), "days": days.to_numpy()})
    pairs = keys.drop_duplicates()
    pairs = pairs.assign(
        after=np.array(
            [
                calendar.add_business_days(pd.Timestamp(day).date(), int(n))
                for day, n in zip(pairs["date"], pairs["days"], strict=True)
            ],
            dtype="datetime64[ns]",
        )
    )
    return keys.merge(pairs, how="left", on=["date", "days"])["after"].to_numpy()


def _joined(*parts: pd.Series | str) -> pd.Series:
    """The parts joined with ':', a missing value as empty."""
    filled = [part.fillna("") if isinstance(part, pd.Series) else part for part in parts]
    return functools.reduce(lambda joined, part: joined + ":" + part, filled)
