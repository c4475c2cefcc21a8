"""Reading a statement's text columns as fen and dates, all rows at once.

The columns are Arrow string arrays and the work is done by Arrow's compute kernels, so
a million values take a fraction of a second. Every function takes the texts and the
file line of each, and raises StatementInvalid naming the first line whose text cannot
be read. Amounts are read as decimal strings, never through a float: "12.34" is 1234
fen exactly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from integrations.statements import StatementInvalid

MAX_UNIT_DIGITS = 15  # digits before the decimal mark: 10**15 yuan is beyond any entry


def text(given: pa.Array | pa.ChunkedArray | pd.Series | Iterable[str | None]) -> pa.Array:
    """The values as one Arrow string array, a missing value as ""."""
    if isinstance(given, pa.ChunkedArray):
        given = given.combine_chunks()
    elif not isinstance(given, pa.Array):
        given = pa.array(given, type=pa.string(), from_pandas=True)
    if given.type != pa.string():
        given = given.cast(pa.string())
    return pc.fill_null(given, "")


def flags(mask: pa.Array | np.ndarray) -> np.ndarray:
    """A boolean mask as numpy, a missing value as False."""
    if isinstance(mask, pa.Array | pa.ChunkedArray):
        return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)
    return np.asarray(mask, dtype=bool)


def first_bad(
    bad: pa.Array | np.ndarray, line_no: np.ndarray, problem: Callable[[int], str]
) -> None:
    """Raise StatementInvalid for the first True in ``bad`` (rows are in file order).

    ``problem`` is given the row's position and says what is wrong with it.
    """
    marks = flags(bad)
    if marks.any():
        position = int(np.argmax(marks))
        raise StatementInvalid(int(np.asarray(line_no)[position]), problem(position))


Texts = pa.Array | pd.Series | Iterable[str]


def _quoted(texts: pa.Array, what: str) -> Callable[[int], str]:
    return lambda at: f"{what} {texts[at].as_py()[:40]!r}"


def fen_from_decimal(
    given: Texts,
    line_no: np.ndarray,
    *,
    what: str,
    decimal_mark: str = ".",
    signed: bool = False,
    thousands: str = "",
    zeros_beyond_cents: bool = True,
) -> np.ndarray:
    """Decimal amounts in units ("8.85", "9,", "0012.3") as int64 hundredths (fen).

    ``decimal_mark`` is the separator the file uses: ".", "," or "either". More than two
    decimals are refused unless the extra digits are zeros ("18.150") and
    ``zeros_beyond_cents``. A leading sign is accepted only when ``signed``. With a
    ``thousands`` separator, the units may be grouped by it, exactly: a first group of
    one to three digits, then groups of three ("1,234,567.80"); any other use of it
    ("5,00", "1,23,456.00") is refused, never read as something else.
    """
    texts = text(given)
    quoted = _quoted(texts, what)
    mark = {".": r"\.", ",": ",", "either": "[.,]"}[decimal_mark]
    if thousands and (thousands in "0123456789+-" or re.fullmatch(mark, thousands)):
        raise ValueError(f"{thousands!r} cannot separate thousands with the decimal mark {mark}")
    sign = "[+-]?" if signed else ""
    units = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+" if thousands else r"\d+"
    pattern = rf"^\s*(?P<sign>{sign})(?P<units>{units})(?:{mark}(?P<cents>\d*))?\s*$"
    parts = pc.extract_regex(texts, pattern)

    def malformed(at: int) -> str:
        grouping = (
            f" ({thousands!r} separates groups of three digits)"
            if thousands and thousands in texts[at].as_py()
            else ""
        )
        return f"{quoted(at)} is not an amount{grouping}"

    first_bad(pc.is_null(parts), line_no, malformed)
    units = pc.struct_field(parts, "units")
    if thousands:
        units = pc.replace_substring(units, thousands, "")
    units = pc.utf8_ltrim(units, "0")
    first_bad(
        pc.greater(pc.utf8_length(units), MAX_UNIT_DIGITS),
        line_no,
        lambda at: f"{quoted(at)} is too large",
    )
    cents = pc.struct_field(parts, "cents")
    beyond = pc.utf8_slice_codeunits(cents, 2)
    if zeros_beyond_cents:
        beyond = pc.utf8_trim(beyond, "0")
    first_bad(
        pc.greater(pc.utf8_length(beyond), 0),
        line_no,
        lambda at: f"{quoted(at)} has more than 2 decimals",
    )
    whole = pc.cast(pc.if_else(pc.equal(units, ""), "0", units), pa.int64()).to_numpy()
    hundredths = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(cents, 0, 2), 2, "0"), pa.int64())
    fen = whole * 100 + hundredths.to_numpy()
    if signed:
        fen = np.where(flags(pc.equal(pc.struct_field(parts, "sign"), "-")), -fen, fen)
    return fen.astype(np.int64)


def fen_from_integer(
    given: Texts, line_no: np.ndarray, *, what: str, signed: bool = True, thousands: str = ""
) -> np.ndarray:
    """Whole amounts already in fen ("1234", "-50", "+7"; a sign only when ``signed``).

    With a ``thousands`` separator they may be grouped by it, exactly as in
    fen_from_decimal ("1,234"; never "1,23").
    """
    texts = pc.utf8_trim_whitespace(text(given))
    sign = "[+-]?" if signed else ""
    digits = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+" if thousands else r"\d+"
    first_bad(
        pc.invert(pc.match_substring_regex(texts, rf"^{sign}(?:{digits})$")),
        line_no,
        lambda at: f"{_quoted(texts, what)(at)} is not a whole number of fen",
    )
    if thousands:
        texts = pc.replace_substring(texts, thousands, "")
    first_bad(
        pc.greater(pc.utf8_length(pc.utf8_ltrim(texts, "+-")), 17),
        line_no,
        lambda at: f"{_quoted(texts, what)(at)} is too large",
    )
    return pc.cast(pc.utf8_ltrim(texts, "+"), pa.int64()).to_numpy().astype(np.int64)


def per_distinct(texts: pa.Array, read: Callable[[pd.Series], np.ndarray]) -> np.ndarray:
    """``read`` applied to each distinct text once, spread back to every row."""
    distinct = pc.unique(texts)
    return read(distinct.to_pandas())[pc.index_in(texts, value_set=distinct).to_numpy()]


def dates(given: Texts, line_no: np.ndarray, *, what: str, fmt: str) -> np.ndarray:
    """Calendar dates (datetime64[ns] at midnight) written in ``fmt``; a time is dropped.

    Read strictly (30 February is an error), each distinct text once.
    """
    texts = pc.utf8_trim_whitespace(text(given))

    def read(distinct: pd.Series) -> np.ndarray:
        parsed = pd.to_datetime(distinct, format=fmt, errors="coerce")
        return parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")

    parsed = per_distinct(texts, read)
    first_bad(
        np.isnat(parsed),
        line_no,
        lambda at: f"{_quoted(texts, what)(at)} is not a valid date written {fmt}",
    )
    return parsed
