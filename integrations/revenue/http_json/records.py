"""The receiver's daily record file: a UTF-8 CSV, one pushed record a line, amounts in fen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from integrations import statements

DAILY_COLUMNS = (
    "record_id",
    "payment_code",
    "department_code",
    "amount_fen",
    "kind",
    "received_time",
)
_KINDS = ("payment", "refund")
_FEN = r"^-?[0-9]{1,18}$"
_BLOCK_BYTES = 16 * 1024 * 1024  # of the file read and converted at a time


def parse_daily_records(content: bytes) -> pd.DataFrame:
    """The receiver's daily record file (UTF-8 CSV, header DAILY_COLUMNS) as a revenue frame.

    Read with Arrow a block at a time, each block's columns converted before the next is
    read, so the text of amounts and times is never held for the whole file (at ten million
    records, gigabytes); times written as the receiver writes them
    (``2025-11-03T08:00:01+08:00``) are read the same way, any other ISO 8601 form by pandas.
    """
    reader = _records(content)
    parts, first_line = [], 2
    try:
        for batch in reader:
            parts.append(_frame(batch, first_line))
            first_line += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise statements.StatementInvalid(0, f"not a CSV record file: {exc}") from exc
    if not parts:
        parts.append(_frame(reader.schema.empty_table(), first_line))
    return statements.typed(pd.concat(parts, ignore_index=True), statements.REVENUE_COLUMNS)


def _frame(records: pa.RecordBatch | pa.Table, first_line: int) -> pd.DataFrame:
    """One block of records as the revenue frame's columns; StatementInvalid at its first
    bad line."""
    fields = {name: records.column(name) for name in DAILY_COLUMNS}
    line_no = np.arange(first_line, first_line + records.num_rows, dtype=np.int64)
    amount, amount_ok = _fen(fields["amount_fen"])
    kind_ok = pc.is_in(fields["kind"], pa.array(_KINDS)).to_numpy(zero_copy_only=False)
    received, received_ok = _received(fields["received_time"])
    bad = ~(amount_ok & kind_ok & received_ok)
    if bad.any():
        raise statements.StatementInvalid(
            int(line_no[np.argmax(bad)]), "amount_fen, kind or received_time is not valid"
        )
    return pd.DataFrame(
        {
            "line_no": line_no,
            "record_id": statements.strings(fields["record_id"]),
            "payment_code": statements.strings(fields["payment_code"]),
            "department": statements.strings(fields["department_code"]),
            "amount": amount,
            "kind": statements.strings(fields["kind"]),
            "received_at": received,
        }
    )


def _records(content: bytes) -> pcsv.CSVStreamingReader:
    """The file's blocks, every field as text; the header must be DAILY_COLUMNS."""
    try:
        reader = pcsv.open_csv(
            pa.py_buffer(content),
            read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES),
            convert_options=pcsv.ConvertOptions(
                column_types=dict.fromkeys(DAILY_COLUMNS, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise statements.StatementInvalid(0, f"not a CSV record file: {exc}") from exc
    if tuple(reader.schema.names) != DAILY_COLUMNS:
        raise statements.StatementInvalid(1, f"the header is not {','.join(DAILY_COLUMNS)}")
    return reader


def _fen(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    ok = pc.match_substring_regex(column, _FEN)
    whole = pc.if_else(ok, column, "0")
    return (
        pc.cast(whole, pa.int64()).to_numpy(zero_copy_only=False),
        ok.to_numpy(zero_copy_only=False),
    )


def _received(column: pa.ChunkedArray) -> tuple[pd.Series, np.ndarray]:
    times, ok = statements.offset_times(column)
    received = pd.Series(times)
    if not ok.all():  # another ISO 8601 form: pandas reads those
        others = pd.to_datetime(
            pd.Series(column.filter(pa.array(~ok)).to_pylist(), dtype=object),
            errors="coerce",
            utc=True,
            format="ISO8601",
        )
        received[~ok] = others.array
        ok = received.notna().to_numpy()
    return received, ok
