"""Alipay's trade bill (a zip of GBK CSV files) read as a TRANSACTION_COLUMNS frame."""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Iterator
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.money import yuan_text
from integrations import statements
from integrations.payments.alipay.codes import BILL_KINDS
from integrations.statements import StatementInvalid

# The 业务明细 file's column header (Alipay's trade bill, 25 columns).
BILL_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号",
    "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）",
    "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）",
    "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）",
    "分润（元）", "备注",
)  # fmt: skip
BILL_TITLE = "#支付宝业务明细查询"
BILL_LIST_END = "业务明细列表结束"
_BILL_ENCODING = "gbk"
_SIGNED_YUAN = r"^-?(0|[1-9][0-9]{0,12})\.[0-9]{2}$"
_MAX_HEAD_LINES = 20  # comment lines before the column header
_READ_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "完成时间", "订单金额（元）", "商家实收（元）",
    "退款批次号/请求号", "服务费（元）",
)  # fmt: skip


def parse_bill(content: bytes) -> pd.DataFrame:
    """The downloaded bill zip as a TRANSACTION_COLUMNS frame; raises StatementInvalid.

    Only the 业务明细 file is read (line numbers are its lines). A 交易 line is a payment:
    ``ref`` 商户订单号, ``amount`` 订单金额. A 退款 line is a refund, written with negative
    amounts: ``ref`` 退款批次号/请求号 (our out_request_no; 商户订单号 when it is empty),
    ``amount`` minus 订单金额. ``provider_ref`` is 支付宝交易号 (a refund has no number of
    its own), ``fee`` is minus 服务费 (Alipay writes the fee it keeps as a negative 服务费 and
    the fee a refund gives back as a positive one), and ``occurred_at`` is 完成时间, in
    Beijing time. A footer's counts and sums must agree with the lines.
    """
    _, detail = statements.zip_member(
        content,
        lambda info: _member_name(info).endswith("_业务明细.csv"),
        missing="the archive does not hold exactly one 业务明细 file",
    )
    try:
        text = _utf8(detail)
    except _Malformed as malformed:
        _refuse(malformed)
    return _read_checked(text, whole=True)


class _Malformed(Exception):
    """A line that is not one CSV record of the 业务明细's fields, or not GBK; ``before`` is
    the file's text (UTF-8) up to that line."""

    def __init__(self, line: int, problem: str, before: bytes) -> None:
        super().__init__(problem)
        self.line, self.problem, self.before = line, problem, before


def _read_checked(text: bytes | bytearray, *, whole: bool) -> pd.DataFrame:
    """_read_bill, its first bad line refused."""
    try:
        return _read_bill(text, whole=whole)
    except _Malformed as malformed:
        _refuse(malformed)


def _refuse(malformed: _Malformed) -> NoReturn:
    """Refuse the malformed line, unless the whole lines before it have a problem."""
    statements.refuse_line(
        malformed.line,
        malformed.problem,
        lambda: _read_checked(malformed.before, whole=False),
    )


def _utf8(detail: bytes | bytearray, *, step: int = 1 << 24) -> bytearray:
    """The GBK file as UTF-8, converted a few megabytes of whole lines at a time."""
    text, start, lines = bytearray(), 0, 0
    while start < len(detail):
        stop = detail.find(b"\n", min(start + step, len(detail))) + 1 or len(detail)
        chunk = detail[start:stop]
        try:
            text += chunk.decode(_BILL_ENCODING).encode()
        except UnicodeDecodeError as exc:
            whole = chunk[: chunk.rfind(b"\n", 0, exc.start) + 1].decode(_BILL_ENCODING)
            line = lines + chunk.count(b"\n", 0, exc.start) + 1
            raise _Malformed(line, "is not GBK", bytes(text) + whole.encode()) from exc
        start, lines = stop, lines + chunk.count(b"\n")
    return text


def _read_bill(text: bytes | bytearray, *, whole: bool) -> pd.DataFrame:
    """The detail file's text (UTF-8) read and checked; ``whole=False`` reads the lines of
    a file's beginning, without its footer."""
    header_line, block_start = _bill_header(text)
    block_end = text.find(b"\n#", block_start - 1) + 1 or len(text)
    first_line = header_line + 1
    lines = statements.count_lines(text, block_start, block_end)
    fields = statements.csv_fields(
        memoryview(text)[block_start:block_end], BILL_COLUMNS, lines=lines, read=_READ_COLUMNS
    )
    if fields is None:
        raise _first_malformed(text, block_start, block_end, first_line=first_line)
    frame = _bill_frame(fields, first_line=first_line)
    if not whole:
        return frame
    if block_end == len(text):
        problem = f"the bill ends without its {BILL_LIST_END} line"
        raise StatementInvalid(first_line + lines, problem)
    _check_footer(bytes(text[block_end:]).decode(), frame, first_line=first_line + lines)
    return statements.typed(frame, statements.TRANSACTION_COLUMNS)


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:  # the name is UTF-8
        return info.filename
    try:
        return info.filename.encode("cp437").decode(_BILL_ENCODING)
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _bill_header(text: bytes | bytearray) -> tuple[int, int]:
    """The column header's line number, and where the line after it starts."""
    title = BILL_TITLE.encode()
    start, line = 0, 1
    while text.startswith(b"#", start) and line <= _MAX_HEAD_LINES:
        if line == 1 and not text.startswith(title):
            break
        start, line = text.find(b"\n", start) + 1 or len(text), line + 1
    if line == 1:
        raise StatementInvalid(1, f"is not {BILL_TITLE}")
    end = text.find(b"\n", start)
    header = bytes(text[start : end if end >= 0 else len(text)]).decode().rstrip("\r")
    if [name.strip() for name in header.split(",")] != list(BILL_COLUMNS):
        raise StatementInvalid(
            line, "is not the 业务明细 column header (支付宝交易号,商户订单号,…)"
        )
    return line, (end + 1 if end >= 0 else len(text))


def _first_malformed(
    text: bytes | bytearray, start: int, end: int, *, first_line: int
) -> _Malformed:
    """The first detail line of ``text[start:end]`` that is not one record of 25 fields,
    read record by record (only a malformed bill comes here): a quoted field may hold a
    line break, so the lines cannot be judged one at a time."""
    starts = [start]  # where each line read so far starts

    def block_lines() -> Iterator[str]:
        while starts[-1] < end:
            stop = text.find(b"\n", starts[-1], end) + 1 or end
            yield bytes(text[starts[-1] : stop]).decode()
            starts.append(stop)

    def malformed(index: int, problem: str) -> _Malformed:
        return _Malformed(first_line + index, problem, bytes(text[: starts[index]]))

    reader = csv.reader(block_lines())
    read = 0  # lines read so far
    try:
        for fields in reader:
            if reader.line_num != read + 1:
                return malformed(read, "has a quoted field that runs over lines")
            read = reader.line_num
            if not fields:
                return malformed(read - 1, "is empty")
            if len(fields) != len(BILL_COLUMNS):
                problem = f"has {len(fields)} fields, the 业务明细 has {len(BILL_COLUMNS)}"
                return malformed(read - 1, problem)
    except csv.Error:
        return malformed(read, "has a quote that is never closed")
    return malformed(min(read, len(starts) - 1), "cannot be read")


def _bill_frame(fields: dict[str, pa.Array], *, first_line: int) -> pd.DataFrame:
    """The canonical columns of the detail lines, every field checked on the way."""
    checks = statements.LineChecks()
    at = statements.value_at
    kind = pc.utf8_trim_whitespace(fields["业务类型"])  # real bills write "交易\t"
    known = pc.is_in(kind, pa.array(list(BILL_KINDS)))
    checks.check(known, lambda i: f"业务类型 {at(kind, i)} is neither 交易 nor 退款")
    refund = pc.equal(kind, "退款")
    trade_no = pc.utf8_trim_whitespace(fields["支付宝交易号"])
    out_trade_no = pc.utf8_trim_whitespace(fields["商户订单号"])
    request_no = pc.utf8_trim_whitespace(fields["退款批次号/请求号"])
    ref = pc.if_else(pc.and_(refund, pc.not_equal(request_no, "")), request_no, out_trade_no)
    checks.check(pc.not_equal(trade_no, ""), lambda i: "支付宝交易号 is empty")
    checks.check(pc.not_equal(ref, ""), lambda i: "商户订单号 (and 退款批次号/请求号) is empty")
    money = {}
    for name in ("订单金额（元）", "商家实收（元）", "服务费（元）"):
        money[name], ok = statements.fen_of_yuan(fields[name], _SIGNED_YUAN)
        checks.check(ok, lambda i, n=name: f"{n} {at(fields[n], i)} is not yuan with two decimals")
    is_refund = refund.to_numpy(zero_copy_only=False)
    amount = money["订单金额（元）"]
    checks.check(
        np.where(is_refund, amount < 0, amount > 0),
        lambda i: f"订单金额（元） {at(fields['订单金额（元）'], i)} is not "
        + ("negative, as a refund's is" if is_refund[i] else "positive, as a payment's is"),
    )
    done, ok = statements.wall_times(fields["完成时间"])
    checks.check(ok, lambda i: f"完成时间 {at(fields['完成时间'], i)} is not yyyy-MM-dd HH:mm:ss")
    checks.refuse_first(first_line)
    return pd.DataFrame(
        {
            "line_no": np.arange(first_line, first_line + len(amount), dtype=np.int64),
            "kind": statements.strings(pc.if_else(refund, "refund", "payment")),
            "ref": statements.strings(ref),
            "provider_ref": statements.strings(trade_no),
            "amount": np.abs(amount),
            "fee": -money["服务费（元）"],
            "occurred_at": statements.beijing_to_utc(done),
            "received": money["商家实收（元）"],
        }
    )


def _check_footer(footer: str, frame: pd.DataFrame, *, first_line: int) -> None:
    """The lines after the list: comments only, the first the list's end; the counts and
    sums of ``#交易合计…`` and ``#退款合计…`` must be the lines'."""
    lines = footer.split("\n")
    if BILL_LIST_END not in lines[0]:
        raise StatementInvalid(first_line, f"is not the {BILL_LIST_END} line")
    refunds = frame["kind"] == "refund"
    expected = {
        "交易合计：": (str(int((~refunds).sum())), "笔"),
        "退款合计：": (str(int(refunds.sum())), "笔"),
        "商家实收共": (yuan_text(int(frame["received"][~refunds].sum())), "元"),
        "商家实收退款共": (yuan_text(int(frame["received"][refunds].sum())), "元"),
    }
    for number, line in enumerate(lines, start=first_line):
        line = line.rstrip("\r")
        if line and not line.startswith("#"):
            raise StatementInvalid(number, "is neither a comment nor a detail line")
        for label, (value, unit) in expected.items():
            found = re.search(f"{label}(-?[0-9.]+){unit}", line)
            if found and found.group(1) != value:
                raise StatementInvalid(
                    number, f"{label}{found.group(1)}{unit}, the lines add up to {value}{unit}"
                )
