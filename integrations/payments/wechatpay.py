"""WeChat Pay API v3 (微信支付 APIv3), Native payments: gateway calls, notifications, bills.

The wire protocol is described in docs/wechatpay.md; this module is the only code that
knows it. Every request carries a ``WECHATPAY2-SHA256-RSA2048`` signature by the
merchant's key; every answer and notification must carry a valid signature by the
platform's key, made within five minutes, under the platform serial number we trust.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NoReturn, TypeGuard
from urllib.parse import quote, urlencode, urlsplit

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core import untrusted
from core.money import BEIJING, fen_from_yuan
from integrations import statements
from integrations.payments import http, signing
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    InvalidNotification,
    Notification,
    NotificationAck,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeResult,
    TradeStatus,
)
from integrations.statements import StatementInvalid

AUTH_SCHEMA = "WECHATPAY2-SHA256-RSA2048"
AEAD_ALGORITHM = "AEAD_AES_256_GCM"
MAX_CLOCK_SKEW = 300  # seconds between a signature's timestamp and our clock

_TRADE_STATES = {
    "NOTPAY": TradeStatus.PENDING,
    "USERPAYING": TradeStatus.PENDING,
    "SUCCESS": TradeStatus.SUCCEEDED,
    "REFUND": TradeStatus.SUCCEEDED,  # paid, then (partly) refunded: the payment stands
    "PAYERROR": TradeStatus.FAILED,
    "CLOSED": TradeStatus.CLOSED,
    "REVOKED": TradeStatus.CLOSED,
}
# ABNORMAL is not final: the money left the merchant but did not reach the payer, and
# the merchant must redirect it; treating it as failed would invite a second refund.
_REFUND_STATES = {
    "PROCESSING": RefundStatus.PENDING,
    "ABNORMAL": RefundStatus.PENDING,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "CLOSED": RefundStatus.FAILED,
}
_REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"})
# WeChat could not decide now; whether the call took effect is unknown.
_RETRYABLE_CODES = frozenset({"SYSTEM_ERROR", "FREQUENCY_LIMITED"})
# Close answers these when the trade is already final: the query says which way.
_CLOSE_SETTLED_CODES = frozenset({"ORDERPAID", "ORDER_CLOSED"})

_ACCEPTED = NotificationAck(204, b"", "application/json")
_REFUSED = NotificationAck(
    400, b'{"code":"FAIL","message":"notification not accepted"}', "application/json"
)

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


@dataclass(frozen=True)
class WechatPayCredentials:
    """What the merchant holds: its ids, its key, the APIv3 key and the platform's key."""

    mchid: str
    appid: str
    merchant_serial_no: str
    private_key_pem: str = field(repr=False)
    apiv3_key: str = field(repr=False)  # 32 characters; their UTF-8 bytes are the AES key
    platform_serial_no: str
    platform_public_key_pem: str = field(repr=False)


# -- signatures and encryption: pure functions ------------------------------------------


def signing_text(*lines: str) -> bytes:
    """The signed text: each line followed by ``\\n``, the last one included."""
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def request_text(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> bytes:
    """What the merchant signs: method, path with query, timestamp, nonce, body (GET: "")."""
    return signing_text(method, url_path, timestamp, nonce, body)


def sign(text: bytes, private_key: rsa.RSAPrivateKey) -> str:
    signature = private_key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(text: bytes, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, text, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def authorization(*, mchid: str, serial_no: str, nonce: str, timestamp: str, signature: str) -> str:
    return (
        f'{AUTH_SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def decrypt_resource(apiv3_key: str, resource: Mapping[str, Any]) -> bytes:
    """The plaintext of a notification's ``resource``; raises ValueError if it will not open."""
    if resource.get("algorithm") != AEAD_ALGORITHM:
        raise ValueError(f"resource.algorithm is not {AEAD_ALGORITHM}")
    texts = [resource.get(name) for name in ("ciphertext", "nonce", "associated_data")]
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("resource lacks ciphertext, nonce or associated_data")
    ciphertext, nonce, associated_data = texts
    try:
        return AESGCM(apiv3_key.encode("utf-8")).decrypt(
            nonce.encode("utf-8"),
            base64.b64decode(ciphertext, validate=True),
            associated_data.encode("utf-8"),
        )
    except (binascii.Error, InvalidTag) as exc:
        raise ValueError("resource does not decrypt with the APIv3 key") from exc


def encrypt_resource(apiv3_key: str, plaintext: bytes, *, nonce: str, associated_data: str) -> str:
    """Base64 of AES-256-GCM ciphertext with its 16-byte tag appended, as WeChat sends it."""
    sealed = AESGCM(apiv3_key.encode("utf-8")).encrypt(
        nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8")
    )
    return base64.b64encode(sealed).decode("ascii")


# -- amounts in yuan (bill files only; the JSON API speaks fen) -------------------------


# -- the trade bill ---------------------------------------------------------------------

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


# -- the channel ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    status: int
    data: dict[str, Any]
    signed: bool  # whether the platform signed this answer (2xx answers always are)


class WechatPayChannel:
    code = "wechatpay"

    def __init__(
        self,
        *,
        base_url: str,
        credentials: WechatPayCredentials,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout
        self.session = session or requests.Session()
        self._private_key = signing.load_private_key(credentials.private_key_pem)
        self._platform_key = signing.load_public_key(credentials.platform_public_key_pem)
        if len(credentials.apiv3_key.encode("utf-8")) != 32:
            raise ValueError("the APIv3 key must be 32 bytes")

    # -- trades

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        answer = self._call(
            "POST",
            "/v3/pay/transactions/native",
            {
                "appid": self.credentials.appid,
                "mchid": self.credentials.mchid,
                "description": request.subject,
                "out_trade_no": request.out_trade_no,
                "time_expire": _rfc3339(request.expires_at),
                "attach": request.payment_code,
                "notify_url": request.notify_url,
                "amount": {"total": request.amount, "currency": "CNY"},
            },
        )
        code_url = answer.data.get("code_url")
        if not _is_text(code_url):
            raise ProviderError("native: the answer has no code_url")
        return CreatedTrade(
            out_trade_no=request.out_trade_no, provider_trade_no="", pay_url=code_url
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}"
        query = urlencode({"mchid": self.credentials.mchid})
        answer = self._call("GET", f"{path}?{query}", not_found_ok=True)
        if answer.status == 404:
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        try:
            result = self._trade_result(answer.data)
        except ValueError as exc:
            raise ProviderError(f"query: {exc}") from exc
        if result.out_trade_no != out_trade_no:
            raise ProviderError(f"query: the answer is not about {out_trade_no}")
        return result

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        path = f"/v3/pay/transactions/out-trade-no/{quote(out_trade_no, safe='')}/close"
        try:
            self._call("POST", path, {"mchid": self.credentials.mchid})
        except ProviderDeclined as declined:
            if declined.code not in _CLOSE_SETTLED_CODES:
                raise
        # Close answers 204 with no body, even for a trade it does not know.
        return self.query_trade(out_trade_no, opened_at=opened_at)

    # -- refunds

    def refund(self, request: RefundRequest) -> RefundResult:
        body = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.out_refund_no,
            "amount": {
                "refund": request.amount,
                "total": request.total_amount,
                "currency": "CNY",
            },
        }
        if request.notify_url:  # optional for WeChat, and never an empty string
            body["notify_url"] = request.notify_url
        if request.reason:
            body["reason"] = request.reason
        answer = self._call("POST", "/v3/refund/domestic/refunds", body)
        return self._answered_refund("refund", answer.data, request.out_refund_no)

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        path = f"/v3/refund/domestic/refunds/{quote(out_refund_no, safe='')}"
        answer = self._call("GET", path, not_found_ok=True)
        if answer.status == 404:
            return RefundResult(
                out_refund_no=out_refund_no,
                status=RefundStatus.NOT_FOUND,
                out_trade_no=out_trade_no,
            )
        result = self._answered_refund("refund query", answer.data, out_refund_no)
        if result.out_trade_no != out_trade_no:
            raise ProviderError(f"refund query: {out_refund_no} is not a refund of {out_trade_no}")
        return result

    # -- the bill

    def fetch_statement(self, business_date: date) -> bytes:
        query = urlencode({"bill_date": business_date.isoformat(), "bill_type": "ALL"})
        answer = self._call("GET", f"/v3/bill/tradebill?{query}")
        download_url, hash_value = answer.data.get("download_url"), answer.data.get("hash_value")
        if answer.data.get("hash_type") != "SHA1" or not _is_text(hash_value):
            raise ProviderError("tradebill: the answer has no SHA1 hash")
        if not _is_text(download_url) or not self._is_own_origin(download_url):
            raise ProviderError("tradebill: the download_url is not on the gateway's host")
        content = self._download(download_url)
        digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
        if not hmac.compare_digest(digest, hash_value.lower()):
            raise ProviderError("bill download: the file does not match hash_value")
        try:
            parse_bill(content)
        except StatementInvalid as exc:
            raise ProviderError(f"bill download: {exc}") from exc
        return content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        try:
            untrusted.check_size(body)
            self._check_signature(headers, body)
        except ValueError as exc:
            raise InvalidNotification(f"notification: {exc}") from exc
        try:
            event = untrusted.parse_checked(signing.loads_object, body)
            plaintext = decrypt_resource(self.credentials.apiv3_key, self._resource(event))
            resource = untrusted.parse_checked(signing.loads_object, plaintext)
            return self._notification(event, resource)
        except ValueError as exc:  # MalformedJson is a ValueError too
            raise InvalidNotification(f"notification: {exc}") from exc

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return _ACCEPTED if accepted else _REFUSED

    def _resource(self, event: dict[str, Any]) -> dict[str, Any]:
        resource = event.get("resource")
        if event.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise ValueError("the notification has no encrypt-resource")
        return resource

    def _notification(self, event: dict[str, Any], resource: dict[str, Any]) -> Notification:
        notify_id, event_type = event.get("id"), event.get("event_type")
        if not _is_text(notify_id):
            raise ValueError("the notification has no id")
        if event_type == "TRANSACTION.SUCCESS":
            return Notification(notify_id=notify_id, result=self._trade_result(resource))
        if event_type in _REFUND_EVENTS:
            refund = self._refund_result(resource, status_field="refund_status")
            return Notification(notify_id=notify_id, refund=refund)
        raise ValueError(f"unknown event_type {event_type!r}")

    # -- reading answers

    def _trade_result(self, fields: dict[str, Any]) -> TradeResult:
        """A trade from a query answer or a decrypted notification; raises ValueError."""
        self._check_merchant(fields)
        status = _TRADE_STATES.get(fields.get("trade_state"))
        if status is None:
            raise ValueError(f"unknown trade_state {fields.get('trade_state')!r}")
        out_trade_no, transaction_id = fields.get("out_trade_no"), fields.get("transaction_id", "")
        if not _is_text(out_trade_no) or not isinstance(transaction_id, str):
            raise ValueError("out_trade_no or transaction_id is missing")
        if status is TradeStatus.SUCCEEDED and not transaction_id:
            raise ValueError("a paid trade has no transaction_id")
        amount = _amount(fields, "total", required=status is TradeStatus.SUCCEEDED)
        return TradeResult(
            out_trade_no=out_trade_no,
            status=status,
            amount=amount,
            provider_trade_no=transaction_id,
            paid_at=_time(fields.get("success_time")) if status is TradeStatus.SUCCEEDED else None,
            failure_reason=_text(fields.get("trade_state_desc"))
            if status is TradeStatus.FAILED
            else "",
            raw=dict(fields),
        )

    def _refund_result(self, fields: dict[str, Any], *, status_field: str) -> RefundResult:
        """A refund from an answer (``status``) or a notification (``refund_status``)."""
        self._check_merchant(fields)
        state = fields.get(status_field)
        status = _REFUND_STATES.get(state)
        if status is None:
            raise ValueError(f"unknown {status_field} {state!r}")
        names = ("out_refund_no", "out_trade_no", "refund_id")
        if not all(_is_text(fields.get(name)) for name in names):
            raise ValueError("out_refund_no, out_trade_no or refund_id is missing")
        return RefundResult(
            out_refund_no=fields["out_refund_no"],
            status=status,
            amount=_amount(fields, "refund", required=True),
            out_trade_no=fields["out_trade_no"],
            provider_refund_no=fields["refund_id"],
            refunded_at=_time(fields.get("success_time")) if state == "SUCCESS" else None,
            failure_reason="" if state in ("SUCCESS", "PROCESSING") else state,
            raw=dict(fields),
        )

    def _answered_refund(self, call: str, data: dict[str, Any], out_refund_no: str) -> RefundResult:
        try:
            result = self._refund_result(data, status_field="status")
        except ValueError as exc:
            raise ProviderError(f"{call}: {exc}") from exc
        if result.out_refund_no != out_refund_no:
            raise ProviderError(f"{call}: the answer is not about {out_refund_no}")
        return result

    def _check_merchant(self, fields: dict[str, Any]) -> None:
        """Refund answers carry no mchid; where one is given it must be ours."""
        if fields.get("mchid", self.credentials.mchid) != self.credentials.mchid:
            raise ValueError("the message is about another merchant")

    # -- HTTP

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        not_found_ok: bool = False,
    ) -> _Answer:
        """Send one signed request; return its verified 2xx answer.

        With ``not_found_ok``, a signed 404 saying the trade or refund does not exist is
        returned too; other 4xx answers raise ProviderDeclined with WeChat's code.
        """
        text = "" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        response = self._send(method, self.base_url + path, text)
        answer = self._read(method, path, response)
        if answer.status < 300 or (not_found_ok and _is_signed_not_found(answer)):
            return answer
        code, message = answer.data.get("code"), answer.data.get("message")
        if code in _RETRYABLE_CODES:
            raise ProviderUnavailable(f"{method} {_route(path)}: {code}")
        raise ProviderDeclined(
            f"{method} {_route(path)} refused: HTTP {answer.status} {_text(message)}",
            code=_text(code),
        )

    def _send(self, method: str, url: str, body: str) -> requests.Response:
        parts = urlsplit(url)
        url_path = parts.path + (f"?{parts.query}" if parts.query else "")
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16).upper()
        signature = sign(request_text(method, url_path, timestamp, nonce, body), self._private_key)
        headers = {
            "Accept": "application/json",
            "Authorization": authorization(
                mchid=self.credentials.mchid,
                serial_no=self.credentials.merchant_serial_no,
                nonce=nonce,
                timestamp=timestamp,
                signature=signature,
            ),
        }
        if method == "POST":
            headers["Content-Type"] = "application/json"
        return http.send(
            f"{method} {_route(url_path)}",
            lambda: self.session.request(
                method,
                url,
                data=body.encode("utf-8") if method == "POST" else None,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )

    def _read(self, method: str, path: str, response: requests.Response) -> _Answer:
        where = f"{method} {_route(path)}"
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{where}: HTTP {response.status_code}")
        if response.status_code < 200 or 300 <= response.status_code < 400:
            raise ProviderError(f"{where}: unexpected HTTP {response.status_code}")
        signed = "wechatpay-signature" in {name.lower() for name in response.headers}
        if response.status_code < 300 or signed:
            try:
                self._check_signature(response.headers, response.content)
            except ValueError as exc:
                raise ProviderError(f"{where}: {exc}") from exc
        if response.status_code == 204:
            return _Answer(204, {}, signed=True)
        try:
            data = signing.loads_object(response.content)
        except signing.MalformedJson as exc:
            raise ProviderError(f"{where}: unreadable answer: {exc}") from exc
        return _Answer(response.status_code, data, signed=signed)

    def _check_signature(self, headers: Mapping[str, str], body: bytes) -> None:
        """Raise ValueError unless the platform signed ``body`` recently, under our serial."""
        lower = {name.lower(): value for name, value in headers.items()}
        serial, timestamp, nonce, signature = (
            lower.get(f"wechatpay-{name}", "")
            for name in ("serial", "timestamp", "nonce", "signature")
        )
        if not (serial and timestamp and nonce and signature):
            raise ValueError("the Wechatpay-* signature headers are missing")
        if serial != self.credentials.platform_serial_no:
            raise ValueError("signed under an unknown platform serial number")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
            raise ValueError("the signature's timestamp is more than 5 minutes off")
        try:
            text = signing_text(timestamp, nonce, body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValueError("the body is not UTF-8") from exc
        if not verify(text, signature, self._platform_key):
            raise ValueError("the signature does not verify with the platform key")

    def _download(self, url: str) -> bytes:
        """GET the bill file: the request is signed, the file is not (its hash is)."""
        response = self._send("GET", url, "")
        if response.status_code >= 500:
            raise ProviderUnavailable(f"bill download: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ProviderError(f"bill download: unexpected HTTP {response.status_code}")
        return response.content

    def _is_own_origin(self, url: str) -> bool:
        ours, theirs = urlsplit(self.base_url), urlsplit(url)
        return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def _is_signed_not_found(answer: _Answer) -> bool:
    codes = ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS")
    return answer.status == 404 and answer.signed and answer.data.get("code") in codes


def _route(path: str) -> str:
    """A path for messages, without its query string."""
    return path.split("?", 1)[0]


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the protocol's times must be timezone-aware")
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _time(value: object) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError("success_time is not an RFC 3339 time with an offset")
    return moment


def _amount(fields: dict[str, Any], name: str, *, required: bool) -> int:
    amount = fields.get("amount")
    value = amount.get(name) if isinstance(amount, dict) else None
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"amount.{name} is not a whole number of fen")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""
