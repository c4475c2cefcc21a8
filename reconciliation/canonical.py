"""Every parsed file into the one canonical table (StatementLine), fast on PostgreSQL.

Each file kind's frame (integrations/statements.py) maps onto the same columns as an Arrow
table, column by column; ADBC writes it with binary COPY, a slice of lines at a time, each
converted as it is sent (ten million revenue records held converted at once took 0.5 GB).
The write is PostgreSQL's work more than Python's, so a run starts it in a thread of its
own (``lines_writing``) and matches meanwhile.
"""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconciliation.frames import arrow_connection
from reconciliation.matching.receipts import receipt_refs
from reconciliation.models import PartyKind, StatementFile, StatementLine
from reconciliation.threads import in_thread

TABLE = StatementLine._meta.db_table
SCHEMA = pa.schema(
    [
        ("statement_id", pa.int64()),
        ("line_no", pa.int32()),
        ("kind", pa.string()),
        ("ref", pa.string()),
        ("their_ref", pa.string()),
        ("amount", pa.int64()),
        ("fee", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("value_date", pa.date32()),
        ("account", pa.string()),
        ("counterparty", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
LINES_PER_SLICE = 500_000


def canonical_lines(kind: str, frame: pd.DataFrame, statement_id: int) -> pa.Table:
    """A parsed frame of a party of ``kind`` as the canonical table's rows."""
    n = len(frame)
    if kind == PartyKind.PROCESSOR:
        columns = {
            "kind": frame["kind"],
            "ref": frame["ref"],
            "their_ref": frame["provider_ref"],
            "fee": frame["fee"],
            "occurred_at": frame["occurred_at"],
        }
    elif kind in (PartyKind.BANK, PartyKind.REMITTANCE):  # a remittance reads a bank statement
        counterparty = pc.binary_join_element_wise(
            _text(frame["counterparty_account"]), _text(frame["counterparty_name"]), " "
        )
        columns = {
            "kind": np.where(frame["amount"].to_numpy() >= 0, "credit", "debit"),
            "their_ref": frame["bank_ref"],
            "value_date": frame["value_date"],
            "account": frame["account"],
            "counterparty": counterparty,
        }
    elif kind == PartyKind.REVENUE:
        columns = {
            "kind": frame["kind"],
            "ref": frame["payment_code"],
            "their_ref": frame["record_id"],
            "occurred_at": frame["received_at"],
            "account": frame["department"],
        }
    elif kind == PartyKind.RECEIPT:
        columns = {
            "kind": frame["kind"],
            "ref": frame["business_id"],
            "their_ref": receipt_refs(frame["code"], frame["number"]),
            "occurred_at": frame["issued_at"],
            "account": frame["department"],
        }
    else:
        columns = {
            "kind": pa.repeat("freight", n),
            "ref": frame["order_no"],
            "their_ref": frame["waybill_no"],
            "value_date": frame["bill_date"],
        }
    given = {"line_no": frame["line_no"], "amount": frame["amount"], **columns}
    arrays = []
    for field in SCHEMA:
        if field.name == "statement_id":
            arrays.append(pa.repeat(pa.scalar(statement_id, field.type), n))
        elif field.name not in given:
            arrays.append(_absent(field, n))
        elif pa.types.is_string(field.type):
            limit = StatementLine._meta.get_field(field.name).max_length
            arrays.append(_cut(_text(given[field.name]), limit))
        else:
            arrays.append(_typed(given[field.name], field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def _text(values: object) -> pa.Array:
    """A text column as Arrow, a missing value as empty."""
    array = values if isinstance(values, pa.Array) else pa.array(_arrow_side(values))
    array = array.cast(pa.string())  # the parsed column's own buffers when it is text
    return pc.fill_null(array, "") if array.null_count else array


def _cut(text: pa.Array, limit: int) -> pa.Array:
    """The values cut to ``limit`` characters (a copy only when one is longer)."""
    longest = pc.max(pc.utf8_length(text)).as_py() or 0
    return pc.utf8_slice_codeunits(text, 0, limit) if longest > limit else text


def _arrow_side(values: object) -> object:
    if isinstance(values, pd.Series) and not isinstance(values.dtype, pd.StringDtype):
        return values.astype("string").array
    return values.array if isinstance(values, pd.Series) else values


def _typed(values: pd.Series, type_: pa.DataType) -> pa.Array:
    if pa.types.is_date32(type_):
        return pa.array(pd.to_datetime(values)).cast(type_)
    if pa.types.is_timestamp(type_):  # PostgreSQL keeps microseconds
        return pa.array(pd.to_datetime(values, utc=True)).cast(type_, safe=False)
    return pa.array(values.to_numpy(dtype=np.int64)).cast(type_)


def _absent(field: pa.Field, n: int) -> pa.Array:
    if pa.types.is_string(field.type):
        return pa.repeat(pa.scalar("", field.type), n)
    if pa.types.is_integer(field.type):
        return pa.repeat(pa.scalar(0, field.type), n)
    return pa.nulls(n, field.type)


def canonical_slices(kind: str, frame: pd.DataFrame, statement_id: int) -> pa.RecordBatchReader:
    """``canonical_lines`` of the frame LINES_PER_SLICE lines at a time, each slice
    converted when it is read."""

    def slices():
        for start in range(0, len(frame), LINES_PER_SLICE):
            part = frame.iloc[start : start + LINES_PER_SLICE]
            yield from canonical_lines(kind, part, statement_id).to_batches()

    return pa.RecordBatchReader.from_batches(SCHEMA, slices())


def lines_replace(statement_id: int, lines: pa.RecordBatchReader | pa.Table) -> None:
    """Write the file's canonical lines, replacing any from an earlier read, in one
    transaction of an ADBC connection of its own."""
    with arrow_connection() as opened, opened.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE statement_id = {int(statement_id)}")  # noqa: S608
        cursor.adbc_ingest(TABLE, lines, mode="append")
        opened.commit()


def lines_writing(statement: StatementFile, kind: str, frame: pd.DataFrame) -> Future[None]:
    """``lines_replace`` of the frame's canonical lines, started in a thread (which converts
    them as it sends them); the future's result is None, or the error that stopped it."""
    return in_thread(lines_replace, statement.pk, canonical_slices(kind, frame, statement.pk))
