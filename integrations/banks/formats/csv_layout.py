"""Bank statements exported as CSV, read through a layout configured per bank.

Chinese banks have no common statement format: each bank's online banking exports its
own table (encoding, title lines, column names, date format, debit and credit columns or
a 借/贷 mark). A ``CsvLayout`` says how one such export is written; ``parse_csv`` reads
any file written that way into a BANK_COLUMNS frame, all rows at once (Arrow's CSV
reader and compute kernels).

``ICBC_EXAMPLE`` and ``CCB_EXAMPLE`` are example layouts in the style of a 中国工商银行
and a 中国建设银行 account-detail export. They are written for this project, to show
the two common shapes; they are not the banks' published specifications, and a
deployment configures the layout of the files its banks actually send (docs/banks.md).
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from integrations.banks.formats import values
from integrations.statements import BANK_COLUMNS, StatementInvalid, empty, typed

FIELDS = (
    "account",
    "booking_date",
    "value_date",
    "amount",
    "debit",
    "credit",
    "mark",
    "currency",
    "bank_ref",
    "counterparty_account",
    "counterparty_name",
    "description",
)
SIGNS = {
    "signed": ("amount",),  # one amount column, debits negative
    "split": ("debit", "credit"),  # a debit column and a credit column, both positive
    "marked": ("amount", "mark"),  # a positive amount and a column saying which
}
UNITS = ("yuan", "fen")  # "12.34" (two decimals at most) or 1234


@dataclass(frozen=True)
class CsvLayout:
    """How one bank writes its CSV statement export.

    ``columns`` maps canonical fields (FIELDS) to the header text of the file's column;
    ``booking_date`` is required, and the amount columns of the ``sign`` convention.
    Fields without a column: ``value_date`` is the booking date, ``currency`` is
    ``currency``, ``account`` is read from the lines above the header with
    ``account_pattern`` (its first group), text fields are empty.
    """

    name: str
    columns: Mapping[str, str]
    encoding: str = "utf-8"
    delimiter: str = ","
    header_line: int = 1  # the line (1-based) holding the column names
    date_format: str = "%Y-%m-%d"  # of the booking date, and of the value date unless...
    value_date_format: str = ""
    amount_unit: str = "yuan"
    sign: str = "signed"
    credit_marks: tuple[str, ...] = ("贷", "C", "CR")
    debit_marks: tuple[str, ...] = ("借", "D", "DR")
    # groups an amount's units ("1,234.50"), in threes only; "" when never written
    thousands: str = ","
    currency: str = "CNY"
    currency_names: Mapping[str, str] = field(
        default_factory=lambda: {"人民币": "CNY", "RMB": "CNY", "本币": "CNY"}
    )
    account_pattern: str = ""  # e.g. r"账号[:：]\s*(\d+)", searched above the header
    summary_marks: tuple[str, ...] = ("合计", "总计", "小计")  # a row starting so is not an entry
    preamble: tuple[str, ...] = ()  # lines above the header, with {account} and {date}

    def __post_init__(self) -> None:
        unknown = set(self.columns) - set(FIELDS)
        if unknown:
            raise ValueError(f"layout {self.name}: no field {', '.join(sorted(unknown))}")
        if self.sign not in SIGNS:
            raise ValueError(f"layout {self.name}: sign is one of {', '.join(SIGNS)}")
        if self.amount_unit not in UNITS:
            raise ValueError(f"layout {self.name}: amount_unit is one of {', '.join(UNITS)}")
        missing = [name for name in ("booking_date", *SIGNS[self.sign]) if name not in self.columns]
        if missing:
            raise ValueError(f"layout {self.name}: no column for {', '.join(missing)}")
        if "account" not in self.columns and not self.account_pattern:
            raise ValueError(f"layout {self.name}: an account column or account_pattern is needed")
        if len(self.thousands) > 1 or (self.thousands and self.thousands in "0123456789+-."):
            raise ValueError(f"layout {self.name}: thousands is one character, not 0-9, + - or .")
        if self.header_line < 1 or (self.preamble and len(self.preamble) != self.header_line - 1):
            raise ValueError(f"layout {self.name}: header_line is 1 + the preamble's lines")

    @classmethod
    def from_settings(cls, name: str, config: Mapping) -> CsvLayout:
        """A layout from a settings mapping (lists become tuples)."""
        fields = {
            key: tuple(value) if isinstance(value, list) else value for key, value in config.items()
        }
        return cls(name=name, **fields)


ICBC_EXAMPLE = CsvLayout(
    name="icbc_example",
    encoding="gb18030",
    header_line=3,
    preamble=("中国工商银行账户历史明细（示例格式）", "账号：{account},起止日期：{date}"),
    account_pattern=r"账号[:：]\s*(\d+)",
    columns={
        "bank_ref": "凭证号",
        "counterparty_account": "对方账号",
        "booking_date": "交易时间",
        "debit": "借方发生额",
        "credit": "贷方发生额",
        "description": "摘要",
        "counterparty_name": "对方单位名称",
    },
    date_format="%Y-%m-%d %H:%M:%S",
    sign="split",
)
CCB_EXAMPLE = CsvLayout(
    name="ccb_example",
    encoding="utf-8",
    columns={
        "account": "账号",
        "booking_date": "记账日期",
        "value_date": "起息日",
        "mark": "借贷方向",
        "amount": "交易金额",
        "currency": "币种",
        "counterparty_name": "对方户名",
        "counterparty_account": "对方账号",
        "description": "摘要",
        "bank_ref": "账户明细编号-交易流水号",
    },
    date_format="%Y%m%d",
    sign="marked",
    credit_marks=("贷",),
    debit_marks=("借",),
    thousands="",
)
LAYOUTS: dict[str, CsvLayout] = {layout.name: layout for layout in (ICBC_EXAMPLE, CCB_EXAMPLE)}


def parse_csv(content: bytes, layout: CsvLayout) -> pd.DataFrame:
    """The file's entries as a BANK_COLUMNS frame, in file order.

    Blank lines and summary rows (合计...) are skipped; a row with the wrong number of
    columns, or a value that cannot be read, raises StatementInvalid naming its line.
    """
    data = _utf8(content, layout.encoding)
    line_starts = np.concatenate(
        ([0], np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1)
    )
    table, record_lines = _read_table(data, line_starts, layout)
    header = layout.header_line
    missing = [
        f"{column} ({name})"
        for name, column in layout.columns.items()
        if column not in table.column_names
    ]
    if missing:
        raise StatementInvalid(header, f"no column {', '.join(missing)} in the header")
    column = {
        name: pc.utf8_trim_whitespace(table.column(title).combine_chunks())
        for name, title in layout.columns.items()
    }
    entry = ~_summaries(table, column["booking_date"], layout)
    line_no = record_lines[entry]
    if not len(line_no):
        return empty(BANK_COLUMNS)
    keep = pa.array(entry)
    column = {name: array.filter(keep) for name, array in column.items()}
    booking = values.dates(
        column["booking_date"], line_no, what=_what(layout, "booking_date"), fmt=layout.date_format
    )
    value = (
        values.dates(
            column["value_date"],
            line_no,
            what=_what(layout, "value_date"),
            fmt=layout.value_date_format or layout.date_format,
        )
        if "value_date" in column
        else booking
    )
    n = len(line_no)
    frame = pd.DataFrame(
        {
            "line_no": line_no,
            "account": _account(column, data, line_starts, layout, n),
            "booking_date": booking,
            "value_date": value,
            "amount": _amounts(column, line_no, layout),
            "currency": _currency(column, layout, n),
        }
    )
    for name in ("bank_ref", "counterparty_account", "counterparty_name", "description"):
        frame[name] = column[name].to_numpy(zero_copy_only=False) if name in column else ""
    return typed(frame, BANK_COLUMNS)


def _utf8(content: bytes, encoding: str) -> bytes:
    """The file as UTF-8 without a byte-order mark; StatementInvalid naming a bad line."""
    try:
        if codecs.lookup(encoding).name == "utf-8":
            content.decode("utf-8")  # checked here, to name the line; not copied
            return content.removeprefix(codecs.BOM_UTF8)
        return content.decode(encoding).removeprefix("\ufeff").encode("utf-8")
    except UnicodeDecodeError as exc:
        line = content.count(b"\n", 0, exc.start) + 1
        raise StatementInvalid(line, f"not {encoding} text: {exc.reason}") from None


def _read_table(
    data: bytes, line_starts: np.ndarray, layout: CsvLayout
) -> tuple[pa.Table, np.ndarray]:
    """The table below the header, and the file line of each of its rows."""
    invalid: list[pa_csv.InvalidRow] = []
    summaries: list[str] = []

    def set_aside(row: pa_csv.InvalidRow) -> str:
        if _starts_with_mark(row.text, layout):
            summaries.append(row.text)
        else:
            invalid.append(row)
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(skip_rows=layout.header_line - 1, use_threads=False),
            parse_options=pa_csv.ParseOptions(
                delimiter=layout.delimiter, newlines_in_values=True, invalid_row_handler=set_aside
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=_all_text(data, line_starts, layout), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as exc:
        raise StatementInvalid(layout.header_line, f"not a CSV table: {exc}") from None
    below_header = (
        int(line_starts[layout.header_line]) if layout.header_line < len(line_starts) else len(data)
    )
    lines_of = _LineFinder(data, below_header)
    if invalid:
        row = invalid[0]
        raise StatementInvalid(
            lines_of.find(row.text),
            f"{row.actual_columns} columns where the header has {row.expected_columns}: "
            f"{row.text[:60]!r}",
        )
    # The rows are the non-blank lines below the header, less the summaries set aside
    # (unless a quoted value spans lines: then the rows are counted instead).
    ends = np.append(line_starts[1:] - 1, len(data))
    length = ends - line_starts
    first_byte = np.frombuffer(data + b"\n", dtype=np.uint8)[np.minimum(line_starts, len(data))]
    blank = (length == 0) | ((length == 1) & (first_byte == ord("\r")))
    lines = np.flatnonzero(~blank) + 1
    lines = lines[lines > layout.header_line]
    set_aside_lines = [lines_of.find(text) for text in summaries]
    rows = lines[~np.isin(lines, set_aside_lines)]
    if len(rows) != table.num_rows:
        rows = np.arange(table.num_rows) + layout.header_line + 1
    return table, rows


class _LineFinder:
    """The line of each of a series of row texts, searched in file order."""

    def __init__(self, data: bytes, start: int) -> None:
        self.data, self.at = data, start

    def find(self, text: str) -> int:
        found = self.data.find(text.encode("utf-8"), self.at)
        if found < 0:
            return 0
        self.at = found + 1
        return self.data.count(b"\n", 0, found) + 1


def _all_text(data: bytes, line_starts: np.ndarray, layout: CsvLayout) -> dict[str, pa.DataType]:
    """Every column read as text: the header's names, from its line."""
    at = layout.header_line - 1
    if at >= len(line_starts):
        raise StatementInvalid(0, f"the file has no line {layout.header_line} (the header)")
    end = line_starts[at + 1] if at + 1 < len(line_starts) else len(data)
    header = data[line_starts[at] : end].decode("utf-8").strip("\r\n")
    names = [name.strip('"') for name in header.split(layout.delimiter)]
    return dict.fromkeys(names, pa.string())


def _starts_with_mark(text: str, layout: CsvLayout) -> bool:
    """Whether a row's first non-empty cell starts with a summary mark (合计...)."""
    return text.lstrip(f'" \t{layout.delimiter}').startswith(layout.summary_marks)


def _summaries(table: pa.Table, booking_date: pa.Array, layout: CsvLayout) -> np.ndarray:
    """The rows whose first cell, or booking date, starts with a summary mark (合计...)."""
    first = pc.utf8_trim_whitespace(table.column(0).combine_chunks())
    found = np.zeros(table.num_rows, dtype=bool)
    for mark in layout.summary_marks:
        found |= values.flags(pc.starts_with(first, mark))
        found |= values.flags(pc.starts_with(booking_date, mark))
    return found


def _what(layout: CsvLayout, name: str) -> str:
    return f"{layout.columns[name]} ({name})"


def _amounts(column: dict[str, pa.Array], line_no: np.ndarray, layout: CsvLayout) -> np.ndarray:
    def read(name: str, *, signed: bool, empty_is_zero: bool = False) -> np.ndarray:
        texts = column[name]
        if empty_is_zero:  # in a debit or credit column: the other one has the amount
            texts = pc.if_else(pc.equal(texts, ""), "0", texts)
        # Exactly as written or refused (values): thousands only in groups of three, at
        # most two decimals, at most one sign, and that only where amounts are signed.
        if layout.amount_unit == "fen":
            return values.fen_from_integer(
                texts, line_no, what=_what(layout, name), signed=signed, thousands=layout.thousands
            )
        return values.fen_from_decimal(
            texts,
            line_no,
            what=_what(layout, name),
            signed=signed,
            thousands=layout.thousands,
            zeros_beyond_cents=False,
        )

    if layout.sign == "signed":
        return read("amount", signed=True)
    if layout.sign == "marked":
        amount = read("amount", signed=False)
        mark = column["mark"]
        credit = values.flags(pc.is_in(mark, pa.array(layout.credit_marks, pa.string())))
        debit = values.flags(pc.is_in(mark, pa.array(layout.debit_marks, pa.string())))
        values.first_bad(
            ~(credit | debit),
            line_no,
            lambda at: f"{_what(layout, 'mark')} {mark[at].as_py()!r} is neither "
            f"{'/'.join(layout.credit_marks)} nor {'/'.join(layout.debit_marks)}",
        )
        return np.where(debit, -amount, amount)
    given = values.flags(
        pc.or_(pc.not_equal(column["debit"], ""), pc.not_equal(column["credit"], ""))
    )
    values.first_bad(
        ~given,
        line_no,
        lambda _: f"neither {layout.columns['debit']} nor {layout.columns['credit']} has an amount",
    )
    debit = read("debit", signed=False, empty_is_zero=True)
    credit = read("credit", signed=False, empty_is_zero=True)
    values.first_bad(
        (debit != 0) & (credit != 0),
        line_no,
        lambda _: f"both {layout.columns['debit']} and {layout.columns['credit']} have an amount",
    )
    return credit - debit


def _account(
    column: dict[str, pa.Array], data: bytes, line_starts: np.ndarray, layout: CsvLayout, n: int
) -> np.ndarray:
    if "account" in column:
        return column["account"].to_numpy(zero_copy_only=False)
    above = data[: line_starts[layout.header_line - 1]].decode("utf-8")
    found = re.search(layout.account_pattern, above)
    if not found:
        raise StatementInvalid(
            0, f"no account above the header (pattern {layout.account_pattern!r})"
        )
    return np.full(n, found.group(1).strip(), dtype=object)


def _currency(column: dict[str, pa.Array], layout: CsvLayout, n: int) -> np.ndarray:
    if "currency" not in column:
        return np.full(n, layout.currency, dtype=object)
    given = pd.Series(column["currency"].to_numpy(zero_copy_only=False), dtype=object)
    named = given.map(dict(layout.currency_names))
    return named.where(named.notna(), given.where(given != "", layout.currency)).to_numpy(
        dtype=object
    )
