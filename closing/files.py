"""A settlement report as the files the finance bureau receives: an xlsx workbook and a CSV.

Money is written as reconciliation/reports.py writes it (exact yuan from fen), with its
sheets and CSV writers. The workbook's statuses are in Chinese and English; the CSV keeps
the codes, for programs: one row per fee item, then the total, every row naming the
report, so the file reads alone. The CSV is what is signed (closing/signing.py): it holds
what an approved report fixes and nothing that changes after it, the remittance ordered
(amount, destination, EndToEndId, execution date) and not how far it has got.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any, BinaryIO

from openpyxl import Workbook

from closing.models import (
    InstructionStatus,
    RemittanceStatus,
    ReportStatus,
    SettlementReport,
)
from core.money import BEIJING
from reconciliation.reports import COUNT, DAY, YUAN, csv_lines, label, write_sheet, yuan, yuan_text

LINE_HEADER = [
    "收费项目编码 Fee item code",
    "收费项目 Fee item",
    "收款笔数 Payments",
    "收款 Collected",
    "退款笔数 Refunds",
    "退款 Refunded",
    "减免笔数 Waivers",
    "减免 Waived",
    "净额 Net",
]
LINE_FORMATS = [None, None, COUNT, YUAN, COUNT, YUAN, COUNT, YUAN, YUAN]
LINE_WIDTHS = [16, 30, 10, 16, 10, 16, 10, 16, 16]
LINE_AMOUNTS = (3, 5, 7, 8)
TOTAL = "合计 Total"

REPORT_HEADER = ["项目 Field", "内容 Value"]
REPORT_FORMATS = [None, None]
REPORT_WIDTHS = [28, 48]

REMITTANCE_HEADER = [
    "端到端编号 EndToEndId",
    "缴库金额 Amount",
    "收款账户 Destination account",
    "收款户名 Destination",
    "请求执行日 Execution date",
    "指令状态 Instruction",
    "银行回执 Bank status",
    "到账核对 Statement",
    "对账单日期 Statement date",
    "对账单金额 Statement amount",
    "银行流水号 Bank reference",
]
REMITTANCE_FORMATS = [None, YUAN, None, None, DAY, None, None, None, DAY, YUAN, None]
REMITTANCE_WIDTHS = [30, 16, 22, 28, 12, 14, 10, 16, 12, 16, 22]

CSV_IDENTITY = [
    "结报编号 Report",
    "版本 Version",
    "执收单位编码 Department code",
    "执收单位 Department",
    "业务日期 Business date",
    "状态 Status",
]
CSV_REMITTANCE = [
    "应缴库 To remit",
    "缴库账户 Destination account",
    "缴库户名 Destination",
    "端到端编号 EndToEndId",
    "请求执行日 Execution date",
]


def write_xlsx(report: SettlementReport, out: BinaryIO) -> None:
    workbook = Workbook(write_only=True)
    write_sheet(
        workbook, "结报 Report", REPORT_HEADER, REPORT_FORMATS, REPORT_WIDTHS, _facts(report)
    )
    write_sheet(workbook, "明细 Lines", LINE_HEADER, LINE_FORMATS, LINE_WIDTHS, _xlsx_lines(report))
    write_sheet(
        workbook,
        "缴库 Remittance",
        REMITTANCE_HEADER,
        REMITTANCE_FORMATS,
        REMITTANCE_WIDTHS,
        _remittance_rows(report),
    )
    workbook.save(out)


def csv_bytes(report: SettlementReport) -> bytes:
    """The report as UTF-8 CSV with a BOM: the bytes that are signed."""
    out = io.BytesIO()
    for chunk in csv_lines(
        [*CSV_IDENTITY, *LINE_HEADER, *CSV_REMITTANCE],
        _csv_rows(report),
        text_columns=(0, 2, 3, 5, 6, 7, 16, 17, 18),
    ):
        out.write(chunk)
    return out.getvalue()


def _lines(report: SettlementReport) -> list[list[Any]]:
    """Each fee item's figures in fen, then the total."""
    rows = [
        [
            line.fee_item_code,
            line.fee_item_name,
            line.payments_count,
            line.collected,
            line.refunds_count,
            line.refunded,
            line.waivers_count,
            line.waived,
            line.net,
        ]
        for line in report.lines.order_by("fee_item_code")
    ]
    total = [
        TOTAL,
        "",
        report.payments_count,
        report.collected,
        report.refunds_count,
        report.refunded,
        report.waivers_count,
        report.waived,
        report.net,
    ]
    return [*rows, total]


def _xlsx_lines(report: SettlementReport) -> Iterator[tuple[bool, list[Any]]]:
    for values in _lines(report):
        for column in LINE_AMOUNTS:
            values[column] = yuan(values[column])
        yield values[0] == TOTAL, values


def _csv_rows(report: SettlementReport) -> Iterator[list[Any]]:
    identity = [
        report.public_id,
        report.version,
        report.department.code,
        report.department.name,
        report.business_date.isoformat(),
        report.status,
    ]
    remittance = getattr(report, "remittance", None)
    ordered = [
        yuan_text(max(report.to_remit, 0)),
        report.destination_account,
        report.destination_name,
        remittance.end_to_end_id if remittance else "",
        remittance.execution_date.isoformat() if remittance else "",
    ]
    for values in _lines(report):
        for column in LINE_AMOUNTS:
            values[column] = yuan_text(values[column])
        yield [*identity, *values, *(ordered if values[0] == TOTAL else [""] * len(ordered))]


def _facts(report: SettlementReport) -> Iterator[tuple[bool, list[Any]]]:
    department = report.department
    facts = [
        ("结报编号 Report", report.public_id),
        ("版本 Version", str(report.version)),
        ("更正 Corrects", report.corrects.public_id if report.corrects else ""),
        ("执收单位 Department", f"{department.code} {department.name}"),
        ("业务日期 Business date", report.business_date.isoformat()),
        ("状态 Status", label(ReportStatus, report.status)),
        ("净额 Net", yuan_text(report.net)),
        ("此前已缴库 Remitted before", yuan_text(report.remitted_before)),
        ("应缴库 To remit", yuan_text(max(report.to_remit, 0))),
        ("缴库账户 Destination account", report.destination_account),
        ("缴库户名 Destination", report.destination_name),
        ("生成时间 Generated at", _when(report.generated_at)),
        ("编制人 Prepared by", report.prepared_by),
        ("提交时间 Submitted at", _when(report.submitted_at)),
        ("审核人 Approved by", report.approved_by),
        ("审核时间 Approved at", _when(report.approved_at)),
        ("退回人 Returned by", report.returned_by),
        ("退回原因 Return reason", report.return_reason),
    ]
    for name, value in facts:
        yield False, [name, value]


def _remittance_rows(report: SettlementReport) -> Iterator[tuple[bool, list[Any]]]:
    remittance = getattr(report, "remittance", None)
    if remittance is None:
        return
    instruction = getattr(remittance, "instruction", None)
    yield (
        False,
        [
            remittance.end_to_end_id,
            yuan(remittance.amount),
            remittance.creditor_account,
            remittance.creditor_name,
            remittance.execution_date,
            label(InstructionStatus, instruction.status) if instruction else None,
            instruction.bank_status if instruction else None,
            label(RemittanceStatus, remittance.status),
            remittance.seen_on,
            yuan(remittance.seen_amount),
            remittance.bank_ref,
        ],
    )


def _when(moment) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S") if moment else ""
