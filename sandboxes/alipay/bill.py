"""Alipay's daily trade bill (收单业务账单, bill_type ``trade``) as its download serves it.

A zip named ``<PID>_<yyyyMMdd>.csv.zip`` holding two GBK CSV files: ``…_业务明细.csv`` (one
line per payment and refund, framed by ``#`` comment lines) and ``…_业务明细(汇总).csv``.
The 25 columns, the comment frame and the footer's totals are those of the bills Alipay
serves (alipay.data.dataservice.bill.downloadurl.query). Pure: no I/O.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sandboxes import common
from sandboxes.alipay.wire import BUYER_LOGON_ID, SELLER_ID, yuan

FEE_RATE_BPS = 60  # 服务费: 0.60% of each payment, given back on refunds

TITLE = "#支付宝业务明细查询"
COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
    "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
    "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）",
    "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）",
    "分润（元）", "备注",
)  # fmt: skip
SUMMARY_COLUMNS = (
    "门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）",
    "商家实收（元）", "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）",
    "分润（元）", "实收净额（元）",
)  # fmt: skip
_LIST_START = "#-----------------------------------------{}----------------------------------------"
_LIST_END = "#-----------------------------------------{}------------------------------------"
EXTRA_COLUMNS = ("out_trade_no", "subject", "created_at")  # read beyond the canonical ones


def render_statement(
    rows: pd.DataFrame,
    *,
    account: str = SELLER_ID,
    bill_date: date | None = None,
    exported_at: datetime | None = None,
) -> bytes:
    """The bill zip for a TRANSACTION_COLUMNS frame: 业务明细 and 业务明细(汇总).

    One detail line per row, in the frame's order (``line_no`` is not read). A refund's
    amounts are negative; ``fee`` is written as minus 服务费. Columns beyond the canonical
    ones fill what the frame does not hold: ``out_trade_no`` (a refund's trade; empty
    when absent), ``subject`` and ``created_at`` (the trade's creation; ``occurred_at``
    when absent). ``bill_date`` defaults to the Beijing date of the first row, and
    ``exported_at`` to 09:00 the next morning. Built column by column, never line by line.
    """
    bill = common.bill_lines(rows)
    amount, fees, is_refund = bill.amount, bill.fee, bill.is_refund
    money = common.yuan_text(np.where(is_refund, -amount, amount))
    occurred = common.beijing_text(rows["occurred_at"])
    created = common.beijing_text(rows["created_at"]) if "created_at" in rows else occurred
    fields = [
        # Alipay ends its numbers with a tab, so that spreadsheets keep them as text.
        common.joined(_text(rows, "provider_ref"), "\t"),
        common.joined(bill.either(_text(rows, "out_trade_no"), _text(rows, "ref")), "\t"),
        bill.either("退款", "交易"),
        _text(rows, "subject"),
        created,
        occurred,
        *("", "", "", ""),
        BUYER_LOGON_ID,
        money,
        money,
        *("0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00"),
        bill.either(_text(rows, "ref"), ""),
        common.yuan_text(-fees),
        "0.00",
        "",
    ]
    lines = str(common.lines_of(fields, ",", end="\r\n"), "utf-8")
    if bill_date is None:
        first = pd.to_datetime(rows["occurred_at"].iloc[:1], utc=True)
        bill_date = (
            (first + pd.Timedelta(hours=8)).dt.date.iloc[0] if len(first) else date(2000, 1, 1)
        )
    exported_at = exported_at or datetime.combine(bill_date + timedelta(days=1), time(9, 0))
    totals = {
        "payments": int((~is_refund).sum()),
        "refunds": int(is_refund.sum()),
        "paid": int(amount[~is_refund].sum()),
        "refunded": int(-amount[is_refund].sum()),
        "fees": int(-fees.sum()),
    }
    stem = f"{account}_{bill_date:%Y%m%d}"
    buffer = io.BytesIO()
    # The fastest DEFLATE level: big bills are written for benchmarks, and any level reads.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(
            f"{stem}_业务明细.csv", _detail_csv(lines, account, bill_date, exported_at, totals)
        )
        archive.writestr(
            f"{stem}_业务明细(汇总).csv", _summary_csv(account, bill_date, exported_at, totals)
        )
    return buffer.getvalue()


def _detail_csv(
    lines: str, account: str, bill_date: date, exported_at: datetime, totals: dict[str, int]
) -> bytes:
    head = [
        TITLE,
        *_period(account, bill_date),
        _LIST_START.format("业务明细列表"),
        ",".join(COLUMNS),
    ]
    foot = [
        _LIST_END.format("业务明细列表结束"),
        f"#交易合计：{totals['payments']}笔，商家实收共{_signed_yuan(totals['paid'])}元，"
        "商家优惠共0.00元",
        f"#退款合计：{totals['refunds']}笔，商家实收退款共{_signed_yuan(totals['refunded'])}元，"
        "商家优惠退款共0.00元",
        f"#导出时间：[{exported_at:%Y年%m月%d日 %H:%M:%S}]",
    ]
    text = "".join(f"{line}\r\n" for line in head) + lines + "".join(f"{line}\r\n" for line in foot)
    return text.encode("gbk", errors="replace")


def _summary_csv(
    account: str, bill_date: date, exported_at: datetime, totals: dict[str, int]
) -> bytes:
    ordered = _signed_yuan(totals["paid"] + totals["refunded"])
    net = _signed_yuan(totals["paid"] + totals["refunded"] + totals["fees"])
    lines = [
        "#支付宝业务汇总查询",
        *_period(account, bill_date),
        _LIST_START.format("业务汇总列表"),
        ",".join(SUMMARY_COLUMNS),
        ",".join(
            [
                *("", "", str(totals["payments"]), str(totals["refunds"]), ordered, ordered),
                *("0.00", "0.00", "0.00", _signed_yuan(totals["fees"]), "0.00", net),
            ]
        ),
        _LIST_END.format("业务汇总列表结束"),
        f"#导出时间：[{exported_at:%Y年%m月%d日 %H:%M:%S}]",
    ]
    return "".join(f"{line}\r\n" for line in lines).encode("gbk", errors="replace")


def _period(account: str, bill_date: date) -> list[str]:
    end = bill_date + timedelta(days=1)
    return [
        f"#账号：[{account}]",
        f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   终止日期：[{end:%Y年%m月%d日} 00:00:00]",
    ]


def _signed_yuan(amount: int) -> str:
    return f"-{yuan(-amount)}" if amount < 0 else yuan(amount)


def _text(rows: pd.DataFrame, name: str) -> pa.Array | str:
    """A text column as a CSV field (quoted when it must be, line breaks made spaces)."""
    values = common.text_column(rows, name)
    if not isinstance(values, str) and pc.any(pc.match_substring_regex(values, "[\r\n]")).as_py():
        values = pc.replace_substring_regex(values, "[\r\n]", " ")
    return common.csv_field(values)
