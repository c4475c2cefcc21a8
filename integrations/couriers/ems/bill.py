"""EMS's freight bill (账单, API 060002): a CSV file, one waybill a line, freight in yuan."""

from __future__ import annotations

import csv
import io
from datetime import date

from core.money import fen_from_yuan
from integrations.couriers.base import FreightLine
from integrations.errors import ProviderError

BILL_COLUMNS = ("waybillNo", "logisticsOrderNo", "billDate", "freight")


def parse_freight_bill(content: bytes) -> list[FreightLine]:
    """Every line of the bill; ProviderError for a bill that is not whole and well formed
    (a download cut short ends in a line without its later fields)."""
    try:
        rows = csv.reader(io.StringIO(content.decode("utf-8-sig")))
        if tuple(next(rows, ())) != BILL_COLUMNS:
            raise ProviderError("freight bill: unexpected columns")
        return [_freight_line(number, row) for number, row in enumerate(rows, start=2) if row]
    except (ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        raise ProviderError(f"freight bill: {exc}") from exc


def _freight_line(number: int, row: list[str]) -> FreightLine:
    if len(row) != len(BILL_COLUMNS):
        raise ProviderError(f"freight bill line {number}: {len(row)} fields, not 4")
    waybill_no, order_no, bill_date, freight = row
    return FreightLine(
        waybill_no=waybill_no,
        order_no=order_no,
        amount=fen_from_yuan(freight.strip()),
        date=date.fromisoformat(bill_date),
    )
