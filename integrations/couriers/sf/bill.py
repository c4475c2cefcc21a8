"""SF's freight bill: a CSV with a header line, one waybill a line, amounts in yuan."""

from __future__ import annotations

import csv
import io
from datetime import date

from core import money
from integrations.couriers.base import FreightLine
from integrations.errors import ProviderError

# The sandbox's freight bill: a CSV with this header, amounts in yuan.
BILL_COLUMNS = ("waybill_no", "order_no", "date", "weight_kg", "amount_yuan")


def parse_freight_bill(content: bytes) -> list[FreightLine]:
    try:
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ProviderError(f"the freight bill cannot be read: {exc}") from exc
    if not rows or tuple(rows[0]) != BILL_COLUMNS:
        raise ProviderError("the freight bill does not start with its header")
    return [_freight_line(row) for row in rows[1:] if row]


def fen_from_yuan(text: str) -> int:
    """Yuan with up to two decimals as integer fen, without floats: "23.5" -> 2350."""
    try:
        return money.fen_from_yuan(text.strip())
    except ValueError:
        raise ProviderError(f"not an amount in yuan: {text!r}") from None


def _freight_line(row: list[str]) -> FreightLine:
    if len(row) != len(BILL_COLUMNS):
        raise ProviderError("a freight bill line has the wrong number of cells")
    waybill_no, order_no, day, _weight, amount = row
    try:
        bill_date = date.fromisoformat(day)
    except ValueError as exc:
        raise ProviderError(f"a freight bill line's date is {day!r}") from exc
    return FreightLine(
        waybill_no=waybill_no, order_no=order_no, amount=fen_from_yuan(amount), date=bill_date
    )
