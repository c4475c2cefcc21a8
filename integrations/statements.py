"""The canonical shape of every statement: one pandas DataFrame per file, one row per line.

Each provider's parser (its own module in integrations/) turns the bytes it serves into
one of these frames, so reconciliation never sees a wire format. Money is integer fen
(int64), times are UTC, dates are midnight datetimes; text columns are pandas strings
kept in Arrow (TEXT).
A file that cannot be read raises StatementInvalid naming the line and the problem.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from integrations.errors import StatementInvalid

# Text columns keep their values in Arrow buffers (pandas' "string" dtype, Arrow-backed):
# parsers read with Arrow and the engine keys with Arrow, so nothing becomes Python objects.
TEXT = pd.StringDtype("pyarrow")

# A processor's daily bill (leg 1): its payments and refunds.
TRANSACTION_COLUMNS: Mapping[str, object] = {
    "line_no": "int64",  # the line in the file (1 = the first line), for messages
    "kind": TEXT,  # "payment" or "refund"
    "ref": TEXT,  # our out-trade number (payment) or refund number (refund)
    "provider_ref": TEXT,  # the processor's transaction or refund number
    "amount": "int64",  # fen, positive for both kinds
    "fee": "int64",  # fen the processor keeps; negative when a refund gives a fee back
    "occurred_at": "datetime64[ns, UTC]",  # when the processor completed it
}
# A bank statement's entries (leg 2).
BANK_COLUMNS: Mapping[str, object] = {
    "line_no": "int64",
    "account": TEXT,  # the statement's own account (a department's settlement account)
    "booking_date": "datetime64[ns]",
    "value_date": "datetime64[ns]",
    "amount": "int64",  # fen: credits positive, debits negative
    "currency": TEXT,
    "bank_ref": TEXT,  # the bank's reference for the entry
    "counterparty_account": TEXT,
    "counterparty_name": TEXT,
    "description": TEXT,  # remittance information as given
}
# A revenue system's daily record file (leg 3).
REVENUE_COLUMNS: Mapping[str, object] = {
    "line_no": "int64",
    "record_id": TEXT,
    "payment_code": TEXT,
    "department": TEXT,
    "amount": "int64",  # fen
    "kind": TEXT,  # "payment" or "refund"
    "received_at": "datetime64[ns, UTC]",
}
# A courier's freight bill (leg 4).
FREIGHT_COLUMNS: Mapping[str, object] = {
    "line_no": "int64",
    "waybill_no": TEXT,
    "order_no": TEXT,  # our shipment id
    "amount": "int64",  # fen
    "bill_date": "datetime64[ns]",
}
# The receipt platform's receipts issued on a day (leg 5), each one's signatures verified.
RECEIPT_COLUMNS: Mapping[str, object] = {
    "line_no": "int64",  # the receipt's place among the day file's receipts (1 = the first)
    "business_id": TEXT,  # BizCode: our order's or refund's public id
    "kind": TEXT,  # "normal" or "red" (a red-letter receipt, 冲红)
    "code": TEXT,  # 票据代码, 8 digits
    "number": TEXT,  # 票据号码, 10 digits
    "department": TEXT,  # the invoicing party (执收单位): our department's code
    "amount": "int64",  # fen, negative on a red-letter receipt
    "issued_at": "datetime64[ns, UTC]",
}


def typed(frame: pd.DataFrame, columns: Mapping[str, object]) -> pd.DataFrame:
    """The frame with exactly the canonical columns, in order, with their dtypes."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise StatementInvalid(0, f"no column for {', '.join(missing)}")
    return frame[list(columns)].astype(dict(columns)).reset_index(drop=True)


def empty(columns: Mapping[str, object]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in columns.items()})


# -- what every parser does the same way --------------------------------------------------
#
# Each provider's module knows its own format; these read the parts that formats share,
# column by column (no Python loop per line), and find the first bad line of a file.

WALL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$"  # yyyy-MM-dd HH:mm:ss


class LineChecks:
    """Checks of whole columns, one value per line; the earliest line failing any is refused."""

    def __init__(self) -> None:
        self._failed: list[tuple[np.ndarray, Callable[[int], str]]] = []

    def check(self, ok: pa.Array | np.ndarray, problem: Callable[[int], str]) -> None:
        """``ok`` says which lines pass; ``problem(index)`` says what is wrong with one that
        does not (index 0 is the first line checked)."""
        array = ok.to_numpy(zero_copy_only=False) if isinstance(ok, pa.Array) else ok
        self._failed.append((~array, problem))

    def refuse_first(self, first_line: int) -> None:
        """Raise StatementInvalid for the earliest line that failed a check, the first line
        checked being ``first_line`` in the file; of two checks it failed, the one made first."""
        found = [(int(np.argmax(bad)), problem) for bad, problem in self._failed if bad.any()]
        if found:
            index, problem = min(found, key=lambda item: item[0])
            raise StatementInvalid(first_line + index, problem(index))


def value_at(column: pa.Array, index: int) -> str:
    """A field's value as a message quotes it."""
    return repr(column[index].as_py())


def strings(column: pa.Array) -> pd.arrays.ArrowStringArray:
    """A text column for the frame (TEXT), without copying it."""
    return pd.arrays.ArrowStringArray(column.cast(pa.string()))


def fen_of_yuan(column: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Yuan written with two decimals as fen, by dropping the point (never through a
    float); and which values matched ``pattern`` (the others read as 0)."""
    ok = pc.match_substring_regex(column, pattern)
    if not pc.all(ok).as_py():
        column = pc.if_else(ok, column, "0.00")
    fen = pc.cast(pc.replace_substring(column, ".", ""), pa.int64())
    return fen.to_numpy(zero_copy_only=False), ok.to_numpy(zero_copy_only=False)


def wall_times(column: pa.Array, ok: pa.Array | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``yyyy-MM-dd HH:mm:ss`` as datetime64[s], and which values were such times in the
    calendar. ``ok``, when given, says which values to read (the others must be WALL_TIME
    text); by default those that match WALL_TIME."""
    if ok is None:
        ok = pc.match_substring_regex(column, WALL_TIME)
    text = pc.if_else(ok, column, "2000-01-01 00:00:00")
    try:
        times = pc.cast(text, pa.timestamp("s"))
    except pa.ArrowInvalid:  # a day that is not in the calendar
        parsed = pc.strptime(text, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
        # strptime rolls 2025-06-31 over to 2025-07-01: only a time that reads back is one
        same = pc.fill_null(pc.equal(pc.cast(parsed, pa.string()), text), False)
        ok = pc.and_(ok, same)
        times = pc.if_else(ok, parsed, pa.scalar(0, pa.timestamp("s")))
    return times.to_numpy(zero_copy_only=False), ok.to_numpy(zero_copy_only=False)


OFFSET_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"


def offset_times(column: pa.Array) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """``yyyy-MM-ddTHH:mm:ss±hh:mm`` (OFFSET_TIME) in UTC, and which values were such
    times (the others read as 2000-01-01 UTC)."""
    ok = pc.match_substring_regex(column, OFFSET_TIME)
    column = pc.if_else(ok, column, "2000-01-01T00:00:00+00:00")
    local = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(column, 0, 10), " ", pc.utf8_slice_codeunits(column, 11, 19), ""
    )
    times, ok = wall_times(local, ok)
    hours, minutes = (
        pc.cast(pc.utf8_slice_codeunits(column, at, at + 2), pa.int64()).to_numpy()
        for at in (20, 23)
    )
    west = pc.equal(pc.utf8_slice_codeunits(column, 19, 20), "-").to_numpy(zero_copy_only=False)
    offset = np.where(west, -1, 1) * (hours * 60 + minutes)
    seconds = times.astype(np.int64) - offset * 60
    utc = pd.DatetimeIndex(seconds.astype("datetime64[s]").astype("datetime64[ns]"))
    return utc.tz_localize("UTC"), ok


def beijing_to_utc(beijing: np.ndarray) -> pd.DatetimeIndex:
    """Beijing wall times (UTC+8, no daylight saving) as aware UTC times."""
    utc = beijing.astype("datetime64[ns]") - np.timedelta64(8, "h")
    return pd.DatetimeIndex(utc).tz_localize("UTC")


def zip_member(
    content: bytes, wanted: Callable[[zipfile.ZipInfo], bool], *, missing: str
) -> tuple[zipfile.ZipInfo, bytearray]:
    """The one member of a zip archive that ``wanted`` picks, and its bytes, read a few
    megabytes at a time (its CRC checked at the end). Refuses the whole file: ``missing``
    when there is not exactly one such member, or when the archive cannot be read."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            found = [info for info in archive.infolist() if wanted(info)]
            if len(found) != 1:
                raise StatementInvalid(0, missing)
            data = bytearray()
            with archive.open(found[0]) as member:
                while chunk := member.read(1 << 24):
                    data += chunk
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise StatementInvalid(0, f"is not a readable zip archive: {exc}") from exc
    return found[0], data


def count_lines(content: bytes | bytearray, start: int, end: int) -> int:
    """The lines of ``content[start:end]``, the last counted whether or not it ends."""
    ends_line = end > start and content[end - 1] == ord("\n")
    return content.count(b"\n", start, end) + (0 if ends_line or end == start else 1)


def csv_fields(
    block: memoryview,
    columns: Sequence[str],
    *,
    lines: int,
    read: Sequence[str] | None = None,
    quoted: bool = True,
) -> dict[str, pa.Array] | None:
    """The ``read`` fields (all by default) of a block of CSV lines as text columns, by
    Arrow's reader; None unless the block is ``lines`` records of ``columns`` (the reader
    skips empty lines: they count as missing). ``quoted=False`` reads quotes as text."""
    read = tuple(columns if read is None else read)
    if not len(block):
        return {name: pa.array([], pa.string()) for name in read}
    invalid: list[pcsv.InvalidRow] = []

    def refuse(row: pcsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    try:
        table = pcsv.read_csv(
            pa.py_buffer(block),
            read_options=pcsv.ReadOptions(column_names=columns),
            parse_options=pcsv.ParseOptions(
                quote_char='"' if quoted else False, invalid_row_handler=refuse
            ),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(columns, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                include_columns=read,
            ),
        )
    except pa.ArrowInvalid:
        return None
    if invalid or table.num_rows != lines:
        return None
    return {name: table.column(name).combine_chunks() for name in read}


def refuse_line(
    line: int, problem: str, check_before: Callable[[], object] | None = None
) -> NoReturn:
    """Refuse ``line`` for ``problem``, unless a line before it has a problem of its own.

    ``check_before`` reads and checks the whole lines before ``line``, raising
    StatementInvalid for the first bad one; what it names at or after ``line`` is ignored.
    """
    if check_before is not None:
        try:
            check_before()
        except StatementInvalid as earlier:
            if earlier.line < line:
                raise earlier from None
    raise StatementInvalid(line, problem)


def refuse_bad_line(
    content: bytes,
    start: int,
    end: int,
    *,
    first_line: int,
    line_problem: Callable[[bytes], str | None],
    check_before: Callable[[int], object],
) -> None:
    """Refuse the first line of ``content[start:end]`` (line ``first_line`` of the file)
    for what ``line_problem`` finds wrong with it (given without its line end), unless
    ``check_before(stop)``, reading and checking ``content[start:stop]``, refuses a line
    before it. Returns when ``line_problem`` finds every line right.

    Line by line, in Python: only for a file already known to be malformed.
    """
    at, number = start, first_line
    while at < end:
        stop = content.find(b"\n", at, end)
        stop = end if stop < 0 else stop
        problem = line_problem(content[at:stop].removesuffix(b"\r"))
        if problem:
            before = (lambda at=at: check_before(at)) if at > start else None
            refuse_line(number, problem, before)
        at, number = stop + 1, number + 1
