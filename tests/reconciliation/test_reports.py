from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.contrib.auth import get_user_model
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter

from reconciliation import reports
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
)
from tests.conftest import make_department

DAY = date(2026, 11, 26)
NEXT_DAY = date(2026, 11, 27)
CHART_NS = "http://schemas.openxmlformats.org/drawingml/2006/chart"
SHEETS = [reports.SUMMARY_SHEET, reports.DISCREPANCY_SHEET, reports.CLEARING_SHEET]
LAST_TYPE_COLUMN = get_column_letter(8 + len(reports.TYPES))  # after the eight figures


def totals(ours, theirs, matched, **by_type):
    return {
        "ours": {"count": ours[0], "amount": ours[1]},
        "theirs": {"count": theirs[0], "amount": theirs[1]},
        "matched": {"count": matched[0], "amount": matched[1]},
        "discrepancies": {
            kind: {"count": count, "amount": amount} for kind, (count, amount) in by_type.items()
        },
    }


def make_run(party, business_date=DAY, **fields):
    return ReconciliationRun.objects.create(
        business_date=business_date,
        party=party,
        **{"party_kind": PartyKind.PROCESSOR, "status": "succeeded", **fields},
    )


def discrepancy(run, key, kind, department=None, **fields):
    return Discrepancy.objects.create(
        run=run,
        business_date=run.business_date,
        party=run.party,
        type=kind,
        key=key,
        department=department,
        owner=fields.pop("owner", "channel"),
        **fields,
    )


def clearing(department, processor, business_date=DAY, **amounts):
    payments, refunds, fees = amounts["payments"], amounts["refunds"], amounts["fees"]
    return Clearing.objects.create(
        business_date=business_date,
        processor=processor,
        department=department,
        settlement_date=date(2026, 11, 27),
        payments_count=amounts["count"],
        payments_amount=payments,
        refunds_amount=refunds,
        fees_amount=fees,
        net_amount=payments - refunds - fees,
        arrival=amounts.get("arrival", "pending"),
        credited_amount=amounts.get("credited", 0),
    )


@pytest.fixture
def data(db):
    market = make_department("SCJG01", "市市场监督管理局")
    transport = make_department("JTYS02", "市交通运输局")
    alipay = make_run(
        "alipay",
        totals=totals(
            (1000, 123_456_789),
            (999, 123_456_700),
            (997, 123_400_000),
            amount_mismatch=(1, 56),
            missing_in_channel=(2, 10),
            missing_in_ledger=(1, 89),
        ),
    )
    wechat = make_run(
        "wechatpay",
        totals=totals((10, 5000), (10, 5000), (10, 5000)),
    )
    queued = make_run("unionpay", status="queued")
    make_run("alipay", business_date=NEXT_DAY, totals=totals((1, 1), (1, 1), (1, 1)))
    clerk = get_user_model().objects.create_user("li.na")
    discrepancy(
        alipay,
        "k1",
        DiscrepancyType.AMOUNT_MISMATCH,
        market,
        our_ref="PO0001",
        their_ref="2026112622001",
        our_amount=123_456,
        their_amount=123_400,
        assignee=clerk,
        status="assigned",
    )
    discrepancy(
        alipay,
        "k2",
        DiscrepancyType.MISSING_IN_CHANNEL,
        transport,
        our_ref="PO0002",
        our_amount=5,
        owner="ours",
    )
    discrepancy(
        alipay,
        "k3",
        DiscrepancyType.MISSING_IN_CHANNEL,
        market,
        our_ref="PO0003",
        our_amount=-0,
        their_ref='=HYPERLINK("http://evil.example","x")',
    )
    discrepancy(
        alipay, "k4", DiscrepancyType.MISSING_IN_LEDGER, None, their_ref="T9", their_amount=99
    )
    discrepancy(wechat, "k5", DiscrepancyType.DUPLICATE, transport, our_amount=7)
    clearing(market, "alipay", count=3, payments=300_00, refunds=50_00, fees=1_23, credited=0)
    clearing(market, "wechatpay", count=2, payments=99_99, refunds=0, fees=1, credited=99_98)
    clearing(transport, "alipay", count=1, payments=123_456, refunds=0, fees=6, credited=0)
    clearing(transport, "alipay", business_date=NEXT_DAY, count=1, payments=1, refunds=0, fees=0)
    return {
        "market": market,
        "transport": transport,
        "alipay": alipay,
        "wechat": wechat,
        "queued": queued,
    }


def workbook_bytes(run, departments=None) -> bytes:
    out = io.BytesIO()
    reports.write_xlsx(run, out, departments=departments)
    return out.getvalue()


def read(run, departments=None):
    return load_workbook(io.BytesIO(workbook_bytes(run, departments)))


def rows(ws):
    return [list(row) for row in ws.iter_rows(values_only=True)]


def csv_rows(chunks) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(chunks)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_yuan_is_exact_for_every_fen_amount():
    assert reports.yuan(123456) == Decimal("1234.56")
    assert str(reports.yuan(5)) == "0.05"
    assert str(reports.yuan(0)) == "0.00"
    assert str(reports.yuan(-1)) == "-0.01"
    assert str(reports.yuan(10**17 + 1)) == "1000000000000000.01"
    assert reports.yuan(None) is None
    assert [reports.yuan_text(f) for f in (100, 7, -250, None)] == ["1.00", "0.07", "-2.50", ""]


def test_the_workbook_has_three_sheets_each_with_a_frozen_filtered_printable_header(data):
    wb = read(data["alipay"])

    assert wb.sheetnames == SHEETS
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws.print_title_rows == "$1:$1"
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1
        assert ws.page_setup.fitToHeight == 0
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True
        assert all(cell.font.bold for cell in ws[1])
    summary, found, clearings = wb.worksheets
    # Three runs of the date, the total row outside; a column per discrepancy type after H.
    assert summary.auto_filter.ref == f"A1:{LAST_TYPE_COLUMN}4"
    assert found.auto_filter.ref == "A1:M5"
    assert clearings.auto_filter.ref == "A1:K7"


def test_the_summary_has_a_row_per_party_of_the_date_with_exact_yuan(data):
    ws = read(data["alipay"])[reports.SUMMARY_SHEET]
    table = rows(ws)
    types = reports.TYPES

    assert table[0][:3] == ["对账方 Party", "状态 Status", "我方笔数 Our count"]
    # Each type's column, and each status, by its label in Chinese and English.
    assert table[0][8:] == [reports.label(DiscrepancyType, t) for t in types]
    assert table[0][8] == "对方无记录 missing in channel"
    alipay, unionpay, wechat, total = table[1:5]
    assert alipay[:8] == ["alipay", "成功 succeeded", 1000, 1234567.89, 999, 1234567, 997, 1234000]
    counts = dict(zip(types, alipay[8:], strict=True))
    assert counts == {
        **dict.fromkeys(types, 0),
        "amount_mismatch": 1,
        "missing_in_channel": 2,
        "missing_in_ledger": 1,
    }
    assert unionpay == ["unionpay", "排队中 queued"] + [None] * (6 + len(types))  # no totals yet
    assert wechat[:8] == ["wechatpay", "成功 succeeded", 10, 50, 10, 50, 10, 50]
    assert total[:8] == ["合计 Total", None, 1010, 1234617.89, 1009, 1234617, 1007, 1234050]
    assert ws["D2"].number_format == "#,##0.00"
    assert ws["C2"].number_format == "#,##0"
    assert ws["A5"].font.bold
    assert len(table) == 5  # the next day's run is not in this date's summary


def test_the_summary_has_a_bar_chart_of_discrepancy_counts_by_type(data):
    raw = workbook_bytes(data["alipay"])

    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        names = archive.namelist()
        chart_xml = archive.read("xl/charts/chart1.xml").decode()
        drawing_rels = archive.read("xl/drawings/_rels/drawing1.xml.rels").decode()
        sheet_rels = archive.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
    assert "xl/charts/chart1.xml" in names
    assert "/xl/charts/chart1.xml" in drawing_rels
    assert "drawing1.xml" in sheet_rels  # the drawing belongs to the summary sheet
    chart = ElementTree.fromstring(chart_xml)  # noqa: S314 - the file this test just wrote
    assert chart.find(f".//{{{CHART_NS}}}barChart") is not None
    last = LAST_TYPE_COLUMN
    assert f"'汇总 Summary'!$I$1:${last}$1" in chart_xml  # the types are the categories
    for row in (2, 3, 4):
        assert f"'汇总 Summary'!$I${row}:${last}${row}" in chart_xml
        assert f"'汇总 Summary'!$A${row}" in chart_xml
    charts = load_workbook(io.BytesIO(raw))[reports.SUMMARY_SHEET]._charts
    assert len(charts) == 1
    assert charts[0].type == "bar"
    assert len(charts[0].series) == 3


def test_the_discrepancy_sheet_lists_the_runs_discrepancies_with_yuan_amounts(data):
    ws = read(data["alipay"])[reports.DISCREPANCY_SHEET]
    table = rows(ws)

    assert table[0] == reports.DISCREPANCY_HEADER
    by_ref = {row[5] or row[6]: row for row in table[1:]}
    assert set(by_ref) == {"PO0001", "PO0002", "PO0003", "T9"}  # not the wechatpay run's
    mismatch = by_ref["PO0001"]
    assert mismatch[1:8] == [
        "alipay",
        "金额不符 amount mismatch",
        "已分派 assigned",
        "SCJG01",
        "PO0001",
        "2026112622001",
        1234.56,
    ]
    assert mismatch[8:12] == [1234.0, 0.56, "channel", "li.na"]
    assert mismatch[0].date() == DAY
    assert by_ref["PO0002"][7:10] == [0.05, None, 0.05]  # missing there: all of ours differs
    assert by_ref["T9"][4] is None
    assert by_ref["T9"][7:10] == [None, 0.99, -0.99]
    cells = {row[5].value or row[6].value: row for row in ws.iter_rows(min_row=2)}
    assert cells["PO0001"][0].number_format == "yyyy-mm-dd"
    assert [cells["PO0001"][i].number_format for i in (7, 8, 9)] == ["#,##0.00"] * 3
    types = sorted(data["alipay"].discrepancies.values_list("type", flat=True))
    assert [row[2] for row in table[1:]] == [reports.label(DiscrepancyType, t) for t in types]


def test_text_from_a_party_is_never_made_a_formula(data):
    ws = read(data["alipay"])[reports.DISCREPANCY_SHEET]
    cell = next(row[6] for row in ws.iter_rows(min_row=2) if row[5].value == "PO0003")

    assert cell.data_type == "s"
    assert cell.value == '=HYPERLINK("http://evil.example","x")'
    _, table = csv_rows(reports.csv_chunks(data["alipay"], departments=None))
    their_refs = [row[6] for row in table[1:] if row[5] == "PO0003"]
    assert their_refs == ['\'=HYPERLINK("http://evil.example","x")']


def test_the_clearing_sheet_has_a_subtotal_per_department_and_a_total(data):
    ws = read(data["alipay"])[reports.CLEARING_SHEET]
    table = rows(ws)

    assert table[0] == reports.CLEARING_HEADER
    assert [row[:3] for row in table[1:]] == [
        ["JTYS02", "市交通运输局", "alipay"],
        ["JTYS02", "小计 Subtotal 市交通运输局", None],
        ["SCJG01", "市市场监督管理局", "alipay"],
        ["SCJG01", "市市场监督管理局", "wechatpay"],
        ["SCJG01", "小计 Subtotal 市市场监督管理局", None],
        ["合计 Total", None, None],
    ]
    assert table[1][3].date() == NEXT_DAY
    assert table[1][4:] == [1, 1234.56, 0, 0.06, 1234.5, "处理中 pending", 0]
    assert table[5][4:] == [5, 399.99, 50, 1.24, 348.75, None, 99.98]
    assert table[6][4:] == [6, 1634.55, 50, 1.30, 1583.25, None, 99.98]
    assert ws["F2"].number_format == "#,##0.00"
    assert ws["A6"].font.bold and not ws["A4"].font.bold


def test_a_department_scoped_workbook_shows_only_its_departments(data):
    wb = read(data["alipay"], departments=[data["market"].id])

    found = rows(wb[reports.DISCREPANCY_SHEET])[1:]
    assert sorted(row[5] for row in found) == ["PO0001", "PO0003"]
    assert {row[4] for row in found} == {"SCJG01"}
    clearings = rows(wb[reports.CLEARING_SHEET])[1:]
    assert {row[0] for row in clearings} == {"SCJG01"}
    assert len(clearings) == 3  # two clearings and their subtotal, no grand total
    summary = rows(wb[reports.SUMMARY_SHEET])
    alipay = summary[1]
    assert alipay[2:8] == [None] * 6  # party totals span every department
    counts = dict(zip(reports.TYPES, alipay[8:], strict=True))
    assert counts["amount_mismatch"] == 1
    assert counts["missing_in_channel"] == 1  # the transport department's one is not counted
    assert counts["missing_in_ledger"] == 0  # no department: not the reader's
    assert summary[3][8:] == [0] * len(reports.TYPES)  # wechatpay's duplicate is transport's
    assert summary[6][0] == reports.SCOPED_NOTE


def test_an_empty_scope_shows_nothing(data):
    wb = read(data["alipay"], departments=[])

    assert rows(wb[reports.DISCREPANCY_SHEET]) == [reports.DISCREPANCY_HEADER]
    assert rows(wb[reports.CLEARING_SHEET]) == [reports.CLEARING_HEADER]
    _, table = csv_rows(reports.csv_chunks(data["alipay"], departments=[]))
    assert table == [reports.DISCREPANCY_HEADER]


def test_the_discrepancy_csv_has_a_bom_the_header_and_yuan_strings(data):
    raw, table = csv_rows(reports.csv_chunks(data["alipay"], departments=None))

    assert raw.startswith(b"\xef\xbb\xbf" + "业务日期 Business date,".encode())
    assert table[0] == reports.DISCREPANCY_HEADER
    by_ref = {row[5] or row[6]: row for row in table[1:]}
    assert by_ref["PO0001"] == [
        "2026-11-26",
        "alipay",
        "amount_mismatch",
        "assigned",
        "SCJG01",
        "PO0001",
        "2026112622001",
        "1234.56",
        "1234.00",
        "0.56",
        "channel",
        "li.na",
        "",
    ]
    assert by_ref["PO0002"][7:10] == ["0.05", "", "0.05"]
    assert by_ref["T9"][4] == ""
    assert by_ref["T9"][7:10] == ["", "0.99", "-0.99"]


def test_a_department_scoped_csv_shows_only_its_departments(data):
    _, table = csv_rows(reports.csv_chunks(data["alipay"], departments=[data["transport"].id]))

    assert [row[5] for row in table[1:]] == ["PO0002"]
    _, table = csv_rows(reports.clearing_csv_chunks(DAY, departments=[data["transport"].id]))
    assert table[1:] == [
        [
            "JTYS02",
            "市交通运输局",
            "alipay",
            "2026-11-27",
            "1",
            "1234.56",
            "0.00",
            "0.06",
            "1234.50",
            "pending",
            "0.00",
        ]
    ]


def test_the_clearing_csv_has_the_dates_clearings_without_subtotals(data):
    raw, table = csv_rows(reports.clearing_csv_chunks(DAY, departments=None))

    assert raw.startswith(b"\xef\xbb\xbf")
    assert table[0] == reports.CLEARING_HEADER
    assert [row[:3] for row in table[1:]] == [
        ["JTYS02", "市交通运输局", "alipay"],
        ["SCJG01", "市市场监督管理局", "alipay"],
        ["SCJG01", "市市场监督管理局", "wechatpay"],
    ]
    assert table[2][5:9] == ["300.00", "50.00", "1.23", "248.77"]


def test_csv_is_streamed_in_chunks_that_join_into_the_whole(data, monkeypatch):
    whole = b"".join(reports.csv_chunks(data["alipay"], departments=None))
    monkeypatch.setattr(reports, "CSV_CHUNK_BYTES", 10)

    chunks = list(reports.csv_chunks(data["alipay"], departments=None))

    assert len(chunks) == 5  # the header, then each of the four rows
    assert chunks[0].startswith(b"\xef\xbb\xbf") and chunks[0].endswith(b"\r\n")
    assert not any(chunk.startswith(b"\xef\xbb\xbf") for chunk in chunks[1:])
    assert b"".join(chunks) == whole


@pytest.mark.parametrize(("discrepancies", "cut"), [(4, False), (5, True), (9, True)])
def test_a_sheet_stops_at_the_row_limit_with_a_note(data, monkeypatch, discrepancies, cut):
    run = make_run("bank:icbc", party_kind=PartyKind.BANK)
    for n in range(discrepancies):
        discrepancy(run, f"b{n}", DiscrepancyType.SETTLEMENT_MISMATCH, our_ref=f"R{n}")
    monkeypatch.setattr(reports, "EXCEL_MAX_ROWS", 5)

    ws = read(run)[reports.DISCREPANCY_SHEET]
    table = rows(ws)

    assert len(table) == 5
    if cut:
        assert [row[5] for row in table[1:4]] == ["R0", "R1", "R2"]
        assert table[4][0] == reports.TRUNCATED_NOTE
        assert ws.auto_filter.ref == "A1:M4"
    else:
        assert [row[5] for row in table[1:]] == ["R0", "R1", "R2", "R3"]
        assert ws.auto_filter.ref == "A1:M5"
    _, csv_table = csv_rows(reports.csv_chunks(run, departments=None))
    assert len(csv_table) == 1 + discrepancies  # the CSV has every row


def test_the_clearing_sheet_counts_its_subtotal_rows_against_the_limit(data, monkeypatch):
    monkeypatch.setattr(reports, "EXCEL_MAX_ROWS", 4)

    table = rows(read(data["alipay"])[reports.CLEARING_SHEET])

    assert [row[:3] for row in table] == [
        reports.CLEARING_HEADER[:3],
        ["JTYS02", "市交通运输局", "alipay"],
        ["JTYS02", "小计 Subtotal 市交通运输局", None],
        [reports.TRUNCATED_NOTE, None, None],
    ]
