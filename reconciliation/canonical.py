"""Every parsed file into the one canonical table (StatementLine), fast on PostgreSQL.

Each file kind's frame (integrations/statements.py) maps onto the same columns; the lines
are written with COPY from an Arrow-built CSV, so a million lines take a few seconds.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
from django.db import connection, transaction
from pyarrow import csv as pa_csv

from reconciliation.models import PartyKind, StatementFile, StatementLine

COLUMNS = (
    "statement_id",
    "line_no",
    "kind",
    "ref",
    "their_ref",
    "amount",
    "fee",
    "occurred_at",
    "value_date",
    "account",
    "counterparty",
)


def canonical_lines(kind: str, frame: pd.DataFrame) -> pd.DataFrame:
    """A parsed frame of a party of ``kind`` as the canonical table's columns."""
    n = len(frame)
    blank = pd.Series([""] * n, index=frame.index, dtype="string")
    nothing = pd.Series([pd.NaT] * n, index=frame.index)
    if kind == PartyKind.PROCESSOR:
        columns = {
            "kind": frame["kind"],
            "ref": frame["ref"],
            "their_ref": frame["provider_ref"],
            "fee": frame["fee"],
            "occurred_at": frame["occurred_at"],
            "value_date": nothing,
            "account": blank,
            "counterparty": blank,
        }
    elif kind == PartyKind.BANK:
        columns = {
            "kind": pd.Series(["credit"] * n, index=frame.index).where(
                frame["amount"] >= 0, "debit"
            ),
            "ref": blank,
            "their_ref": frame["bank_ref"],
            "fee": 0,
            "occurred_at": nothing,
            "value_date": frame["value_date"],
            "account": frame["account"],
            "counterparty": frame["counterparty_account"].fillna("")
            + " "
            + frame["counterparty_name"].fillna(""),
        }
    elif kind == PartyKind.REVENUE:
        columns = {
            "kind": frame["kind"],
            "ref": frame["payment_code"],
            "their_ref": frame["record_id"],
            "fee": 0,
            "occurred_at": frame["received_at"],
            "value_date": nothing,
            "account": frame["department"],
            "counterparty": blank,
        }
    else:
        columns = {
            "kind": "freight",
            "ref": frame["order_no"],
            "their_ref": frame["waybill_no"],
            "fee": 0,
            "occurred_at": nothing,
            "value_date": frame["bill_date"],
            "account": blank,
            "counterparty": blank,
        }
    lines = pd.DataFrame({"line_no": frame["line_no"], "amount": frame["amount"], **columns})
    for name in ("kind", "ref", "their_ref", "account", "counterparty"):
        lines[name] = lines[name].astype("string").fillna("").str.slice(0, 200)
    return lines


def lines_replace(statement: StatementFile, kind: str, frame: pd.DataFrame) -> int:
    """Write the file's canonical lines, replacing any from an earlier read; returns how many."""
    lines = canonical_lines(kind, frame).assign(statement_id=statement.pk)[list(COLUMNS)]
    with transaction.atomic():
        StatementLine.objects.filter(statement=statement).delete()
        _copy(lines)
    return len(lines)


def _copy(lines: pd.DataFrame) -> None:
    table = pa.Table.from_pandas(
        lines.assign(
            occurred_at=pd.to_datetime(lines["occurred_at"], utc=True),
            value_date=pd.to_datetime(lines["value_date"]),
        ),
        preserve_index=False,
    )
    table = table.set_column(
        table.schema.get_field_index("value_date"),
        "value_date",
        table.column("value_date").cast(pa.date32()),
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    sql = f"COPY reconciliation_statementline ({', '.join(COLUMNS)}) FROM STDIN (FORMAT CSV)"
    connection.ensure_connection()
    with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
        copy.write(buffer.getvalue())
