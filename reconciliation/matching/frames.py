"""The legs' input columns converted and checked, their discrepancy frames and totals."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from core.money import BEIJING as SHANGHAI


def _frame(columns: Mapping[str, object]) -> pd.DataFrame:
    """A frame of these columns (Series, arrays), numbered from 0, sharing their data:
    neither a column nor a block of them is copied (at ten million rows, each copy of a
    column is tens of MB). The engine adds columns to such a frame, never changes one."""
    return pd.DataFrame(
        {name: v.array if isinstance(v, pd.Series) else v for name, v in columns.items()},
        copy=False,
    )


def _int64(column: pd.Series) -> np.ndarray:
    """The column as int64, without a copy when it is int64 already."""
    return column.to_numpy(dtype=np.int64)


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
    matched: tuple[int, int],
    discrepancies: pd.DataFrame,
) -> dict[str, int]:
    """Side counts and amounts from the inputs; matched (count, our amount) and each type
    from the results.

    A type's amount is what is at stake: our amount where we have the row, else theirs.
    """
    totals = {
        "ours_count": int(ours[0]),
        "ours_amount": int(ours[1]),
        "theirs_count": int(theirs[0]),
        "theirs_amount": int(theirs[1]),
        "matched_count": int(matched[0]),
        "matched_amount": int(matched[1]),
    }
    at_stake = discrepancies["our_amount"].fillna(discrepancies["their_amount"]).fillna(0)
    by_type = discrepancies.assign(at_stake=at_stake.astype("int64")).groupby("type")
    counts = by_type.size()
    amounts = by_type["at_stake"].sum()
    for name in types:
        totals[f"{name}_count"] = int(counts.get(name, 0))
        totals[f"{name}_amount"] = int(amounts.get(name, 0))
    return totals


def _matched_totals(matched: pd.DataFrame) -> tuple[int, int]:
    return len(matched), _int_sum(matched["our_amount"])


def _int_sum(column: pd.Series) -> int:
    return int(column.dropna().astype("int64").sum())


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


def _shanghai_midnight(column: pd.Series) -> pd.Series:
    """Local (Asia/Shanghai) datetimes as UTC; localised once per distinct value (fast)."""
    codes, values = pd.factorize(column)
    local = pd.DatetimeIndex(values).tz_localize(SHANGHAI).tz_convert("UTC")
    utc = local.take(codes, allow_fill=True, fill_value=pd.NaT)
    return pd.Series(utc, index=column.index).astype("datetime64[ns, UTC]")
