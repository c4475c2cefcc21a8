"""WeChat Pay's ALL trade bill, read and checked line by line into our statement types."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from core.money import BEIJING, fen_from_yuan
from integrations import statements
from integrations.statements import StatementInvalid

BILL_COLUMNS = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
BILL_TOTAL_COLUMNS = (
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
)

_BOM = b"\xef\xbb\xbf"
_TOTALS_HEADER = ",".join(BILL_TOTAL_COLUMNS)
# Detail amounts have two decimals; 手续费 has five, of which the last three are zeros.
_YUAN = r"^(0|[1-9][0-9]{0,12})\.[0-9]{2}$"
_FEE = r"^-?(0|[1-9][0-9]{0,12})\.[0-9]{5}$"
_AMOUNT_COLUMNS = ("应结订单金额", "退款金额", "充值券退款金额", "订单金额", "申请退款金额")
_READ_COLUMNS = (
    "交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "微信退款单号",
    "商户退款单号", "退款金额", "充值券退款金额", "退款状态", "手续费", "订单金额", "申请退款金额",
)  # fmt: skip
_TRADE_STATES_IN_BILL = ("SUCCESS", "REFUND")  # a payment line, a refund line


@dataclass(frozen=True)
class BillRow:
    """One line of the ALL trade bill: a payment (交易状态 SUCCESS) or a refund (REFUND)."""

    trade_time: datetime
    transaction_id: str
    out_trade_no: str
    trade_state: str
    settlement_amount: int  # 应结订单金额, fen
    refund_id: str
    out_refund_no: str
    refund_amount: int  # 退款金额, fen
    refund_status: str
    fee: int  # 手续费, fen
    order_amount: int  # 订单金额, fen
    requested_refund_amount: int  # 申请退款金额, fen


@dataclass(frozen=True)
class TradeBill:
    rows: tuple[BillRow, ...]
    count: int
    settlement_total: int
    refund_total: int
    fee_total: int


@dataclass(frozen=True)
class _BillFile:
    """A checked trade bill: each detail field's text (backtick removed) and the numbers."""

    first_line: int  # the file's line number of the first detail line
    text: dict[str, pa.Array]  # the fields read (_READ_COLUMNS), by name
    fen: dict[str, np.ndarray]  # the amount columns and 手续费, in fen
    trade_time: np.ndarray  # 交易时间, datetime64[s] in Beijing time
    totals: tuple[int, ...]  # the totals line: the count, then each amount in fen


def parse_bill(content: bytes) -> pd.DataFrame:
    """The ALL trade bill as a TRANSACTION_COLUMNS frame; raises StatementInvalid.

    A 交易状态 SUCCESS line is a payment: ``ref`` 商户订单号, ``provider_ref`` 微信订单号,
    ``amount`` 订单金额. A REFUND line is a refund: ``ref`` 商户退款单号, ``provider_ref``
    微信退款单号, ``amount`` 申请退款金额. ``fee`` is 手续费 (negative when a refund gives
    it back); ``occurred_at`` is 交易时间 (the payment's success, the refund's acceptance),
    written in Beijing time. The totals line must agree with the detail lines.
    """
    bill = _read_bill(content)
    refund = pc.equal(bill.text["交易状态"], "REFUND")
    frame = pd.DataFrame(
        {
            "line_no": np.arange(bill.first_line, bill.first_line + len(refund), dtype=np.int64),
            "kind": statements.strings(pc.if_else(refund, "refund", "payment")),
            "ref": statements.strings(
                pc.if_else(refund, bill.text["商户退款单号"], bill.text["商户订单号"])
            ),
            "provider_ref": statements.strings(
                pc.if_else(refund, bill.text["微信退款单号"], bill.text["微信订单号"])
            ),
            "amount": np.where(
                refund.to_numpy(zero_copy_only=False),
                bill.fen["申请退款金额"],
                bill.fen["订单金额"],
            ),
            "fee": bill.fen["手续费"],
            "occurred_at": statements.beijing_to_utc(bill.trade_time),
        }
    )
    return statements.typed(frame, statements.TRANSACTION_COLUMNS)


def parse_trade_bill(content: bytes) -> TradeBill:
    """Read a trade bill file line by line and check its totals; raises ValueError."""
    bill = _read_bill(content)
    text = {name: column.to_pylist() for name, column in bill.text.items()}
    rows = tuple(
        BillRow(
            trade_time=moment.astype(datetime).replace(tzinfo=BEIJING),
            transaction_id=text["微信订单号"][index],
            out_trade_no=text["商户订单号"][index],
            trade_state=text["交易状态"][index],
            settlement_amount=int(bill.fen["应结订单金额"][index]),
            refund_id=text["微信退款单号"][index],
            out_refund_no=text["商户退款单号"][index],
            refund_amount=int(bill.fen["退款金额"][index]),
            refund_status=text["退款状态"][index],
            fee=int(bill.fen["手续费"][index]),
            order_amount=int(bill.fen["订单金额"][index]),
            requested_refund_amount=int(bill.fen["申请退款金额"][index]),
        )
        for index, moment in enumerate(bill.trade_time)
    )
    count, settlement_total, refund_total, _, fee_total, *_ = bill.totals
    return TradeBill(rows, count, settlement_total, refund_total, fee_total)


def _read_bill(content: bytes) -> _BillFile:
    """Split a bill into its parts and check every detail field and the totals."""
    start = len(_BOM) if content.startswith(_BOM) else 0
    header_end = content.find(b"\n", start)
    header = _utf8_line(content[start : header_end if header_end >= 0 else None], 1)
    if header.rstrip("\r").split(",") != list(BILL_COLUMNS):
        raise StatementInvalid(1, "is not the ALL trade bill's header (交易时间,公众账号ID,…)")
    if header_end < 0:
        raise StatementInvalid(2, "the bill ends after its header, without its totals")
    totals_at = content.rfind(b"\n" + _TOTALS_HEADER.encode(), header_end)
    block_end = totals_at + 1 if totals_at >= 0 else len(content)
    fields, lines = _detail_fields(content, header_end + 1, block_end, first_line=2)
    if totals_at < 0:
        raise StatementInvalid(2 + lines, f"the bill ends without its totals ({_TOTALS_HEADER})")
    text, fen, trade_time = _checked_details(fields, first_line=2)
    totals = _totals(content[block_end:], first_line=2 + lines)
    counted = (
        len(trade_time),
        *(int(fen[name].sum()) for name in ("应结订单金额", "退款金额", "充值券退款金额")),
        int(fen["手续费"].sum()),
        *(int(fen[name].sum()) for name in ("订单金额", "申请退款金额")),
    )
    if counted != totals:
        raise StatementInvalid(
            3 + lines, f"the totals line says {totals}, the detail lines add up to {counted}"
        )
    return _BillFile(2, text, fen, trade_time, totals)


def _utf8_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StatementInvalid(line, "is not UTF-8") from exc


def _detail_fields(
    content: bytes, start: int, end: int, *, first_line: int
) -> tuple[dict[str, pa.Array], int]:
    """The fields this module reads from the detail lines ``content[start:end]``, without
    their backticks, as text columns; and the number of lines. Fields are never quoted: a
    comma always separates two fields, and each field starts with a backtick.
    """
    lines = statements.count_lines(content, start, end)
    if end == start:
        return {name: pa.array([], pa.string()) for name in _READ_COLUMNS}, lines
    # Every field has its backtick: one at each line's start and one after each comma
    # (a comma always ends a field, so no value holds ",`").
    backticks = content.count(b",`", start, end) + content.count(b"\n`", start, end - 1)
    backticks += content.startswith(b"`", start)
    fields = statements.csv_fields(
        memoryview(content)[start:end], BILL_COLUMNS, lines=lines, read=_READ_COLUMNS, quoted=False
    )
    if (
        fields is None
        or backticks != lines * len(BILL_COLUMNS)
        or not _is_utf8(content, start, end)  # the reader checks only the fields it keeps
    ):
        _refuse_malformed(content, start, end, first_line=first_line)
    return {name: pc.utf8_slice_codeunits(column, 1) for name, column in fields.items()}, lines


def _is_utf8(content: bytes, start: int, end: int, *, step: int = 1 << 24) -> bool:
    """Whether ``content[start:end]`` is UTF-8, read a few megabytes at a time."""
    while start < end:
        stop = content.find(b"\n", min(start + step, end), end) + 1 or end
        try:
            codecs.utf_8_decode(memoryview(content)[start:stop], "strict", True)
        except UnicodeDecodeError:
            return False
        start = stop
    return True


def _refuse_malformed(content: bytes, start: int, end: int, *, first_line: int) -> NoReturn:
    """Refuse the first detail line that is not 27 backtick-prefixed UTF-8 fields, or a
    line before it whose fields are wrong. Line by line: only a malformed bill comes here.
    """

    def check_before(stop: int) -> None:  # the lines before are whole: are their fields?
        fields, _ = _detail_fields(content, start, stop, first_line=first_line)
        _checked_details(fields, first_line=first_line)

    statements.refuse_bad_line(
        content,
        start,
        end,
        first_line=first_line,
        line_problem=_line_problem,
        check_before=check_before,
    )
    raise StatementInvalid(first_line, "the detail lines cannot be read")


def _line_problem(raw: bytes) -> str | None:
    if not raw:
        return "is empty"
    try:
        fields = raw.decode("utf-8").split(",")
    except UnicodeDecodeError:
        return "is not UTF-8"
    if len(fields) != len(BILL_COLUMNS):
        return f"has {len(fields)} fields, the trade bill has {len(BILL_COLUMNS)}"
    missing = [name for name, value in zip(BILL_COLUMNS, fields, strict=True) if value[:1] != "`"]
    return f"{missing[0]} does not start with a backtick" if missing else None


def _checked_details(
    text: dict[str, pa.Array], *, first_line: int
) -> tuple[dict[str, pa.Array], dict[str, np.ndarray], np.ndarray]:
    """The fields' text, the amounts in fen and 交易时间.

    Every field of every line is checked; the first line with a problem is refused.
    """
    checks = statements.LineChecks()
    at = statements.value_at
    fen: dict[str, np.ndarray] = {}
    for name in _AMOUNT_COLUMNS:
        fen[name], ok = statements.fen_of_yuan(text[name], _YUAN)
        checks.check(ok, lambda i, n=name: f"{n} {at(text[n], i)} is not yuan with two decimals")
    fee_text = pc.if_else(pc.match_substring_regex(text["手续费"], _FEE), text["手续费"], "0.00000")
    whole = pc.ends_with(fee_text, "000")
    fen["手续费"], _ = statements.fen_of_yuan(
        pc.utf8_slice_codeunits(fee_text, 0, -3), r"^-?[0-9]+\.[0-9]{2}$"
    )
    checks.check(
        pc.match_substring_regex(text["手续费"], _FEE),
        lambda i: f"手续费 {at(text['手续费'], i)} is not yuan with five decimals",
    )
    checks.check(whole, lambda i: f"手续费 {at(text['手续费'], i)} is not a whole number of fen")
    trade_time, ok = statements.wall_times(text["交易时间"])
    checks.check(ok, lambda i: f"交易时间 {at(text['交易时间'], i)} is not yyyy-MM-dd HH:mm:ss")
    state = text["交易状态"]
    checks.check(
        pc.is_in(state, pa.array(_TRADE_STATES_IN_BILL)),
        lambda i: f"交易状态 {at(state, i)} is neither SUCCESS nor REFUND",
    )
    payment = pc.equal(state, "SUCCESS").to_numpy(zero_copy_only=False)
    refund = pc.equal(state, "REFUND").to_numpy(zero_copy_only=False)
    for kind, mask, numbers, amount in (
        ("a payment", payment, ("商户订单号", "微信订单号"), "订单金额"),
        ("a refund", refund, ("商户退款单号", "微信退款单号"), "申请退款金额"),
    ):
        for name in numbers:
            empty = pc.equal(text[name], "").to_numpy(zero_copy_only=False)
            checks.check(~(mask & empty), lambda i, k=kind, n=name: f"{k} without its {n}")
        checks.check(
            ~(mask & (fen[amount] <= 0)),
            lambda i, k=kind, a=amount: f"{k} whose {a} is {at(text[a], i)}, not more than 0",
        )
    checks.refuse_first(first_line)
    return text, fen, trade_time


def _totals(tail: bytes, *, first_line: int) -> tuple[int, ...]:
    """The totals header and line at the end of the bill, read and checked."""
    lines = [_utf8_line(raw, first_line + at) for at, raw in enumerate(tail.split(b"\n"))]
    lines = [line.rstrip("\r") for line in lines]
    while len(lines) > 2 and not lines[-1]:
        lines.pop()
    if lines[0] != _TOTALS_HEADER:
        raise StatementInvalid(first_line, f"is not the totals header ({_TOTALS_HEADER})")
    if len(lines) != 2:
        raise StatementInvalid(
            first_line + min(len(lines), 2), "the totals header must be followed by one line"
        )
    fields = lines[1].split(",")
    if len(fields) != len(BILL_TOTAL_COLUMNS) or not all(f.startswith("`") for f in fields):
        raise StatementInvalid(
            first_line + 1,
            f"the totals line does not have {len(BILL_TOTAL_COLUMNS)} backtick-prefixed fields",
        )
    try:
        amounts = [fen_from_yuan(field[1:], signed=True) for field in fields[1:]]
        return (_whole_number(fields[0][1:]), *amounts)
    except ValueError as exc:
        raise StatementInvalid(first_line + 1, f"the totals line: {exc}") from exc


def _whole_number(text: str) -> int:
    """A count such as ``45``; some files write it ``45.0``."""
    match = re.fullmatch(r"([0-9]+)(?:\.0+)?", text)
    if match is None:
        raise ValueError(f"{text!r} is not a count")
    return int(match.group(1))
