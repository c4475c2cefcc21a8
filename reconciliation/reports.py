"""The reports finance staff download: a reconciliation run as an xlsx workbook or as CSV.

``run.totals`` is written by the engine in this shape, every amount in fen::

    {
        "ours": {"count": int, "amount": int},
        "theirs": {"count": int, "amount": int},
        "matched": {"count": int, "amount": int},
        "discrepancies": {"<type>": {"count": int, "amount": int}, ...},
    }

A run that has not finished may have no totals yet; its cells are left empty.

Money is integer fen in the database and becomes yuan only here, exactly:
``Decimal(fen).scaleb(-2)`` in the workbook (formatted ``#,##0.00``) and the same decimal's
text ("1234.56") in CSV. Rows are streamed from the database (``values_list`` with
``iterator``) into openpyxl's write-only worksheets and into CSV chunks, so memory stays
flat however many rows there are.

``departments`` is a list of department ids the reader may see, or None for every
department. A scoped report leaves out discrepancies and clearings of other departments
(and those with no department), and its summary counts only the reader's discrepancies:
the parties' own totals cover every department, so a scoped summary leaves them empty.

Headers and the workbook's types and statuses are in Chinese and English, the models'
labels in each language ("对方无记录 missing in channel"); the CSV keeps the codes, for
programs. A sheet that would pass Excel's row limit stops at it, with a last row saying that
the CSV has every row. Text that came from outside (a party's reference, a comment) is never
turned into a formula: in the workbook it is written as text, in CSV a leading ``= + - @``
is escaped with an apostrophe as spreadsheet programs expect.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, BinaryIO

from django.contrib.auth import get_user_model
from django.db.models import Choices, Count, QuerySet
from django.utils import translation
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, Reference, Series
from openpyxl.chart.series import SeriesLabel, StrRef
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from .models import (
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    ReconciliationRun,
    RunStatus,
    amount_difference,
)

EXCEL_MAX_ROWS = 1_048_576  # rows in an Excel sheet, the header included
CHUNK_ROWS = 2_000  # rows fetched from the database at a time
CSV_CHUNK_BYTES = 64 * 1024  # a CSV chunk is yielded once its text is about this long

SUMMARY_SHEET = "汇总 Summary"
DISCREPANCY_SHEET = "差异 Discrepancies"
CLEARING_SHEET = "清分 Clearing"

YUAN = "#,##0.00"
COUNT = "#,##0"
DAY = "yyyy-mm-dd"

TRUNCATED_NOTE = (
    "已达 Excel 行数上限，以下行未列出，完整数据请下载 CSV。 "
    "Excel's row limit is reached: rows past this one are left out; the CSV has every row."
)
SCOPED_NOTE = (
    "对账方合计含全部执收单位，按单位查看时不显示；差异笔数仅含本人可见单位。 "
    "Party totals cover every department and are left out of a department-scoped report; "
    "discrepancy counts are of your departments only."
)

WORKBOOK_LANGUAGE = "zh-hans"  # each label in it, then in English
TYPES = list(DiscrepancyType.values)

SUMMARY_SIDES = [
    "对账方 Party",
    "状态 Status",
    "我方笔数 Our count",
    "我方金额 Our amount",
    "对方笔数 Their count",
    "对方金额 Their amount",
    "已匹配笔数 Matched count",
    "已匹配金额 Matched amount",
]
SUMMARY_COLUMNS = len(SUMMARY_SIDES) + len(TYPES)
SUMMARY_FORMATS = [None, None, COUNT, YUAN, COUNT, YUAN, COUNT, YUAN, *([COUNT] * len(TYPES))]
SUMMARY_WIDTHS = [18, 11, 11, 16, 11, 16, 11, 16, *([11] * len(TYPES))]
FIRST_TYPE_COLUMN = 9  # column I: the first discrepancy type's count

DISCREPANCY_HEADER = [
    "业务日期 Business date",
    "对账方 Party",
    "差异类型 Type",
    "状态 Status",
    "执收单位 Department",
    "我方单号 Our ref",
    "对方单号 Their ref",
    "我方金额 Our amount",
    "对方金额 Their amount",
    "差额 Difference",
    "责任方 Owner",
    "处理人 Assignee",
    "处理结果 Resolution",
]
DISCREPANCY_FORMATS = [DAY, None, None, None, None, None, None, YUAN, YUAN, YUAN, None, None, None]
DISCREPANCY_WIDTHS = [12, 16, 20, 13, 14, 26, 26, 14, 14, 14, 14, 14, 40]

CLEARING_HEADER = [
    "单位编码 Department code",
    "执收单位 Department",
    "收单机构 Processor",
    "结算日期 Settlement date",
    "笔数 Payments count",
    "收款 Payments",
    "退款 Refunds",
    "手续费 Fees",
    "应结净额 Net",
    "到账 Arrival",
    "已到账 Credited",
]
CLEARING_FORMATS = [None, None, None, DAY, COUNT, YUAN, YUAN, YUAN, YUAN, None, YUAN]
CLEARING_WIDTHS = [14, 30, 16, 12, 10, 16, 14, 14, 16, 10, 16]
CLEARING_AMOUNTS = (5, 6, 7, 8, 10)  # positions of payments, refunds, fees, net, credited

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_ALIGNMENT = Alignment(wrap_text=True, vertical="center")
TOTAL_FONT = Font(bold=True)


def summary_header() -> list[str]:
    """The summary's columns: the parties' figures, then a count per discrepancy type."""
    return [*SUMMARY_SIDES, *(label(DiscrepancyType, t) for t in TYPES)]


def label(choices: type[Choices], code: str | None) -> str | None:
    """A type's or status's label in the workbook's language and in English: "成功 succeeded".

    A code the choices do not know (or none) is written as it is.
    """
    if code not in choices.values:
        return code
    with translation.override(WORKBOOK_LANGUAGE):
        chinese = str(choices(code).label)
    with translation.override("en"):
        english = str(choices(code).label)
    return chinese if chinese == english else f"{chinese} {english}"


def yuan(fen: int | None) -> Decimal | None:
    """Fen as yuan, exactly: 123456 -> Decimal('1234.56'), 5 -> Decimal('0.05')."""
    return None if fen is None else Decimal(fen).scaleb(-2)


def yuan_text(fen: int | None) -> str:
    """Fen as a yuan string with two decimals ('' for no amount): 123456 -> '1234.56'."""
    return "" if fen is None else str(Decimal(fen).scaleb(-2))


# The workbook ------------------------------------------------------------------------------


def write_xlsx(run: ReconciliationRun, out: BinaryIO, *, departments: list[int] | None) -> None:
    """The run's workbook: summary of the business date, its discrepancies, the clearing."""
    workbook = Workbook(write_only=True)
    _write_summary(workbook, run, departments)
    write_sheet(
        workbook,
        DISCREPANCY_SHEET,
        DISCREPANCY_HEADER,
        DISCREPANCY_FORMATS,
        DISCREPANCY_WIDTHS,
        _discrepancy_rows(run, departments),
    )
    write_sheet(
        workbook,
        CLEARING_SHEET,
        CLEARING_HEADER,
        CLEARING_FORMATS,
        CLEARING_WIDTHS,
        _clearing_rows_with_subtotals(run.business_date, departments),
    )
    workbook.save(out)


class _RowMaker:
    """Turns a row of plain values into what a write-only sheet appends.

    One cell per formatted column is kept and reused row after row: a write-only sheet
    writes each row out before the next is appended, so the cells are free again.
    """

    def __init__(self, ws, formats: Sequence[str | None], font: Font | None = None) -> None:
        self.ws = ws
        self.font = font
        self.cells: list[WriteOnlyCell | None] = []
        for number_format in formats:
            if number_format is None and font is None:
                self.cells.append(None)
                continue
            cell = WriteOnlyCell(ws)
            if number_format is not None:
                cell.number_format = number_format
            if font is not None:
                cell.font = font
            self.cells.append(cell)

    def __call__(self, values: Iterable[Any]) -> list[Any]:
        row = []
        for cell, value in zip(self.cells, values, strict=False):
            if value is None:
                row.append(None)
                continue
            if isinstance(value, str):
                value = _sheet_text(value)
                if value.startswith("="):
                    row.append(self._text_cell(value))
                    continue
            if cell is None:
                row.append(value)
            else:
                cell.value = value
                row.append(cell)
        return row

    def _text_cell(self, value: str) -> WriteOnlyCell:
        """Text that looks like a formula, kept as text."""
        cell = WriteOnlyCell(self.ws, value)
        cell.data_type = "s"
        if self.font is not None:
            cell.font = self.font
        return cell


def _sheet_text(value: str) -> str:
    """Without the control characters an xlsx file cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", value) if ILLEGAL_CHARACTERS_RE.search(value) else value


def _prepare(ws, header: Sequence[str], widths: Sequence[int]) -> None:
    """What a write-only sheet writes before its first row: widths, frozen header, printing."""
    for index, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(index)].width = width
    ws.freeze_panes = "A2"
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = Worksheet.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0  # as many pages down as the rows need
    ws.print_title_rows = "1:1"
    ws.print_options.gridLines = True
    cells = []
    for title in header:
        cell = WriteOnlyCell(ws, title)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGNMENT
        cells.append(cell)
    ws.append(cells)


def write_sheet(
    workbook: Workbook,
    title: str,
    header: Sequence[str],
    formats: Sequence[str | None],
    widths: Sequence[int],
    rows: Iterator[tuple[bool, Sequence[Any]]],
) -> None:
    """A header and the rows (each with whether it is a total), cut at Excel's row limit."""
    ws = workbook.create_sheet(title)
    _prepare(ws, header, widths)
    plain = _RowMaker(ws, formats)
    total = _RowMaker(ws, formats, font=TOTAL_FONT)
    last = _append_capped(ws, rows, plain, total, next_row=2)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(header))}{max(last, 1)}"


def _append_capped(ws, rows, plain: _RowMaker, total: _RowMaker, *, next_row: int) -> int:
    """Append rows up to the limit; past it, a note instead. Returns the last data row."""
    limit = EXCEL_MAX_ROWS
    rows = iter(rows)
    # Every row fits while at least two places are left: one for it, one for a note.
    for is_total, values in itertools.islice(rows, max(limit - next_row, 0)):
        ws.append((total if is_total else plain)(values))
        next_row += 1
    rest = list(itertools.islice(rows, 2))
    if len(rest) == 1 and next_row <= limit:  # the very last row fits in the last place
        is_total, values = rest[0]
        ws.append((total if is_total else plain)(values))
        return next_row
    if rest:
        ws.append([_note_cell(ws, TRUNCATED_NOTE)])
    return next_row - 1


def _note_cell(ws, text: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, text)
    cell.font = Font(bold=True, color="C00000")
    return cell


# The summary sheet -------------------------------------------------------------------------


def _write_summary(workbook: Workbook, run: ReconciliationRun, departments: list[int] | None):
    ws = workbook.create_sheet(SUMMARY_SHEET)
    _prepare(ws, summary_header(), SUMMARY_WIDTHS)
    plain = _RowMaker(ws, SUMMARY_FORMATS)
    total = _RowMaker(ws, SUMMARY_FORMATS, font=TOTAL_FONT)
    rows = _summary_rows(run, departments)
    for values in rows:
        ws.append(plain(values))
    first, last = 2, 1 + len(rows)
    ws.append(total(_summary_total(rows)))
    last_column = get_column_letter(SUMMARY_COLUMNS)
    ws.auto_filter.ref = f"A1:{last_column}{last}"
    next_row = last + 2
    if departments is not None:
        ws.append([])
        ws.append([_note_cell(ws, SCOPED_NOTE)])
        next_row += 2
    if rows:
        ws.add_chart(_discrepancy_chart(ws, first, last), f"A{next_row + 1}")


def _summary_rows(run: ReconciliationRun, departments: list[int] | None) -> list[list[Any]]:
    """One row per party's run of the run's business date."""
    runs = list(
        ReconciliationRun.objects.filter(business_date=run.business_date)
        .order_by("party")
        .values_list("id", "party", "status", "totals")
    )
    scoped_counts: dict[tuple[int, str], int] = {}
    if departments is not None:
        counted = (
            Discrepancy.objects.filter(
                run_id__in=[run_id for run_id, *_ in runs], department_id__in=departments
            )
            .values_list("run_id", "type")
            .annotate(count=Count("id"))
            .order_by()
        )
        scoped_counts = {(run_id, kind): count for run_id, kind, count in counted}
    rows = []
    for run_id, party, status, totals in runs:
        totals = totals or {}
        if departments is None:
            sides = [
                value
                for side in ("ours", "theirs", "matched")
                for value in _count_and_amount(totals.get(side))
            ]
            by_type = totals.get("discrepancies")
            counts = [
                None if by_type is None else int((by_type.get(t) or {}).get("count", 0))
                for t in TYPES
            ]
        else:
            sides = [None] * 6
            counts = [scoped_counts.get((run_id, t), 0) for t in TYPES]
        rows.append([party, label(RunStatus, status), *sides, *counts])
    return rows


def _count_and_amount(side: dict | None) -> tuple[int | None, Decimal | None]:
    if not side:
        return None, None
    return int(side["count"]), yuan(int(side["amount"]))


def _summary_total(rows: list[list[Any]]) -> list[Any]:
    """The column sums (amounts are exact decimals), empty where no row has a value."""
    total: list[Any] = ["合计 Total", None]
    for column in range(2, SUMMARY_COLUMNS):
        values = [row[column] for row in rows if row[column] is not None]
        total.append(sum(values) if values else None)
    return total


def _discrepancy_chart(ws, first: int, last: int) -> BarChart:
    """Discrepancy counts per type, a bar per type stacked by party, from the sheet's cells."""
    chart = BarChart()
    chart.type = "bar"
    chart.grouping = "stacked"
    chart.overlap = 100
    chart.title = "差异笔数 Discrepancies by type"
    chart.y_axis.title = "笔数 Count"
    chart.y_axis.majorGridlines = None
    chart.width = 24
    chart.height = 12
    last_type_column = FIRST_TYPE_COLUMN + len(TYPES) - 1
    for row in range(first, last + 1):
        values = Reference(
            ws, min_col=FIRST_TYPE_COLUMN, max_col=last_type_column, min_row=row, max_row=row
        )
        series = Series(values)
        series.tx = SeriesLabel(strRef=StrRef(f"{quote_sheetname(ws.title)}!$A${row}"))
        chart.series.append(series)
    chart.set_categories(
        Reference(ws, min_col=FIRST_TYPE_COLUMN, max_col=last_type_column, min_row=1, max_row=1)
    )
    return chart


# Rows from the database --------------------------------------------------------------------


def _discrepancies(run: ReconciliationRun, departments: list[int] | None) -> QuerySet:
    rows = Discrepancy.objects.filter(run=run)
    if departments is not None:
        rows = rows.filter(department_id__in=departments)
    username = f"assignee__{get_user_model().USERNAME_FIELD}"
    return rows.order_by("type", "id").values_list(
        "business_date",
        "party",
        "type",
        "status",
        "department__code",
        "our_ref",
        "their_ref",
        "our_amount",
        "their_amount",
        "owner",
        username,
        "resolution",
    )


def _discrepancy_values(row: tuple) -> tuple[list[Any], int | None, int | None, int | None]:
    """The row's values, with its amounts in fen: ours, theirs and the difference.

    The difference is ours − theirs (``amount_difference``).
    """
    business_date, party, kind, status, department, ours_ref, theirs_ref = row[:7]
    ours, theirs, owner, assignee, resolution = row[7:]
    difference = amount_difference(ours, theirs)
    values = [
        business_date,
        party,
        kind,
        status,
        department,
        ours_ref,
        theirs_ref,
        None,
        None,
        None,
        owner,
        assignee,
        resolution,
    ]
    return values, ours, theirs, difference


def _discrepancy_rows(
    run: ReconciliationRun, departments: list[int] | None
) -> Iterator[tuple[bool, list[Any]]]:
    for row in _discrepancies(run, departments).iterator(chunk_size=CHUNK_ROWS):
        values, ours, theirs, difference = _discrepancy_values(row)
        values[2] = label(DiscrepancyType, values[2])
        values[3] = label(DiscrepancyStatus, values[3])
        values[7:10] = yuan(ours), yuan(theirs), yuan(difference)
        yield False, values


def _clearings(business_date: date, departments: list[int] | None) -> QuerySet:
    rows = Clearing.objects.filter(business_date=business_date)
    if departments is not None:
        rows = rows.filter(department_id__in=departments)
    return rows.order_by("department__code", "processor", "id").values_list(
        "department__code",
        "department__name",
        "processor",
        "settlement_date",
        "payments_count",
        "payments_amount",
        "refunds_amount",
        "fees_amount",
        "net_amount",
        "arrival",
        "credited_amount",
    )


def _clearing_rows_with_subtotals(
    business_date: date, departments: list[int] | None
) -> Iterator[tuple[bool, list[Any]]]:
    """Each department's clearings, then its subtotal; a grand total after them all."""
    rows = _clearings(business_date, departments).iterator(chunk_size=CHUNK_ROWS)
    grand = [0] * len(CLEARING_HEADER)
    departments_seen = 0
    for code, group in itertools.groupby(rows, key=lambda row: row[0]):
        sums = [0] * len(CLEARING_HEADER)
        name = ""
        for row in group:
            name = row[1]
            for column in (4, *CLEARING_AMOUNTS):
                sums[column] += row[column]
            values = _clearing_in_yuan(list(row))
            values[9] = label(Clearing.Arrival, values[9])
            yield False, values
        departments_seen += 1
        grand = [a + b for a, b in zip(grand, sums, strict=True)]
        yield True, _clearing_total(sums, code, f"小计 Subtotal {name}")
    if departments_seen > 1:
        yield True, _clearing_total(grand, "合计 Total", "")


def _clearing_in_yuan(values: list[Any]) -> list[Any]:
    for column in CLEARING_AMOUNTS:
        values[column] = yuan(values[column])
    return values


def _clearing_total(sums: list[int], code: str, label: str) -> list[Any]:
    values: list[Any] = [None] * len(CLEARING_HEADER)
    values[0], values[1], values[4] = code, label, sums[4]
    for column in CLEARING_AMOUNTS:
        values[column] = yuan(sums[column])
    return values


# CSV ---------------------------------------------------------------------------------------


def csv_chunks(run: ReconciliationRun, *, departments: list[int] | None) -> Iterator[bytes]:
    """The run's discrepancies as UTF-8 CSV with a BOM, in chunks, the header first."""

    def lines():
        for row in _discrepancies(run, departments).iterator(chunk_size=CHUNK_ROWS):
            values, ours, theirs, difference = _discrepancy_values(row)
            values[7:10] = yuan_text(ours), yuan_text(theirs), yuan_text(difference)
            yield values

    return csv_lines(DISCREPANCY_HEADER, lines(), text_columns=(1, 2, 3, 4, 5, 6, 10, 11, 12))


def clearing_csv_chunks(business_date: date, *, departments: list[int] | None) -> Iterator[bytes]:
    """The business date's clearings as UTF-8 CSV with a BOM, in chunks, the header first.

    Only the clearings themselves: the workbook's subtotal rows are not repeated here.
    """

    def lines():
        for row in _clearings(business_date, departments).iterator(chunk_size=CHUNK_ROWS):
            values = list(row)
            for column in CLEARING_AMOUNTS:
                values[column] = yuan_text(values[column])
            yield values

    return csv_lines(CLEARING_HEADER, lines(), text_columns=(0, 1, 2, 9))


def csv_lines(
    header: Sequence[str], rows: Iterator[list[Any]], *, text_columns: Sequence[int]
) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield b"\xef\xbb\xbf" + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    for values in rows:
        for column in text_columns:
            values[column] = _csv_text(values[column])
        writer.writerow(values)
        if buffer.tell() >= CSV_CHUNK_BYTES:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _csv_text(value: str | None) -> str:
    """Text a spreadsheet program will not run as a formula."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r" else value
