"""UnionPay's reconciliation zip: its fixed-width ZM file as a TRANSACTION_COLUMNS frame."""

from __future__ import annotations

import re
import zipfile
from datetime import date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from integrations import statements
from integrations.payments.unionpay.codes import TXN_CONSUME, TXN_REFUND
from integrations.statements import StatementInvalid

# 全渠道商户一般交易明细流水文件 (INN{YYMMDD}88ZM_{merId}): one record per line, 42
# fixed-width fields in GBK, one space between them; widths are in bytes.
ZM_FIELDS: tuple[tuple[str, int], ...] = (
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("主账号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("账号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("字段41", 32),
    ("保留使用", 98),
)
ZM_RECORD_BYTES = sum(width for _, width in ZM_FIELDS) + len(ZM_FIELDS) - 1  # 607
ZM_TRANSACTION_CODES = {TXN_CONSUME: "S22", TXN_REFUND: "S30"}  # 交易代码 by 交易类型
_ZM_FILE = re.compile(r"INN([0-9]{6})[0-9]{2}ZM_[0-9A-Za-z]+")
_ZM_AT = {  # each field's first byte in a record, and its width
    name: (sum(width + 1 for _, width in ZM_FIELDS[:index]), width)
    for index, (name, width) in enumerate(ZM_FIELDS)
}


def parse_bill(content: bytes) -> pd.DataFrame:
    """The reconciliation zip as a TRANSACTION_COLUMNS frame; raises StatementInvalid.

    Only the ZM file is read (line numbers are its lines). 交易类型 01 is a payment and 04
    a refund; ``ref`` is our id behind 商户订单号 (``PAYab12`` → ``pay_ab12``; an orderId
    this service did not make is kept as it is), ``provider_ref`` 查询流水号 (queryId),
    ``amount`` 交易金额, ``fee`` 商户手续费 (D: charged to the merchant, C: given back,
    negative), ``occurred_at`` 交易传输时间 (MMDDhhmmss, Beijing time, in the year that puts
    it on or before the settlement date the file is named after).
    """
    settle_date, data = _zm_file(content)
    return _zm_read(data, settle_date)


class _Malformed(Exception):
    """A line that is not a ZM record; ``offset`` is where it starts in the file."""

    def __init__(self, line: int, problem: str, offset: int) -> None:
        super().__init__(problem)
        self.line, self.problem, self.offset = line, problem, offset


def _zm_read(data: bytes | bytearray, settle_date: date) -> pd.DataFrame:
    """The ZM file's records as the canonical frame; its first bad line refused."""
    try:
        records = _zm_records(data)
    except _Malformed as malformed:
        before = malformed.offset  # the whole lines before it may have a problem of their own
        statements.refuse_line(
            malformed.line,
            malformed.problem,
            (lambda: _zm_read(data[:before], settle_date)) if before else None,
        )
    return _zm_frame(records, settle_date)


def _zm_frame(records: np.ndarray, settle_date: date) -> pd.DataFrame:
    """The records' canonical columns, every field read checked on the way."""
    checks = statements.LineChecks()
    at = statements.value_at
    for name, _ in ZM_FIELDS[:-1]:
        start, width = _ZM_AT[name]
        space = records[:, start + width] == ord(" ")
        checks.check(space, lambda i, n=name: f"{n} is not followed by a space")
    texts = {name: _zm_text(records, name) for name in ("查询流水号", "商户订单号", "交易类型")}
    for name in ("查询流水号", "商户订单号"):
        ok = pc.match_substring_regex(texts[name], r"^[0-9A-Za-z]+$").to_numpy(zero_copy_only=False)
        checks.check(ok, lambda i, n=name: f"{n} {at(texts[n], i)} is not letters and digits")
    kind = texts["交易类型"]
    refund = pc.equal(kind, TXN_REFUND).to_numpy(zero_copy_only=False)
    known = pc.is_in(kind, pa.array([TXN_CONSUME, TXN_REFUND])).to_numpy(zero_copy_only=False)
    checks.check(known, lambda i: f"交易类型 {at(kind, i)} is neither 01 (consume) nor 04 (refund)")
    amount, ok = _zm_digits(records, "交易金额")
    checks.check(ok & (amount > 0), lambda i: "交易金额 is not 12 digits of fen above zero")
    fee, ok = _zm_signed(records, "商户手续费")
    checks.check(ok, lambda i: "商户手续费 is not D or C and 12 digits of fen")
    occurred_at, ok = _zm_times(records, settle_date)
    checks.check(ok, lambda i: "交易传输时间 is not a MMDDhhmmss time")
    checks.refuse_first(1)
    frame = pd.DataFrame(
        {
            "line_no": np.arange(1, len(records) + 1, dtype=np.int64),
            "kind": np.where(refund, "refund", "payment"),
            "ref": statements.strings(_our_ids(texts["商户订单号"])),
            "provider_ref": statements.strings(texts["查询流水号"]),
            "amount": amount,
            "fee": fee,
            "occurred_at": occurred_at,
        }
    )
    return statements.typed(frame, statements.TRANSACTION_COLUMNS)


def _zm_file(content: bytes) -> tuple[date, bytearray]:
    """The settlement date in the ZM file's name, and the file's bytes."""
    info, data = statements.zip_member(
        content,
        lambda info: _ZM_FILE.fullmatch(_base_name(info)) is not None,
        missing="the archive does not hold exactly one INN…ZM_ file",
    )
    match = _ZM_FILE.fullmatch(_base_name(info))
    try:
        settle_date = datetime.strptime(match[1], "%y%m%d").date()
    except ValueError as exc:
        raise StatementInvalid(0, f"{info.filename} does not name a settlement date") from exc
    return settle_date, data


def _base_name(info: zipfile.ZipInfo) -> str:
    return info.filename.rsplit("/", 1)[-1]


def _zm_records(data: bytes | bytearray) -> np.ndarray:
    """The file's records as a (records, 607) array of bytes; every line must be one."""
    if not data.isascii():
        try:
            data.decode("gbk")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise _Malformed(line, "is not GBK", data.rfind(b"\n", 0, exc.start) + 1) from exc
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    for mixed in (False, True):  # CRLF or LF; or both, made LF
        text = data.replace(b"\r\n", b"\n") if mixed else data
        for end in (b"\r\n", b"\n"):
            stride = ZM_RECORD_BYTES + len(end)
            whole = text if text.endswith(b"\n") or not text else text + end
            if len(whole) == lines * stride:
                rows = np.frombuffer(whole, dtype=np.uint8).reshape(lines, stride)
                if (rows[:, ZM_RECORD_BYTES:] == np.frombuffer(end, dtype=np.uint8)).all():
                    return rows[:, :ZM_RECORD_BYTES]
    offset = 0
    for number, line in enumerate(data.split(b"\n")[:lines], start=1):
        record = line.removesuffix(b"\r")
        if len(record) != ZM_RECORD_BYTES:
            problem = f"is {len(record)} bytes long, a ZM record is {ZM_RECORD_BYTES}"
            raise _Malformed(number, problem, offset)
        offset += len(line) + 1
    raise _Malformed(1, "the records cannot be read", 0)  # not reached


def _zm_field(records: np.ndarray, name: str) -> np.ndarray:
    start, width = _ZM_AT[name]
    return records[:, start : start + width]


def _zm_text(records: np.ndarray, name: str) -> pa.Array:
    """A field as text without its padding; each byte that is not ASCII reads as ``?``."""
    field = np.array(_zm_field(records, name))
    field[field >= 0x80] = ord("?")
    raw = pa.Array.from_buffers(pa.binary(field.shape[1]), len(field), [None, pa.py_buffer(field)])
    return pc.utf8_rtrim(raw.cast(pa.binary()).cast(pa.string()), " ")


def _zm_digits(records: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A field of digits as numbers, and which values were all digits (others read as 0)."""
    return _number(_zm_field(records, name))


def _zm_signed(records: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A field of D or C and 12 digits: the amount for D (the merchant's debit), minus it
    for C (a credit), and which values were such."""
    field = _zm_field(records, name)
    value, ok = _number(field[:, 1:])
    sign = np.select([field[:, 0] == ord("D"), field[:, 0] == ord("C")], [1, -1], 0)
    return sign * value, ok & (sign != 0)


def _number(digits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = digits.astype(np.int64) - ord("0")
    ok = ((values >= 0) & (values <= 9)).all(axis=1)
    powers = 10 ** np.arange(digits.shape[1] - 1, -1, -1, dtype=np.int64)
    return np.where(ok, values @ powers, 0), ok


def _zm_times(records: np.ndarray, settle_date: date) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """交易传输时间 in UTC, and which values were times.

    The field has no year: it is the settlement date's year, or the year before for a
    month and day after the settlement date's (a December transaction settled in January).
    """
    field = _zm_field(records, "交易传输时间")
    parts = {
        unit: _number(field[:, at : at + 2])
        for unit, at in (("month", 0), ("day", 2), ("hour", 4), ("minute", 6), ("second", 8))
    }
    digits = np.logical_and.reduce([ok for _, ok in parts.values()])
    month, day = parts["month"][0], parts["day"][0]
    later = month * 100 + day > settle_date.month * 100 + settle_date.day
    year = np.where(later, settle_date.year - 1, settle_date.year)
    beijing = pd.to_datetime(
        pd.DataFrame({"year": year, **{unit: value for unit, (value, _) in parts.items()}}),
        errors="coerce",
    )
    ok = digits & beijing.notna().to_numpy()
    return statements.beijing_to_utc(beijing.fillna(pd.Timestamp(0)).to_numpy()), ok


def _our_ids(order_ids: pa.Array) -> pa.Array:
    """our_id for every orderId that is one of ours; the others unchanged."""
    parts = pc.extract_regex(order_ids, r"^(?P<prefix>[A-Z]+)(?P<body>[a-z0-9]+)$")
    ours = pc.binary_join_element_wise(
        pc.utf8_lower(parts.field("prefix")), "_", parts.field("body"), ""
    )
    return pc.if_else(parts.is_valid(), ours, order_ids)
