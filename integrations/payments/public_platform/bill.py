"""The public platform's daily bill (UTF-8 CSV) read as a TRANSACTION_COLUMNS frame."""

from __future__ import annotations

import csv
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from integrations import statements
from integrations.statements import StatementInvalid

# The bill's columns (docs/public_platform.md, "The daily bill"), in order.
BILL_COLUMNS = (
    "record_type",
    "trade_no",
    "out_trade_no",
    "out_refund_no",
    "payment_code",
    "department_code",
    "amount_fen",
    "fee_fen",
    "status",
    "time",
)
BILL_TOTAL = "#total"


def parse_bill(content: bytes) -> pd.DataFrame:
    """The daily bill as a TRANSACTION_COLUMNS frame; raises StatementInvalid.

    A PAYMENT line is a payment (``ref`` out_trade_no), a REFUND line a refund (``ref``
    out_refund_no); ``provider_ref`` is trade_no (for a refund, the refunded trade's: the
    bill names no refund of the platform's), ``amount`` amount_fen, ``fee`` fee_fen,
    ``occurred_at`` time. The #total line must agree with the lines.
    """
    header_end = content.find(b"\n")
    header = _bill_line(content[: header_end if header_end >= 0 else len(content)], 1)
    if header != ",".join(BILL_COLUMNS):
        raise StatementInvalid(1, f"is not the bill's header ({','.join(BILL_COLUMNS)})")
    start = header_end + 1 if header_end >= 0 else len(content)
    total_at = content.rfind(f"\n{BILL_TOTAL},".encode(), start - 1)
    end = total_at + 1 if total_at >= 0 else len(content)
    lines = statements.count_lines(content, start, end)
    fields = _bill_fields(content, start, end, lines=lines)
    if total_at < 0:
        raise StatementInvalid(2 + lines, f"the bill ends without its {BILL_TOTAL} line")
    frame = _bill_frame(fields)
    _check_total(content[end:], frame, line=2 + lines)
    return statements.typed(frame, statements.TRANSACTION_COLUMNS)


def _bill_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise StatementInvalid(line, "is not UTF-8") from exc


def _bill_fields(content: bytes, start: int, end: int, *, lines: int) -> dict[str, pa.Array]:
    """The lines ``content[start:end]`` as text columns, one record per line."""
    fields = statements.csv_fields(memoryview(content)[start:end], BILL_COLUMNS, lines=lines)
    if fields is None:
        _refuse_malformed(content, start, end)
    return fields


def _refuse_malformed(content: bytes, start: int, end: int) -> NoReturn:
    """Refuse the first line of ``content[start:end]`` that is not one UTF-8 record of the
    bill's fields, or a line before it whose fields are wrong."""

    def check_before(stop: int) -> None:  # the lines before are whole records: are their fields?
        _bill_frame(
            _bill_fields(content, start, stop, lines=statements.count_lines(content, start, stop))
        )

    statements.refuse_bad_line(
        content, start, end, first_line=2, line_problem=_line_problem, check_before=check_before
    )
    raise StatementInvalid(2, "the lines cannot be read")


def _line_problem(raw: bytes) -> str | None:
    if not raw:
        return "is empty"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8"
    if text.count('"') % 2:  # every quoted field holds an even number of quotes
        return "has a quoted field that runs over lines"
    try:
        fields = next(csv.reader([text]))
    except csv.Error:  # Python's reader refuses a carriage return inside a line
        return "has a carriage return before its end"
    if len(fields) != len(BILL_COLUMNS):
        return f"has {len(fields)} fields, the bill has {len(BILL_COLUMNS)}"
    return None


def _bill_frame(fields: dict[str, pa.Array]) -> pd.DataFrame:
    """The canonical columns of the bill's lines, every field checked on the way."""
    checks = statements.LineChecks()
    at = statements.value_at
    kind = fields["record_type"]
    known = pc.is_in(kind, pa.array(["PAYMENT", "REFUND"]))
    checks.check(known, lambda i: f"record_type {at(kind, i)} is neither PAYMENT nor REFUND")
    refund = pc.equal(kind, "REFUND")
    is_refund = refund.to_numpy(zero_copy_only=False)
    ref = pc.if_else(refund, fields["out_refund_no"], fields["out_trade_no"])
    checks.check(pc.not_equal(fields["trade_no"], ""), lambda i: "trade_no is empty")
    checks.check(
        pc.not_equal(ref, ""),
        lambda i: f"{'out_refund_no' if is_refund[i] else 'out_trade_no'} is empty",
    )
    checks.check(
        pc.or_(refund, pc.equal(fields["out_refund_no"], "")),
        lambda i: "a PAYMENT line has an out_refund_no",
    )
    amount, ok = _whole_fen(fields["amount_fen"], r"^[1-9][0-9]{0,17}$")
    checks.check(ok, lambda i: f"amount_fen {at(fields['amount_fen'], i)} is not fen above zero")
    fee, ok = _whole_fen(fields["fee_fen"], r"^-?(0|[1-9][0-9]{0,17})$")
    checks.check(ok, lambda i: f"fee_fen {at(fields['fee_fen'], i)} is not a whole number of fen")
    status = fields["status"]
    checks.check(pc.equal(status, "SUCCESS"), lambda i: f"status {at(status, i)} is not SUCCESS")
    occurred_at, ok = statements.offset_times(fields["time"])
    checks.check(ok, lambda i: f"time {at(fields['time'], i)} is not ISO 8601 with an offset")
    checks.refuse_first(2)
    return pd.DataFrame(
        {
            "line_no": np.arange(2, 2 + len(amount), dtype=np.int64),
            "kind": np.where(is_refund, "refund", "payment"),
            "ref": statements.strings(ref),
            "provider_ref": statements.strings(fields["trade_no"]),
            "amount": amount,
            "fee": fee,
            "occurred_at": occurred_at,
        }
    )


def _check_total(tail: bytes, frame: pd.DataFrame, *, line: int) -> None:
    """``#total,<count>,<sum of payments>,<sum of refunds>``, then nothing."""
    lines = [_bill_line(raw, line + at) for at, raw in enumerate(tail.split(b"\n"))]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    if len(lines) > 1:
        raise StatementInvalid(line + 1, f"follows the {BILL_TOTAL} line")
    refunds = frame["kind"] == "refund"
    counted = [
        BILL_TOTAL,
        str(len(frame)),
        str(int(frame["amount"][~refunds].sum())),
        str(int(frame["amount"][refunds].sum())),
    ]
    if lines[0].split(",") != counted:
        raise StatementInvalid(line, f"{lines[0]!r}, the lines add up to {','.join(counted)}")


def _whole_fen(column: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole fen written in digits, and which values had the pattern (the others: 0)."""
    ok = pc.match_substring_regex(column, pattern)
    if not pc.all(ok).as_py():
        column = pc.if_else(ok, column, "0")
    return (
        pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False),
        ok.to_numpy(zero_copy_only=False),
    )
