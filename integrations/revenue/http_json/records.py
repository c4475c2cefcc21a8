"""The receiver's daily record file: a UTF-8 CSV, one pushed record a line, amounts in fen."""

from __future__ import annotations

import io

import pandas as pd

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


def parse_daily_records(content: bytes) -> pd.DataFrame:
    """The receiver's daily record file (UTF-8 CSV, header DAILY_COLUMNS) as a revenue frame."""
    try:
        raw = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, encoding="utf-8")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise statements.StatementInvalid(0, f"not a CSV record file: {exc}") from exc
    if tuple(raw.columns) != DAILY_COLUMNS:
        raise statements.StatementInvalid(1, f"the header is not {','.join(DAILY_COLUMNS)}")
    line_no = pd.Series(range(2, len(raw) + 2), dtype="int64")
    amount = pd.to_numeric(raw["amount_fen"], errors="coerce")
    received = pd.to_datetime(raw["received_time"], errors="coerce", utc=True, format="ISO8601")
    bad = amount.isna() | (amount % 1 != 0) | ~raw["kind"].isin(_KINDS) | received.isna()
    if bad.any():
        first = int(bad.idxmax())
        raise statements.StatementInvalid(
            int(line_no[first]), "amount_fen, kind or received_time is not valid"
        )
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "record_id": raw["record_id"],
            "payment_code": raw["payment_code"],
            "department": raw["department_code"],
            "amount": amount.astype("int64"),
            "kind": raw["kind"],
            "received_at": received,
        }
    )
    return statements.typed(frame, statements.REVENUE_COLUMNS)
