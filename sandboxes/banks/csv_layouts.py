"""The bank's account-detail exports as CSV, in the two example layouts it serves.

Chinese online banks each export their own table. The sandbox bank writes two, named
as docs/banks.md describes them (examples in the style of the banks' exports, not their
published specifications):

- ``icbc_example``, in the style of a 中国工商银行 account history: GB18030, a title line
  and a line naming the account above the header, the time of each entry, a debit and
  a credit column (yuan, thousands separated by commas);
- ``ccb_example``, in the style of a 中国建设银行 account detail: UTF-8, the header on the
  first line, 借/贷 beside one amount column, dates as ``yyyyMMdd``, 人民币 for CNY.

Fields are quoted as RFC 4180 says, only when they hold a comma, a quote or a line break.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sandboxes.banks import columns


@dataclass(frozen=True)
class Export:
    """How one export is written: its columns are (header text, what the column holds)."""

    name: str
    encoding: str
    title: tuple[str, ...]  # the lines above the header; {account} and {date} filled in
    columns: tuple[tuple[str, str], ...]
    date_format: str  # of the booking and value dates
    thousands: bool  # "1,234.50"


LAYOUTS: dict[str, Export] = {
    export.name: export
    for export in (
        Export(
            name="icbc_example",
            encoding="gb18030",
            title=("中国工商银行账户历史明细（示例格式）", "账号：{account},起止日期：{date}"),
            columns=(
                ("凭证号", "bank_ref"),
                ("对方账号", "counterparty_account"),
                ("交易时间", "booking_date"),
                ("借方发生额", "debit"),
                ("贷方发生额", "credit"),
                ("摘要", "description"),
                ("对方单位名称", "counterparty_name"),
            ),
            date_format="%Y-%m-%d %H:%M:%S",
            thousands=True,
        ),
        Export(
            name="ccb_example",
            encoding="utf-8",
            title=(),
            columns=(
                ("账号", "account"),
                ("记账日期", "booking_date"),
                ("起息日", "value_date"),
                ("借贷方向", "mark"),
                ("交易金额", "amount"),
                ("币种", "currency"),
                ("对方户名", "counterparty_name"),
                ("对方账号", "counterparty_account"),
                ("摘要", "description"),
                ("账户明细编号-交易流水号", "bank_ref"),
            ),
            date_format="%Y%m%d",
            thousands=False,
        ),
    )
}
CURRENCY_NAMES = {"CNY": "人民币"}


def _yuan(amounts: np.ndarray, thousands: bool) -> pa.Array:
    """Absolute fen as yuan text, the whole yuan comma-grouped when ``thousands``."""
    if not thousands:
        return columns.units(amounts)
    magnitude = np.abs(amounts)
    whole = pd.Series(magnitude // 100).map("{:,}".format).to_numpy(dtype=object)
    cents = pc.utf8_lpad(pa.array(magnitude % 100).cast(pa.string()), 2, "0")
    return columns.concat(pa.array(whole, type=pa.string()), ".", cents)


def _field(texts: pa.Array) -> pa.Array:
    quoted = columns.concat('"', pc.replace_substring(texts, '"', '""'), '"')
    return pc.if_else(pc.match_substring_regex(texts, '[,"\r\n]'), quoted, texts)


def render_csv(entries: pd.DataFrame, account: str, business_date: date, layout: str) -> bytes:
    """The export of ``account`` for ``business_date`` holding these entries, in the layout
    named ``layout`` (KeyError for one the bank does not write)."""
    export = LAYOUTS[layout]
    amount = columns.fen(entries)
    credit = amount >= 0
    money = _yuan(amount, export.thousands)

    def cells(what: str) -> pa.Array:
        if what == "account":
            return pa.repeat(pa.scalar(account, pa.string()), len(entries))
        if what in ("booking_date", "value_date"):
            return columns.day(entries, what, export.date_format)
        if what == "debit":
            return columns.when(~credit, money)
        if what == "credit":
            return columns.when(credit, money)
        if what == "amount":
            return money
        if what == "mark":
            return columns.either(credit, "贷", "借")
        if what == "currency":
            codes = columns.text(entries, "currency", "CNY").to_pandas()
            return pa.array(codes.replace(CURRENCY_NAMES), type=pa.string())
        return columns.text(entries, what)

    pieces: list[columns.Piece] = []
    for _, what in export.columns:
        pieces += [",", _field(cells(what))] if pieces else [_field(cells(what))]
    lines = columns.concat(*pieces, "\n")
    head = [line.format(account=account, date=business_date.isoformat()) for line in export.title]
    head.append(",".join(header for header, _ in export.columns))
    text = "\n".join(head) + "\n" + columns.utf8(lines).decode("utf-8")
    return text.encode(export.encoding)
