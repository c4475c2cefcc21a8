"""The matching engine: our records against each party's statement, one leg at a time.

Pure functions over pandas frames; nothing here knows the database. Every leg returns a
`LegResult`: the matched pairs, the discrepancies, and totals of plain ints.

Conservation: every row of our side and every row of their side lands in exactly one row of
`matched` or of `discrepancies`. Each output row says how many input rows of each side it
holds (`our_count`, `their_count`) and their amounts (`our_amount`, `their_amount`), so
`check_conservation()` can prove the sums against the totals taken from the inputs. A
one-to-one pair counts one on each side; a one-sided discrepancy counts one on its side and
nothing on the other; a leg-2 group counts its one expected clearing and its n credits.

Duplicates count once, on the side that repeated: when a key appears more than once on
their side, the first line (earliest time, then lowest line number) takes part in matching
and every further line is its own `duplicate` row holding that line only. A payment we flag
`refund_due` (the order was paid twice) that the processor's bill shows is one `duplicate`
row holding both lines.

Matching is vectorised: keys are integer-coded with pd.factorize over both sides, rows are
ranked within their key, and pairs are the intersection of (key, rank) codes; rules are
array expressions. No Python loop runs per row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.money import BEIJING as SHANGHAI
from integrations.statements import (
    BANK_COLUMNS,
    FREIGHT_COLUMNS,
    REVENUE_COLUMNS,
    TRANSACTION_COLUMNS,
)

TRANSACTION_TYPES = (
    "missing_in_channel",
    "missing_in_ledger",
    "amount_mismatch",
    "refund_mismatch",
    "status_mismatch",
    "duplicate",
    "fee_mismatch",
    "timing_cutoff",
)
SETTLEMENT_TYPES = ("settlement_mismatch",)
REVENUE_TYPES = ("revenue_mismatch", "duplicate")
FREIGHT_TYPES = ("freight_mismatch", "duplicate")

# A processor's line in one of these statuses says the money did not move (lower case).
THEIR_FAILED_STATUSES = frozenset({"closed", "reversed", "revoked", "failed", "cancelled"})

# The columns every leg's discrepancy frame starts with, then the leg's own.
DISCREPANCY_COLUMNS: Mapping[str, str] = {
    "type": "string",
    "key": "string",  # type and refs: stable across runs of the same data
    "kind": "string",
    "our_ref": "string",
    "their_ref": "string",
    "our_amount": "Int64",
    "their_amount": "Int64",
    "department": "string",
    "occurred_at": "datetime64[ns, UTC]",
    "detail": "string",  # which rule, when a type has several
    "our_count": "int64",  # rows of our side this discrepancy holds
    "their_count": "int64",  # rows of their side
}
TRANSACTION_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "processor": "string",
    "their_line_no": "Int64",
    "their_fee": "Int64",
    "expected_fee": "Int64",
}
SETTLEMENT_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "processor": "string",
    "account": "string",
    "settlement_date": "datetime64[ns]",
}
REVENUE_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "their_line_no": "Int64",
}
FREIGHT_DISCREPANCY_COLUMNS: Mapping[str, str] = {
    **DISCREPANCY_COLUMNS,
    "courier": "string",
    "freight_payer": "string",
    "freight_paid": "Int64",
    "their_line_no": "Int64",
}


class ConservationError(AssertionError):
    """Matched plus discrepancies do not add up to a side's count or amount."""


@dataclass(frozen=True)
class LegResult:
    matched: pd.DataFrame
    discrepancies: pd.DataFrame
    totals: dict[str, int] = field(default_factory=dict)

    def check_conservation(self) -> None:
        """Raise ConservationError unless every input row is in exactly one output row.

        The side totals were taken from the inputs; the rest is recounted from the frames.
        """
        found = []
        for side in ("ours", "theirs"):
            prefix = "our" if side == "ours" else "their"
            count = _int_sum(self.matched[f"{prefix}_count"]) + _int_sum(
                self.discrepancies[f"{prefix}_count"]
            )
            amount = _int_sum(self.matched[f"{prefix}_amount"]) + _int_sum(
                self.discrepancies[f"{prefix}_amount"]
            )
            if count != self.totals[f"{side}_count"]:
                found.append(f"{side}: {count} rows placed, {self.totals[f'{side}_count']} given")
            if amount != self.totals[f"{side}_amount"]:
                found.append(f"{side}: {amount} fen placed, {self.totals[f'{side}_amount']} given")
        if len(self.matched) != self.totals["matched_count"]:
            found.append("matched rows differ from matched_count")
        counts = self.discrepancies["type"].value_counts()
        for name, value in self.totals.items():
            kind = name.removesuffix("_count")
            if kind in _ALL_TYPES and int(counts.get(kind, 0)) != value:
                found.append(f"{name} is {value}, the frame has {int(counts.get(kind, 0))}")
        unknown = set(counts.index) - {n.removesuffix("_count") for n in self.totals}
        if unknown:
            found.append(f"types without totals: {sorted(unknown)}")
        if found:
            raise ConservationError("; ".join(found))


_ALL_TYPES = frozenset(TRANSACTION_TYPES + SETTLEMENT_TYPES + REVENUE_TYPES + FREIGHT_TYPES)


# Leg 1 ----------------------------------------------------------------------------------

_OURS_TRANSACTION = ("kind", "ref", "provider_ref", "amount", "status", "department", "occurred_at")


def match_transactions(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    *,
    business_date: date,
    fee_rates: Mapping[str, int] | None = None,
    cutoff_grace: timedelta = timedelta(minutes=5),
) -> LegResult:
    """Leg 1: our payments and refunds against a processor's bill.

    One-to-one on (kind, our out-trade or refund number), then, for lines still unpaired, on
    (kind, the processor's number). `fee_rates` maps our `processor` column to the
    processor's rate in basis points; a payment's expected fee is amount × rate / 10000
    rounded half up to the fen, taken on the amount the processor billed. Refund fees are
    not checked: whether a processor gives its fee back on a refund is its own policy.
    A one-sided item within `cutoff_grace` of the business date's 00:00 or 24:00
    (Asia/Shanghai) is `timing_cutoff`: the other side has it on the neighbouring day.
    """
    o = _ours_transactions(ours, need_processor=fee_rates is not None)
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
    pair_type = np.select(
        [failed, refund_due, amount_wrong & p_refund, amount_wrong, fee_wrong],
        ["status_mismatch", "duplicate", "refund_mismatch", "amount_mismatch", "fee_mismatch"],
        default="",
    )
    pair_detail = np.where(pair_type == "duplicate", "refund_due", "")
    is_match = pair_type == ""

    # One-sided rows.
    o_only = _unpaired(n_o, oi)
    t_only = _unpaired(n_t, ti)
    start, end = _day_bounds(business_date)
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
        o, t, oi[is_match], ti[is_match], on_ref[is_match], o_key, o_rank
    )

    bad = ~is_match
    pairs = _transaction_rows(
        o,
        t,
        oi[bad],
        ti[bad],
        pair_type[bad],
        pair_detail[bad],
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
        matched=matched,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


def _ours_transactions(ours: pd.DataFrame, *, need_processor: bool) -> pd.DataFrame:
    _require(ours, _OURS_TRANSACTION, "ours")
    if need_processor:
        _require(ours, ("processor",), "ours (fee_rates are per processor)")
    frame = pd.DataFrame(
        {
            "kind": _text(ours["kind"]),
            "ref": _text(ours["ref"]),
            "provider_ref": _ref(ours["provider_ref"]),
            "amount": ours["amount"].astype("int64"),
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
    ).reset_index(drop=True)
    frame["business_date"] = (
        pd.to_datetime(ours["business_date"]).astype("datetime64[ns]").reset_index(drop=True)
        if "business_date" in ours
        else _local_date(frame["occurred_at"])
    )
    return frame


def _their_transactions(theirs: pd.DataFrame) -> pd.DataFrame:
    _require(theirs, tuple(TRANSACTION_COLUMNS), "theirs")
    frame = pd.DataFrame(
        {
            "line_no": theirs["line_no"].astype("int64"),
            "kind": _text(theirs["kind"]),
            "ref": _ref(theirs["ref"]),
            "provider_ref": _ref(theirs["provider_ref"]),
            "amount": theirs["amount"].astype("int64"),
            "fee": theirs["fee"].astype("int64"),
            "occurred_at": _utc(theirs["occurred_at"]),
            "status": _optional(theirs, "status", lambda s: _text(s).str.lower(), "string"),
        }
    ).reset_index(drop=True)
    return frame


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


def _transaction_matched(o, t, oi, ti, on_ref, o_key, o_rank) -> pd.DataFrame:
    order = np.lexsort((o_rank[oi], o_key[oi]))
    oi, ti, on_ref = oi[order], ti[order], on_ref[order]
    n = len(oi)
    return pd.DataFrame(
        {
            "kind": o["kind"].array.take(oi),
            "our_ref": o["ref"].array.take(oi),
            "their_ref": t["provider_ref"].array.take(ti),
            "our_amount": o["amount"].to_numpy()[oi],
            "their_amount": t["amount"].to_numpy()[ti],
            "fee": t["fee"].to_numpy()[ti],
            "processor": o["processor"].array.take(oi),
            "department": o["department"].array.take(oi),
            "occurred_at": o["occurred_at"].array.take(oi),
            "their_occurred_at": t["occurred_at"].array.take(ti),
            "business_date": o["business_date"].to_numpy()[oi],
            "their_line_no": t["line_no"].to_numpy()[ti],
            "matched_on": pd.Categorical.from_codes(
                on_ref.astype(np.int8), categories=["provider_ref", "ref"]
            ),
            "our_count": np.ones(n, dtype=np.int64),
            "their_count": np.ones(n, dtype=np.int64),
        }
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


# Clearing and leg 2 ----------------------------------------------------------------------


def clearing(
    matched_leg1: pd.DataFrame,
    settlement_lag_days: Mapping[str, int],
    *,
    accounts: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """清分: per (processor, department, settlement date), what the processor must transfer.

    From leg 1's matched pairs only: payments − refunds − fees (a refund's negative fee is
    a fee given back). The settlement date is the business date plus the processor's lag
    in days. `accounts` maps a department to its settlement account (else the column is
    empty, for the caller to fill).
    """
    _require(
        matched_leg1,
        ("processor", "department", "kind", "their_amount", "fee", "business_date"),
        "matched_leg1",
    )
    frame = matched_leg1
    processor = _text(frame["processor"])
    lag = processor.map(dict(settlement_lag_days))
    if lag.isna().any():
        unknown = sorted(set(processor[lag.isna()].fillna("<none>")))
        raise ValueError(f"no settlement lag for processor {', '.join(unknown)}")
    refund = (frame["kind"] == "refund").to_numpy(dtype=bool)
    amount = frame["their_amount"].to_numpy(dtype=np.int64)
    fee = frame["fee"].to_numpy(dtype=np.int64)
    business_date = pd.to_datetime(frame["business_date"]).astype("datetime64[ns]")
    parts = pd.DataFrame(
        {
            "processor": processor.to_numpy(),
            "department": _text(frame["department"]).to_numpy(),
            "business_date": business_date.to_numpy(),
            "settlement_date": (
                business_date + pd.to_timedelta(lag.astype("int64"), unit="D")
            ).to_numpy(),
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
    expected: pd.DataFrame, credits: pd.DataFrame, *, window_days: int = 3
) -> LegResult:
    """Leg 2: each expected clearing against the bank credits of its settlement account.

    A clearing takes the credits of its (processor, account) whose value date falls in
    [settlement_date, settlement_date + window_days]. First, a single credit of exactly the
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

    candidates = e[["eid", "processor", "account", "settlement_date", "amount"]].merge(
        c[["cid", "processor", "account", "value_date", "amount"]],
        on=["processor", "account"],
        suffixes=("_e", "_c"),
    )
    candidates["delay"] = candidates["value_date"] - candidates["settlement_date"]
    candidates = candidates[
        (candidates["delay"] >= pd.Timedelta(0))
        & (candidates["delay"] <= pd.Timedelta(days=window_days))
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
        matched=matched,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


# Legs 3 and 4: one to one ---------------------------------------------------------------


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


def match_revenue(paid_orders: pd.DataFrame, records: pd.DataFrame) -> LegResult:
    """Leg 3: our paid orders and refunds against a revenue system's daily records.

    One-to-one on (payment code, kind); an order refunded twice in a day is two rows on
    each side, paired in amount order. `revenue_mismatch`: a row on one side only, a
    different amount, or a record under another department. A record repeated beyond our
    rows for its (payment code, kind) is a `duplicate`.
    """
    _require(paid_orders, ("payment_code", "department", "amount", "kind"), "paid_orders")
    _require(records, tuple(REVENUE_COLUMNS), "records")
    o = pd.DataFrame(
        {
            "payment_code": _ref(paid_orders["payment_code"]),
            "department": _text(paid_orders["department"]),
            "amount": paid_orders["amount"].astype("int64"),
            "kind": _text(paid_orders["kind"]),
            "occurred_at": _optional(paid_orders, "occurred_at", _utc, "datetime64[ns, UTC]"),
        }
    ).reset_index(drop=True)
    t = pd.DataFrame(
        {
            "line_no": records["line_no"].astype("int64"),
            "record_id": _text(records["record_id"]),
            "payment_code": _ref(records["payment_code"]),
            "department": _text(records["department"]),
            "amount": records["amount"].astype("int64"),
            "kind": _text(records["kind"]),
            "received_at": _utc(records["received_at"]),
        }
    ).reset_index(drop=True)
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
    )


def match_freight(shipments: pd.DataFrame, bill: pd.DataFrame) -> LegResult:
    """Leg 4: our shipments and the applicants' freight payments against a courier's bill.

    One-to-one on the waybill number. `freight_mismatch`: a waybill on one side only, a
    billed amount other than our freight, or (when the applicant pays) a paid freight other
    than the billed amount. A waybill billed again is a `duplicate`.
    """
    _require(
        shipments,
        ("shipment_id", "waybill_no", "courier", "freight_amount", "freight_paid", "freight_payer"),
        "shipments",
    )
    _require(bill, tuple(FREIGHT_COLUMNS), "bill")
    o = pd.DataFrame(
        {
            "shipment_id": _text(shipments["shipment_id"]),
            "waybill_no": _ref(shipments["waybill_no"]),
            "courier": _text(shipments["courier"]),
            "amount": shipments["freight_amount"].astype("int64"),
            "freight_paid": shipments["freight_paid"].astype("int64"),
            "freight_payer": _text(shipments["freight_payer"]),
            "department": _optional(shipments, "department", _text, "string"),
        }
    ).reset_index(drop=True)
    t = pd.DataFrame(
        {
            "line_no": bill["line_no"].astype("int64"),
            "waybill_no": _ref(bill["waybill_no"]),
            "order_no": _text(bill["order_no"]),
            "amount": bill["amount"].astype("int64"),
            "bill_date": pd.to_datetime(bill["bill_date"]).astype("datetime64[ns]"),
        }
    ).reset_index(drop=True)
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
        matched=matched,
        discrepancies=discrepancies,
    )
    return LegResult(matched=matched, discrepancies=discrepancies, totals=totals)


# Shared machinery -----------------------------------------------------------------------


def _joint_keys(
    ours: pd.Series, theirs: pd.Series, our_flag: np.ndarray, their_flag: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys over both sides: the value's rank among the distinct values of both
    (so ordering by key is ordering by value) doubled, plus a flag (refund). A missing
    value gets a key of its own, negative, that pairs with nothing."""
    codes = _sorted_codes([ours, theirs])
    flags = np.concatenate([our_flag, their_flag]).astype(np.int64)
    keys = codes * 2 + flags
    missing = codes < 0
    keys[missing] = -1 - np.flatnonzero(missing)
    return keys[: len(ours)], keys[len(ours) :]


def _sorted_codes(parts: Sequence[pd.Series]) -> np.ndarray:
    """pd.factorize(sort=True) over the parts together, through Arrow (several times faster
    on millions of strings); Arrow orders UTF-8 bytes, which is code point order, as Python.
    Missing values get -1."""
    chunks = [
        pa.array(part.to_numpy(dtype=object, na_value=None), type=pa.string()) for part in parts
    ]
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string())).combine_chunks()
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order), dtype=np.int64)
    rank[-1] = -1  # the slot for missing values
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    return rank[indices]


def _ranks(keys: np.ndarray, by: Sequence[np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    """Each row's position among the rows of its key, ordered by `by`, then by content.

    Only rows whose key repeats are sorted. The content hash breaks the remaining ties, so
    the ranks do not depend on the order the rows came in.
    """
    n = len(keys)
    ranks = np.zeros(n, dtype=np.int64)
    known = keys >= 0
    if not known.any():
        return ranks
    counts = np.bincount(keys[known])
    repeated = np.flatnonzero(known)[counts[keys[known]] > 1]
    if not len(repeated):
        return ranks
    content = pd.util.hash_pandas_object(
        frame.iloc[repeated].reset_index(drop=True), index=False
    ).to_numpy()
    sub_keys = keys[repeated]
    order = np.lexsort((content, *(column[repeated] for column in reversed(list(by))), sub_keys))
    sorted_keys = sub_keys[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    position = np.arange(len(order), dtype=np.int64)
    ranks[repeated[order]] = position - np.maximum.accumulate(np.where(starts, position, 0))
    return ranks


def _pair(
    o_key: np.ndarray, o_rank: np.ndarray, t_key: np.ndarray, t_rank: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes of the pairs with equal (key, rank); keys below zero pair with nothing.

    Rank 0 (nearly every row) pairs through a table indexed by key; repeats by sorting.
    """
    none = np.zeros(0, dtype=np.int64)
    if not len(o_key) or not len(t_key):
        return none, none
    size = int(max(o_key.max(), t_key.max())) + 1
    if size <= 0:
        return none, none
    first_t = np.flatnonzero((t_key >= 0) & (t_rank == 0))
    where = np.full(size, -1, dtype=np.int64)
    where[t_key[first_t]] = first_t
    first_o = np.flatnonzero((o_key >= 0) & (o_rank == 0))
    partner = where[o_key[first_o]]
    found = partner >= 0
    pairs_o, pairs_t = [first_o[found]], [partner[found]]
    later_o = np.flatnonzero((o_key >= 0) & (o_rank > 0))
    later_t = np.flatnonzero((t_key >= 0) & (t_rank > 0))
    if len(later_o) and len(later_t):
        width = int(max(o_rank.max(), t_rank.max())) + 1
        _, po, pt = np.intersect1d(
            o_key[later_o] * width + o_rank[later_o],
            t_key[later_t] * width + t_rank[later_t],
            assume_unique=True,
            return_indices=True,
        )
        pairs_o.append(later_o[po])
        pairs_t.append(later_t[pt])
    return np.concatenate(pairs_o).astype(np.int64), np.concatenate(pairs_t).astype(np.int64)


def _unpaired(n: int, paired: np.ndarray) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[paired] = False
    return np.flatnonzero(mask)


def _key(
    types: pd.Series,
    kind: pd.Series | None,
    our_ref: pd.Series,
    their_ref: pd.Series | None,
    rank: np.ndarray,
) -> pd.Series:
    """`type:kind:our_ref:their_ref`, with `#n` for the n-th repeat of one key."""
    key = types.fillna("")
    if kind is not None:
        key = key + ":" + kind.fillna("")
    key = key + ":" + our_ref.fillna("")
    if their_ref is not None:
        key = key + ":" + their_ref.fillna("")
    suffix = pd.Series(np.asarray(rank, dtype=np.int64), index=key.index)
    tail = ("#" + suffix.astype("string")).where(suffix > 0, "")
    return (key + tail).astype("string")


def _joined(*parts: pd.Series | str) -> pd.Series:
    """The parts joined with ':', a missing value as empty."""
    filled = [part.fillna("") if isinstance(part, pd.Series) else part for part in parts]
    return functools.reduce(lambda joined, part: joined + ":" + part, filled)


def _finish(parts: list[pd.DataFrame], columns: Mapping[str, str], order: list[str]):
    frames = [part for part in parts if len(part)]
    if not frames:
        return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})
    frame = pd.concat([part[list(columns)].astype(dict(columns)) for part in frames])
    return frame.sort_values(order, kind="stable").reset_index(drop=True)


def _totals(
    types: Sequence[str],
    *,
    ours: tuple[int, int],
    theirs: tuple[int, int],
    matched: pd.DataFrame,
    discrepancies: pd.DataFrame,
) -> dict[str, int]:
    """Side counts and amounts from the inputs; matched and each type from the results.

    A type's amount is what is at stake: our amount where we have the row, else theirs.
    """
    totals = {
        "ours_count": int(ours[0]),
        "ours_amount": int(ours[1]),
        "theirs_count": int(theirs[0]),
        "theirs_amount": int(theirs[1]),
        "matched_count": len(matched),
        "matched_amount": _int_sum(matched["our_amount"]),
    }
    at_stake = discrepancies["our_amount"].fillna(discrepancies["their_amount"]).fillna(0)
    by_type = discrepancies.assign(at_stake=at_stake.astype("int64")).groupby("type")
    counts = by_type.size()
    amounts = by_type["at_stake"].sum()
    for name in types:
        totals[f"{name}_count"] = int(counts.get(name, 0))
        totals[f"{name}_amount"] = int(amounts.get(name, 0))
    return totals


def _int_sum(column: pd.Series) -> int:
    return int(column.dropna().astype("int64").sum())


def _side(first, column, first_rows, second, second_rows, n, dtype, second_column=None):
    """A column from the first frame where its rows are given, else from the second."""
    if first_rows is not None:
        return pd.array(first[column].array.take(first_rows), dtype=dtype)
    return pd.array(second[second_column or column].array.take(second_rows), dtype=dtype)


def _one(frame, column, rows, n, dtype):
    if rows is None:
        return pd.array([pd.NA] * n, dtype=dtype)
    return pd.array(frame[column].array.take(rows), dtype=dtype)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} has no column {', '.join(missing)}")


def _refunds(kind: pd.Series, name: str) -> np.ndarray:
    """Which rows are refunds; every row must be a payment or a refund."""
    codes, values = pd.factorize(kind)
    wrong = sorted(set(values) - {"payment", "refund"})
    if wrong or (codes < 0).any():
        raise ValueError(f"{name}: a kind is {(wrong or [None])[0]!r}, not payment or refund")
    return codes == (list(values).index("refund") if "refund" in set(values) else -2)


def _optional(
    frame: pd.DataFrame, column: str, convert: Callable[[pd.Series], pd.Series], dtype: str
) -> pd.Series:
    """The column converted, or all missing when the frame has no such column."""
    if column in frame:
        return convert(frame[column])
    return pd.Series(index=frame.index, dtype=dtype)


def _text(column: pd.Series) -> pd.Series:
    return column if column.dtype == "string" else column.astype("string")


def _ref(column: pd.Series) -> pd.Series:
    """A reference: empty means none."""
    text = _text(column)
    empty = (text == "").to_numpy(dtype=bool, na_value=False)
    return text.mask(empty) if empty.any() else text


def _utc(column: pd.Series) -> pd.Series:
    if column.dtype == "datetime64[ns, UTC]":
        return column
    return pd.to_datetime(column, utc=True).astype("datetime64[ns, UTC]")


def _ns(column: pd.Series) -> np.ndarray:
    """Nanoseconds since the epoch; NaT sorts first."""
    return column.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _local_date(column: pd.Series) -> pd.Series:
    return column.dt.tz_convert(SHANGHAI).dt.tz_localize(None).dt.normalize()


def _shanghai_midnight(column: pd.Series) -> pd.Series:
    """Local (Asia/Shanghai) datetimes as UTC; localised once per distinct value (fast)."""
    codes, values = pd.factorize(column)
    local = pd.DatetimeIndex(values).tz_localize(SHANGHAI).tz_convert("UTC")
    utc = local.take(codes, allow_fill=True, fill_value=pd.NaT)
    return pd.Series(utc, index=column.index).astype("datetime64[ns, UTC]")


def _day_bounds(business_date: date) -> tuple[int, int]:
    start = datetime.combine(business_date, time(0), tzinfo=SHANGHAI)
    return pd.Timestamp(start).value, pd.Timestamp(start + timedelta(days=1)).value


def _near(times: np.ndarray, start: int, end: int, grace: int) -> np.ndarray:
    known = times != np.iinfo(np.int64).min  # NaT
    safe = np.where(known, times, start + 2 * grace + 1)
    return known & ((np.abs(safe - start) <= grace) | (np.abs(safe - end) <= grace))


def _round_half_up_div(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """numerator / denominator rounded to the nearest integer, halves away from zero."""
    half = denominator // 2
    up = (np.abs(numerator) + half) // denominator
    return np.sign(numerator) * up
