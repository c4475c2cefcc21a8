"""A statistics page as an xlsx workbook: a sheet per table, each with a native Excel chart
drawn from the sheet's own cells, and a last sheet saying what was asked and what the
figures mean.

Money is written as the reconciliation's reports write it: fen become exact yuan
(``reports.yuan``) formatted with two decimals. Headers are in the request's language, as
the page's are. Text that came from a person or a party (a department's name, a waiver
reason) is written as text, never as a formula.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from console.statistics.report import COUNT, FEN, SHARE, Table
from reconciliation import reports

FORMATS = {COUNT: reports.COUNT, FEN: reports.YUAN, SHARE: "0.00%"}
SHEET_TITLE_MAX = 31  # characters Excel allows in a sheet's name
SHEET_TITLE_FORBIDDEN = str.maketrans(dict.fromkeys("[]:*?/\\", " "))
LABEL_WIDTH = 30
FIGURE_WIDTH = 16


def write_workbook(
    tables: Sequence[Table],
    about: Sequence[tuple[str, str]],
    *,
    about_title: str,
    out: BinaryIO,
) -> None:
    """The tables' sheets, then ``about``: (what, value) lines, the filters and the notes."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in tables:
        _table_sheet(workbook.create_sheet(_sheet_title(table.title)), table)
    _about_sheet(workbook.create_sheet(_sheet_title(about_title)), about)
    workbook.save(out)


def _table_sheet(ws: Worksheet, table: Table) -> None:
    for column, header in enumerate(table.headers, start=1):
        cell = _text(ws, 1, column, header)
        cell.font = reports.HEADER_FONT
        cell.fill = reports.HEADER_FILL
        cell.alignment = reports.HEADER_ALIGNMENT
    for index, row in enumerate(table.rows, start=2):
        _text(ws, index, 1, row.label)
        _figures(ws, index, table, row.values)
    total_row = len(table.rows) + 2
    _text(ws, total_row, 1, _("Total")).font = reports.TOTAL_FONT
    for cell in _figures(ws, total_row, table, table.total):
        cell.font = reports.TOTAL_FONT
    ws.freeze_panes = "A2"
    ws.column_dimensions["A"].width = LABEL_WIDTH
    for column in range(2, len(table.headers) + 1):
        ws.column_dimensions[get_column_letter(column)].width = FIGURE_WIDTH
    if table.rows:
        anchor = f"{get_column_letter(len(table.headers) + 2)}2"
        ws.add_chart(_chart(ws, table), anchor)


def _figures(ws: Worksheet, row: int, table: Table, values: tuple) -> list:
    cells = []
    for column, (measure, value) in enumerate(zip(table.measures, values, strict=True), start=2):
        cell = ws.cell(row, column, reports.yuan(value) if measure.kind == FEN else value)
        cell.number_format = FORMATS[measure.kind]
        cells.append(cell)
    return cells


def _chart(ws: Worksheet, table: Table) -> BarChart | LineChart:
    """The charted measure of every data row (not the total), named by its header."""
    last = len(table.rows) + 1
    column = table.chart + 2
    if table.over_time:
        chart = LineChart()
    else:
        chart = BarChart()
        chart.type = "bar"  # one horizontal bar per group, as on the page
    chart.title = table.title
    chart.add_data(Reference(ws, min_col=column, min_row=1, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=last))
    chart.y_axis.title = table.headers[column - 1]
    chart.y_axis.number_format = FORMATS[table.charted.kind]
    chart.legend = None
    chart.width = 24
    chart.height = max(8, min(0.6 * len(table.rows), 24))
    return chart


def _about_sheet(ws: Worksheet, about: Sequence[tuple[str, str]]) -> None:
    for index, (what, value) in enumerate(about, start=1):
        _text(ws, index, 1, what).font = reports.HEADER_FONT
        _text(ws, index, 2, value)
    ws.column_dimensions["A"].width = LABEL_WIDTH
    ws.column_dimensions["B"].width = 100


def _text(ws: Worksheet, row: int, column: int, value: str):
    cell = ws.cell(row, column)
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
    cell.data_type = "s"  # kept as text even when it starts with "="
    return cell


def _sheet_title(title: str) -> str:
    return title.translate(SHEET_TITLE_FORBIDDEN)[:SHEET_TITLE_MAX]
