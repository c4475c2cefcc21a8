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
    rows = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
    if tuple(rows.fieldnames or ()) != BILL_COLUMNS:
        raise ProviderError("freight bill: unexpected columns")
    try:
        return [
            FreightLine(
                waybill_no=row["waybillNo"],
                order_no=row["logisticsOrderNo"],
                amount=fen_from_yuan(row["freight"].strip()),
                date=date.fromisoformat(row["billDate"]),
            )
            for row in rows
        ]
    except ValueError as exc:
        raise ProviderError(f"freight bill: {exc}") from exc
