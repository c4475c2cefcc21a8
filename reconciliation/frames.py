"""Rows from the database as Arrow tables and pandas frames, through ADBC.

ADBC's PostgreSQL driver reads a query's rows with COPY in binary straight into Arrow
columns, in C++: a million rows in a few tenths of a second on top of the query, where
psycopg hands COPY's output over one row at a time. It writes Arrow tables the same way
(binary COPY). Its connection is its own, opened per use on Django's database: it sees
what is committed, which is all a run reads (run_execute is never inside a transaction).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import adbc_driver_postgresql.dbapi as adbc
import pandas as pd
import psycopg
import pyarrow as pa
from django.db import connection

from integrations.statements import TEXT

# libpq's own parameters among a Django database's OPTIONS (the rest are psycopg's).
_LIBPQ_OPTIONS = (
    "options",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "application_name",
    "connect_timeout",
    "target_session_attrs",
)


@contextmanager
def arrow_connection() -> Iterator[adbc.Connection]:
    """An ADBC connection to Django's database, closed on leaving (a rollback unless the
    caller committed)."""
    with adbc.connect(conninfo()) as opened:
        yield opened


def conninfo() -> str:
    """libpq's connection string for Django's database."""
    settings = connection.settings_dict  # the test database's name under tests
    params = {
        "dbname": settings["NAME"],
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    options = settings.get("OPTIONS") or {}
    params.update({name: options[name] for name in _LIBPQ_OPTIONS if name in options})
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items() if v})


def _bound(sql: str, params: Sequence) -> str:
    """The statement with its %s parameters quoted in, as psycopg quotes them."""
    connection.ensure_connection()
    return psycopg.ClientCursor(connection.connection).mogrify(sql, params)


def table_from_query(sql: str, params: Sequence, names: Sequence[str]) -> pa.Table:
    """The query's rows as an Arrow table, its columns named ``names`` in order."""
    # Bound first: through Django's connection, which starts the embedded server if need be.
    statement = _bound(sql, params)
    with arrow_connection() as opened, opened.cursor() as cursor:
        cursor.execute(statement)
        table = cursor.fetch_arrow_table()
    return table.rename_columns(list(names))


def frame_from_query(sql: str, params: Sequence, columns: Mapping[str, str]) -> pd.DataFrame:
    """The query's rows with the given column names and dtypes (timestamps as UTC; text
    as Arrow-backed strings)."""
    return _frame_of(table_from_query(sql, params, list(columns)), columns)


def _frame_of(table: pa.Table, columns: Mapping[str, str]) -> pd.DataFrame:
    """An Arrow table as a frame of the given dtypes, text kept in Arrow."""
    frame = table.to_pandas(types_mapper={pa.string(): TEXT, pa.large_string(): TEXT}.get)
    return frame.astype({name: _dtype(dtype) for name, dtype in columns.items()})


def empty_frame(columns: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=_dtype(dtype)) for name, dtype in columns.items()})


def _dtype(name: str) -> object:
    return TEXT if name == "string" else name
