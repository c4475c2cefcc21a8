"""Alipay open platform (支付宝开放平台): face-to-face QR payments, refunds, bills, notifications.

The wire protocol is described in docs/alipay.md; this module is the only code that knows
it. Every gateway request is signed with the app's RSA2 key; every answer that reports
success, and every notification, must carry a valid signature by the Alipay public key.
"""

from __future__ import annotations

import base64
import binascii
import csv
import json
import re
import zipfile
from collections.abc import Collection, Iterator, Mapping
from datetime import date, datetime
from typing import Any, NoReturn, TypeGuard
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core import untrusted
from core.money import BEIJING, fen_from_yuan, yuan_text
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

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SIGN_TYPE = "RSA2"
CHARSET = "utf-8"
SUCCESS_CODE = "10000"
NOTIFY_TYPE = "trade_status_sync"

# Gateway code 20000 (isp/aop.unknow-error) and ACQ.SYSTEM_ERROR: Alipay could not decide now.
_UNAVAILABLE_CODE = "20000"
_RETRYABLE_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "isp.unknow-error", "aop.unknow-error"})
_STATUSES = {
    "WAIT_BUYER_PAY": TradeStatus.PENDING,
    "TRADE_SUCCESS": TradeStatus.SUCCEEDED,
    "TRADE_FINISHED": TradeStatus.SUCCEEDED,
    "TRADE_CLOSED": TradeStatus.CLOSED,
}
_ACCEPTED = NotificationAck(200, b"success", "text/plain; charset=utf-8")
_REFUSED = NotificationAck(400, b"fail", "text/plain; charset=utf-8")


class AlipayChannel:
    code = "alipay"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        private_key_pem: str,
        alipay_public_key_pem: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.timeout = timeout
        self.session = session or requests.Session()
        self._private_key = signing.load_private_key(private_key_pem)
        self._alipay_key = signing.load_public_key(alipay_public_key_pem)

    # -- trades ---------------------------------------------------------------------

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        """alipay.trade.precreate: the QR code is the payer's pay_url.

        Alipay assigns the trade_no only when the payer scans the code, so the created
        trade has no provider_trade_no yet.
        """
        _, answer = self._call(
            "alipay.trade.precreate",
            {
                "out_trade_no": request.out_trade_no,
                "total_amount": yuan(request.amount),
                "subject": request.subject,
                "body": request.payment_code,
                "time_expire": beijing_time(request.expires_at),
            },
            notify_url=request.notify_url,
        )
        qr_code = answer.get("qr_code")
        if answer.get("out_trade_no") != request.out_trade_no or not _is_url(qr_code):
            raise ProviderError("alipay.trade.precreate answered without the trade's qr_code")
        return CreatedTrade(
            out_trade_no=request.out_trade_no, provider_trade_no="", pay_url=qr_code
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        sub_code, answer = self._call(
            "alipay.trade.query", {"out_trade_no": out_trade_no}, accept={"ACQ.TRADE_NOT_EXIST"}
        )
        if sub_code == "ACQ.TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        if answer.get("out_trade_no") != out_trade_no:
            raise ProviderError(f"alipay.trade.query: the answer is not about {out_trade_no}")
        try:
            return _trade_result(answer, paid_time_field="send_pay_date")
        except ValueError as exc:
            raise ProviderError(f"alipay.trade.query: {exc}") from exc

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        sub_code, _ = self._call(
            "alipay.trade.close",
            {"out_trade_no": out_trade_no},
            accept={"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR"},
        )
        if sub_code == "ACQ.TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return self.query_trade(out_trade_no, opened_at=opened_at)

    # -- refunds --------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        """alipay.trade.refund, synchronous; out_request_no makes a repeat harmless.

        Only fund_change=Y proves that this call moved money; otherwise (a repeat, or an
        answer Alipay could not settle at once) the refund query says what happened.
        """
        _, answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": request.out_trade_no,
                "refund_amount": yuan(request.amount),
                "out_request_no": request.out_refund_no,
                "refund_reason": request.reason,
            },
        )
        if answer.get("out_trade_no") != request.out_trade_no:
            raise ProviderError(
                f"alipay.trade.refund: the answer is not about {request.out_trade_no}"
            )
        if answer.get("fund_change") != "Y":
            return self.query_refund(
                out_trade_no=request.out_trade_no,
                out_refund_no=request.out_refund_no,
                requested_at=request.requested_at,
            )
        return RefundResult(
            out_refund_no=request.out_refund_no,
            status=RefundStatus.SUCCEEDED,
            amount=request.amount,
            out_trade_no=request.out_trade_no,
            provider_refund_no=request.out_refund_no,
            refunded_at=_optional_time(answer.get("gmt_refund_pay")),
            raw=answer,
        )

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        method = "alipay.trade.fastpay.refund.query"
        sub_code, answer = self._call(
            method,
            {
                "out_trade_no": out_trade_no,
                "out_request_no": out_refund_no,
                "query_options": ["gmt_refund_pay"],
            },
            accept={"ACQ.TRADE_NOT_EXIST"},
        )
        if sub_code == "ACQ.TRADE_NOT_EXIST" or "refund_status" not in answer:
            # Alipay's answer for a refund it never received (or that failed) has no status.
            return RefundResult(
                out_refund_no=out_refund_no,
                status=RefundStatus.NOT_FOUND,
                out_trade_no=out_trade_no,
                raw=answer,
            )
        if answer.get("refund_status") != "REFUND_SUCCESS" or (
            answer.get("out_request_no") != out_refund_no
        ):
            raise ProviderError(f"{method}: unexpected refund_status or out_request_no")
        try:
            amount = fen(answer.get("refund_amount"))
            refunded_at = _optional_time(answer.get("gmt_refund_pay"))
        except ValueError as exc:
            raise ProviderError(f"{method}: {exc}") from exc
        return RefundResult(
            out_refund_no=out_refund_no,
            status=RefundStatus.SUCCEEDED,
            amount=amount,
            out_trade_no=out_trade_no,
            provider_refund_no=out_refund_no,
            refunded_at=refunded_at,
            raw=answer,
        )

    # -- bills ----------------------------------------------------------------------

    def fetch_statement(self, business_date: date) -> bytes:
        """The trade bill (业务明细) of a date: a zip of GBK CSV files, as downloaded."""
        _, answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": business_date.isoformat()},
        )
        url = answer.get("bill_download_url")
        if not _is_url(url):
            raise ProviderError("the bill answer has no bill_download_url")
        response = http.send_answered(
            "bill download", lambda: self.session.get(url, **self._options())
        )
        if response.status_code != 200:
            raise ProviderError(f"bill download: unexpected HTTP {response.status_code}")
        return response.content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications --------------------------------------------------------------

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        fields = _form_fields(body)
        if not _verify(
            signed_content(fields, exclude=("sign", "sign_type")), fields, self._alipay_key
        ):
            raise InvalidNotification("the notification's signature does not verify")
        if fields.get("app_id") != self.app_id:
            raise InvalidNotification("the notification is addressed to another app_id")
        if fields.get("notify_type") != NOTIFY_TYPE or not fields.get("notify_id"):
            raise InvalidNotification("the notification has no notify_id or an unknown type")
        try:
            result = _trade_result(fields, paid_time_field="gmt_payment")
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from exc
        return Notification(notify_id=fields["notify_id"], result=result)

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return _ACCEPTED if accepted else _REFUSED

    # -- the gateway ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        biz: dict[str, Any],
        *,
        notify_url: str = "",
        accept: Collection[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """POST one signed request; return the answer's sub_code ("" on success) and body.

        Signed refusals with a sub_code outside ``accept`` raise ProviderDeclined.
        """
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": CHARSET,
            "sign_type": SIGN_TYPE,
            "timestamp": beijing_time(datetime.now(BEIJING)),
            "version": "1.0",
            "notify_url": notify_url,
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
        }
        params = {key: value for key, value in params.items() if value}
        params["sign"] = sign_content(signed_content(params, exclude=("sign",)), self._private_key)
        response = http.send_answered(
            method,
            lambda: self.session.post(
                self.base_url,
                data={key: value.encode(CHARSET) for key, value in params.items()},
                headers={"Content-Type": f"application/x-www-form-urlencoded; charset={CHARSET}"},
                **self._options(),
            ),
        )
        if response.status_code != 200:
            raise ProviderError(f"{method}: unexpected HTTP {response.status_code}")
        return self._read_answer(method, response.content, accept)

    def _options(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "allow_redirects": False}

    def _read_answer(
        self, method: str, body: bytes, accept: Collection[str]
    ) -> tuple[str, dict[str, Any]]:
        try:
            raw = top_level_raw_values(body.decode(CHARSET))
            node = next(key for key in (_response_key(method), "error_response") if key in raw)
            answer = signing.loads_object(raw[node])
            signature = json.loads(raw["sign"]) if "sign" in raw else None
        except (UnicodeDecodeError, ValueError, StopIteration) as exc:
            raise ProviderError(f"{method}: unreadable answer") from exc
        code, sub_code = answer.get("code"), answer.get("sub_code", "")
        signed = signature is not None and _verify(raw[node], {"sign": signature}, self._alipay_key)
        if signature is not None and not signed:
            raise ProviderError(f"{method}: the answer's signature does not verify")
        if code == _UNAVAILABLE_CODE or sub_code in _RETRYABLE_SUB_CODES:
            raise ProviderUnavailable(f"{method}: {code} {sub_code}")
        if not signed:
            raise ProviderError(f"{method}: unsigned answer {code} {sub_code}")
        if code == SUCCESS_CODE:
            return "", answer
        if sub_code in accept:
            return sub_code, answer
        raise ProviderDeclined(
            f"{method} refused: {code} {sub_code} {answer.get('sub_msg', '')}".strip(),
            code=sub_code or str(code),
        )


# -- signing ---------------------------------------------------------------------------


def signed_content(params: Mapping[str, str], *, exclude: Collection[str]) -> str:
    """The string to sign: ``k=v`` pairs sorted by key, joined by ``&``, not URL-encoded.

    Requests leave out empty values; notifications are checked over every field they carry.
    """
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key not in exclude)


def sign_content(content: str, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA over the UTF-8 content, Base64-encoded: the RSA2 ``sign``."""
    signature = private_key.sign(content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_content(content: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature, ValueError):
        return False
    return True


def _verify(content: str, fields: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> bool:
    signature = fields.get("sign")
    if fields.get("sign_type", SIGN_TYPE) != SIGN_TYPE or not _is_text(signature):
        return False
    return verify_content(content, signature, public_key)


def top_level_raw_values(text: str) -> dict[str, str]:
    """Each top-level member of a JSON object as its exact source text.

    Alipay signs the ``<method>_response`` object as it appears on the wire, so the
    signature is checked over that text, never over a re-serialisation.
    """
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("the answer is not a JSON object")
    members: dict[str, str] = {}
    index = _skip_space(text, index + 1)
    while text[index : index + 1] != "}":
        key, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index)
        if not isinstance(key, str) or text[index : index + 1] != ":" or key in members:
            raise ValueError("the answer is not a JSON object with unique keys")
        start = _skip_space(text, index + 1)
        _, index = decoder.raw_decode(text, start)
        members[key] = text[start:index]
        index = _skip_space(text, index)
        if text[index : index + 1] == ",":
            index = _skip_space(text, index + 1)
        elif text[index : index + 1] != "}":
            raise ValueError("the answer is not a JSON object")
    if text[index + 1 :].strip():
        raise ValueError("the answer has text after its JSON object")
    return members


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


# -- fields ----------------------------------------------------------------------------


def yuan(amount: int) -> str:
    """Fen as Alipay's yuan amount with two decimals: 3000 -> "30.00"."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("an amount is a whole, non-negative number of fen")
    return yuan_text(amount)


def fen(value: object) -> int:
    """Alipay's yuan amount ("12.30", "12.3", "12") in fen; more than 2 decimals is refused."""
    return fen_from_yuan(value)


def beijing_time(moment: datetime) -> str:
    """An aware datetime as Alipay writes times: ``2025-06-01 14:30:00``, Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("Alipay's times must come from timezone-aware datetimes")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is missing")
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a yyyy-MM-dd HH:mm:ss time") from exc


def _optional_time(value: object) -> datetime | None:
    return parse_beijing_time(value) if value else None


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        untrusted.check_size(body)
        pairs = parse_qsl(body.decode(CHARSET), keep_blank_values=True, strict_parsing=True)
        fields = dict(pairs)
        untrusted.check_structure(fields)
    except untrusted.UntrustedInput as exc:
        raise InvalidNotification(f"refused notification: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotification("the notification is not a UTF-8 form") from exc
    if len(fields) != len(pairs):
        raise InvalidNotification("the notification repeats a field")
    return fields


def _trade_result(fields: Mapping[str, Any], *, paid_time_field: str) -> TradeResult:
    """The trade fields of a query answer or a notification; raises ValueError.

    TRADE_CLOSED also names a paid trade refunded in full: a payment time tells it apart
    from a trade closed unpaid, and such a trade is reported as paid.
    """
    status = _STATUSES.get(fields.get("trade_status"))
    if status is None:
        raise ValueError(f"unknown trade_status {fields.get('trade_status')!r}")
    if not (_is_text(fields.get("out_trade_no")) and _is_text(fields.get("trade_no"))):
        raise ValueError("out_trade_no or trade_no is missing")
    paid_at = _optional_time(fields.get(paid_time_field))
    if status is TradeStatus.CLOSED and paid_at is not None:
        status = TradeStatus.SUCCEEDED
    if status is TradeStatus.SUCCEEDED and paid_at is None:
        raise ValueError(f"a paid trade has no {paid_time_field}")
    return TradeResult(
        out_trade_no=fields["out_trade_no"],
        status=status,
        amount=fen(fields.get("total_amount")),
        provider_trade_no=fields["trade_no"],
        paid_at=paid_at,
        raw=dict(fields),
    )


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _is_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and re.fullmatch(r"https?://\S+", value) is not None


# -- the daily bill as a statement frame ------------------------------------------------

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
BILL_KINDS = {"交易": "payment", "退款": "refund"}
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
