"""Writing a statement's lines a whole column at a time, with Arrow's string kernels.

The statement writers take a frame of entries: ``amount`` (fen, credits positive) and
``value_date``, and optionally ``booking_date`` (the value date when absent),
``bank_ref``, ``counterparty_account``, ``counterparty_name``, ``description`` and
``currency``. Each line of a file is built for every entry at once from pieces: arrays
of text, or one text for every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

Piece = pa.Array | str


def text(entries: pd.DataFrame, name: str, default: str = "") -> pa.Array:
    """A text column of the entries ("" or ``default`` where it is missing or absent)."""
    if name not in entries.columns:
        return pa.repeat(pa.scalar(default, pa.string()), len(entries))
    column = entries[name]
    values = column.astype(object).where(column.notna(), default).astype(str)
    return pa.array(values.to_numpy(dtype=object), type=pa.string())


def day(entries: pd.DataFrame, name: str, fmt: str) -> pa.Array:
    """A date column (``booking_date`` falls back to ``value_date``) written with ``fmt``."""
    column = entries[name if name in entries.columns else "value_date"]
    days = pd.to_datetime(column.reset_index(drop=True)).to_numpy(dtype="datetime64[ns]")
    distinct, index = np.unique(days, return_inverse=True)
    written = pd.DatetimeIndex(distinct).strftime(fmt).to_numpy(dtype=object)
    return pa.array(written[index.reshape(-1)], type=pa.string())


def fen(entries: pd.DataFrame) -> np.ndarray:
    return entries["amount"].to_numpy(dtype=np.int64)


def units(amounts: np.ndarray, mark: str = ".") -> pa.Array:
    """Absolute fen as units and two decimals: -1234 -> "12.34" (or "12,34")."""
    magnitude = np.abs(amounts)
    whole = pa.array(magnitude // 100).cast(pa.string())
    cents = pc.utf8_lpad(pa.array(magnitude % 100).cast(pa.string()), 2, "0")
    return pc.binary_join_element_wise(whole, cents, mark)


def either(condition: np.ndarray, yes: str, no: str) -> pa.Array:
    return pa.array(np.where(condition, yes, no), type=pa.string())


def concat(*pieces: Piece) -> pa.Array:
    """Row by row, the pieces end to end."""
    return pc.binary_join_element_wise(*pieces, "")


def when(condition: np.ndarray | pa.Array, *pieces: Piece) -> pa.Array:
    """The pieces end to end where ``condition`` holds, "" elsewhere."""
    if isinstance(condition, np.ndarray):
        condition = pa.array(condition, type=pa.bool_())
    return pc.if_else(condition, concat(*pieces), "")


def given(texts: pa.Array) -> pa.Array:
    """Where a text is not empty."""
    return pc.not_equal(texts, "")


def longest(texts: pa.Array) -> int:
    """The length of the longest text, in characters (0 without any)."""
    if not len(texts):
        return 0
    return pc.max(pc.utf8_length(texts)).as_py() or 0


def utf8(lines: pa.Array) -> bytes:
    """Every row's text end to end, as UTF-8."""
    if not len(lines):
        return b""
    lines = lines.cast(pa.large_string())
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)
    start, end = offsets[lines.offset], offsets[lines.offset + len(lines)]
    return lines.buffers()[2].to_pybytes()[start:end]
