"""UnionPay online gateway payment (银联在线网关支付), message version 5.1.0.

The wire protocol is described in docs/unionpay.md; this module is the only code that
knows it. Requests are form-encoded and signed with the merchant certificate's key
(signMethod 01); every answer and back-end notification must carry UnionPay's signing
certificate in ``signPubKeyCert`` and a valid signature by it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core import untrusted
from core.money import BEIJING
from integrations import statements
from integrations.payments import http
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
from integrations.payments.signing import load_private_key
from integrations.statements import StatementInvalid

VERSION = "5.1.0"
SIGN_METHOD = "01"
FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"
FILE_PATH = "/gateway/api/fileTransReq.do"
TXN_CONSUME, TXN_REFUND = "01", "04"

SUCCESS_CODES = frozenset({"00", "A6"})
# "Outcome unknown: query again later" in answers and in queried origRespCode.
UNKNOWN_CODES = frozenset({"03", "04", "05"})
SYSTEM_BUSY_CODE = "06"
NOT_FOUND_CODE = "34"
DUPLICATE_CODE = "12"
NO_FILE_CODE = "98"

_ORDER_ID = re.compile(r"[A-Za-z0-9]{8,40}")
_OUR_ID = re.compile(r"([a-z]+)_([a-z0-9]+)|[a-z0-9]+")
_THEIR_ID = re.compile(r"([A-Z]+)([a-z0-9]+)|[a-z0-9]+")
_FEN = re.compile(r"0|[1-9][0-9]{0,11}")
_NOTIFICATION_FIELDS = ("merId", "orderId", "txnType", "txnTime", "txnAmt", "queryId", "respCode")
_ACCEPTED = NotificationAck(200, b"ok", "text/plain; charset=utf-8")
_REFUSED = NotificationAck(400, b"fail", "text/plain; charset=utf-8")


# -- signing (signMethod 01, version 5.1.0) -------------------------------------------


def string_to_sign(fields: Mapping[str, str]) -> str:
    """Every non-empty field but ``signature``, sorted by name, joined as ``k=v&k=v``."""
    return "&".join(
        f"{name}={fields[name]}"
        for name in sorted(fields)
        if name != "signature" and fields[name] != ""
    )


def signed_digest(fields: Mapping[str, str]) -> bytes:
    """What the RSA key signs: the lowercase hex SHA-256 of the string to sign, as text."""
    return hashlib.sha256(string_to_sign(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(fields: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    raw = private_key.sign(signed_digest(fields), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def signed(
    fields: Mapping[str, str], private_key: rsa.RSAPrivateKey, certificate: x509.Certificate
) -> dict[str, str]:
    """A copy of ``fields`` with ``certId`` (itself signed) and ``signature`` added."""
    with_cert = {**fields, "certId": cert_id(certificate)}
    return {**with_cert, "signature": sign(with_cert, private_key)}


def verify(fields: Mapping[str, str], certificate: x509.Certificate) -> bool:
    """Whether ``fields`` carry a valid signature by the holder of ``certificate``."""
    public_key = certificate.public_key()
    signature = fields.get("signature", "")
    if not isinstance(public_key, rsa.RSAPublicKey) or not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, signed_digest(fields), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature):
        return False
    return True


def cert_id(certificate: x509.Certificate) -> str:
    """The certificate's serial number in decimal, as UnionPay's ``certId`` carries it."""
    return str(certificate.serial_number)


def load_certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def same_certificate(pem: str, certificate: x509.Certificate) -> bool:
    """Whether ``pem`` (as sent in ``signPubKeyCert``) is exactly ``certificate``."""
    try:
        return load_certificate(pem) == certificate
    except ValueError:
        return False


# -- message formats ------------------------------------------------------------------


def parse_answer(text: str) -> dict[str, str]:
    """A synchronous answer: ``k=v&…`` without URL encoding, as UnionPay's SDKs read it.

    Values may contain ``&`` inside ``{…}`` or ``[…]`` (e.g. ``respMsg=成功[0000000]``),
    and ``=`` after the first one. Raises ValueError for a malformed or repeated field.
    """
    fields: dict[str, str] = {}
    for pair in _split_outside_brackets(text):
        name, equals, value = pair.partition("=")
        if not name or not equals or name in fields:
            raise ValueError("the answer is not a list of distinct key=value fields")
        fields[name] = value
    return fields


def _split_outside_brackets(text: str) -> list[str]:
    pairs, start, closer = [], 0, ""
    for index, char in enumerate(text):
        if closer:
            closer = "" if char == closer else closer
        elif char in "{[":
            closer = "}" if char == "{" else "]"
        elif char == "&":
            pairs.append(text[start:index])
            start = index + 1
    pairs.append(text[start:])
    return pairs


def format_answer(fields: Mapping[str, str]) -> str:
    """The answer format that parse_answer reads (used by the sandbox)."""
    return "&".join(f"{name}={value}" for name, value in sorted(fields.items()))


def parse_form(body: bytes) -> dict[str, str]:
    """A form-encoded body with distinct fields; raises ValueError."""
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    fields = dict(pairs)
    if not pairs or len(fields) != len(pairs):
        raise ValueError("the body is not a form with distinct fields")
    return fields


def order_id(our_id: str) -> str:
    """Our id as a UnionPay orderId: letters and digits only (``pay_ab12`` → ``PAYab12``).

    UnionPay refuses ``_`` and ``-``; our ids are a lowercase prefix, ``_`` and a
    lowercase body, so upper-casing the prefix instead of the underscore is reversible.
    """
    match = _OUR_ID.fullmatch(our_id)
    mapped = f"{match[1].upper()}{match[2]}" if match and match[1] else our_id
    if match is None or not _ORDER_ID.fullmatch(mapped):
        raise ValueError(f"{our_id!r} cannot be a UnionPay orderId (8-40 letters and digits)")
    return mapped


def our_id(unionpay_order_id: str) -> str:
    """The inverse of order_id."""
    match = _THEIR_ID.fullmatch(unionpay_order_id)
    if match is None:
        raise ValueError(f"{unionpay_order_id!r} is not an orderId this service sends")
    return f"{match[1].lower()}_{match[2]}" if match[1] else unionpay_order_id


def txn_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("the protocol's times must be timezone-aware")
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def fen(value: str) -> int:
    """``txnAmt``: a whole number of fen written in digits; raises ValueError."""
    if not _FEN.fullmatch(value):
        raise ValueError(f"amount {value!r} is not a whole number of fen")
    return int(value)


def trace_moment(trace_time: str, sent: str) -> datetime:
    """``traceTime`` (MMDDhhmmss) as an aware time, its year taken from ``txnTime``."""
    year = int(sent[:4])
    moment = datetime.strptime(f"{year}{trace_time}", "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
    if moment.month < int(sent[4:6]):  # sent in December, completed in January
        moment = moment.replace(year=year + 1)
    return moment


# -- the channel ----------------------------------------------------------------------


class UnionPayChannel:
    """UnionPay's gateway as a payment channel, holding no state between calls.

    UnionPay names a transaction by merId + orderId + txnTime; every call passes that time
    (the trade's ``opened_at``, the refund's ``requested_at``), so any process can make it.
    """

    code = "unionpay"

    def __init__(
        self,
        *,
        base_url: str,
        mer_id: str,
        private_key_pem: str,
        certificate_pem: str,
        unionpay_certificate_pem: str,
        file_transfer_url: str = "",
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.file_transfer_url = file_transfer_url or f"{self.base_url}{FILE_PATH}"
        self.mer_id = mer_id
        self.timeout = timeout
        self.session = session or requests.Session()
        self._private_key = load_private_key(private_key_pem)
        self._certificate = load_certificate(certificate_pem)
        self._unionpay_certificate = load_certificate(unionpay_certificate_pem)

    # -- trades

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        """Sign the consume (txnType 01) form; the payer's browser takes it to the gateway."""
        if request.amount <= 0:
            raise ProviderDeclined("txnAmt must be at least 1 fen", code="INVALID_AMOUNT")
        unionpay_order_id = self._order_id(request.out_trade_no)
        fields = {
            **self._common(TXN_CONSUME, "01", "000201"),
            "orderId": unionpay_order_id,
            "txnTime": txn_time(request.opened_at),
            "txnAmt": str(request.amount),
            "currencyCode": "156",
            "backUrl": request.notify_url,
            "frontUrl": request.return_url,
            "payTimeout": txn_time(request.expires_at),
        }
        form = self._signed(fields)
        return CreatedTrade(
            out_trade_no=request.out_trade_no,
            provider_trade_no=unionpay_order_id,
            pay_url=f"{self.base_url}{FRONT_PATH}?{urlencode(form)}",
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        answer = self._query(self._order_id(out_trade_no), opened_at)
        if answer is None:
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        try:
            return _trade_result(answer, answer["origRespCode"], answer.get("origRespMsg", ""))
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"queryTrans: {exc}") from exc

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        """UnionPay cannot close an unpaid gateway trade: it lapses at its payTimeout.

        A trade the gateway never saw answers NOT_FOUND, a settled one its result; an
        open one is declined (``CLOSE_NOT_SUPPORTED``) and stays payable until payTimeout.
        """
        result = self.query_trade(out_trade_no, opened_at=opened_at)
        if result.status == TradeStatus.PENDING:
            raise ProviderDeclined(
                "UnionPay has no close for an open gateway trade; it lapses at payTimeout",
                code="CLOSE_NOT_SUPPORTED",
            )
        return result

    # -- refunds

    def refund(self, request: RefundRequest) -> RefundResult:
        """Send a refund (退货, txnType 04) of the paid trade; the result comes later."""
        paid = self.query_trade(request.out_trade_no, opened_at=request.opened_at)
        if paid.status != TradeStatus.SUCCEEDED:
            raise ProviderDeclined(f"the trade is {paid.status}, not paid", code="NOT_PAID")
        refund_order_id = self._order_id(request.out_refund_no)
        fields = {
            **self._common(TXN_REFUND, "00", "000201"),
            "orderId": refund_order_id,
            "txnTime": txn_time(request.requested_at),
            "txnAmt": str(request.amount),
            "origQryId": paid.provider_trade_no,
            "backUrl": request.notify_url,
        }
        answer = self._call("backTransReq", f"{self.base_url}{BACK_PATH}", fields)
        if answer["respCode"] == DUPLICATE_CODE:
            return self.query_refund(
                out_trade_no=request.out_trade_no,
                out_refund_no=request.out_refund_no,
                requested_at=request.requested_at,
            )
        self._raise_unless_success("backTransReq", answer)
        return RefundResult(
            out_refund_no=request.out_refund_no,
            status=RefundStatus.PENDING,
            amount=request.amount,
            out_trade_no=request.out_trade_no,
            provider_refund_no=answer.get("queryId", ""),
            raw=answer,
        )

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        answer = self._query(self._order_id(out_refund_no), requested_at)
        if answer is None:
            return RefundResult(out_refund_no=out_refund_no, status=RefundStatus.NOT_FOUND)
        try:
            refund = _refund_result(answer, answer["origRespCode"], answer.get("origRespMsg", ""))
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"queryTrans: {exc}") from exc
        return replace(refund, out_trade_no=out_trade_no)

    # -- the bill

    def fetch_statement(self, business_date: date) -> bytes:
        """The settlement date's reconciliation zip (fileType 00), as UnionPay serves it."""
        fields = {
            **self._common("76", "01", "000000"),
            "txnTime": txn_time(_now()),
            "settleDate": business_date.strftime("%m%d"),
            "fileType": "00",
        }
        answer = self._call("fileTransReq", self.file_transfer_url, fields)
        self._raise_unless_success("fileTransReq", answer)
        try:
            return zlib.decompress(base64.b64decode(answer["fileContent"], validate=True))
        except (KeyError, binascii.Error, zlib.error) as exc:
            raise ProviderError("fileTransReq: fileContent is not Base64 of DEFLATE") from exc

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The zip fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        try:
            untrusted.check_size(body)
            fields = parse_form(body)
            untrusted.check_structure(fields)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidNotification(f"unreadable notification: {exc}") from exc
        if not self._is_signed_by_unionpay(fields):
            raise InvalidNotification("the notification's signature does not verify")
        missing = [name for name in _NOTIFICATION_FIELDS if not fields.get(name)]
        if missing:
            raise InvalidNotification(f"the notification lacks {', '.join(missing)}")
        if fields["merId"] != self.mer_id:
            raise InvalidNotification("the notification is addressed to another merId")
        try:
            return _notification(fields)
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from exc

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return _ACCEPTED if accepted else _REFUSED

    # -- the wire

    def _order_id(self, our: str) -> str:
        try:
            return order_id(our)
        except ValueError as exc:
            raise ProviderDeclined(str(exc), code="INVALID_ORDER_ID") from exc

    def _common(self, txn_type: str, txn_sub_type: str, biz_type: str) -> dict[str, str]:
        return {
            "version": VERSION,
            "encoding": "UTF-8",
            "signMethod": SIGN_METHOD,
            "txnType": txn_type,
            "txnSubType": txn_sub_type,
            "bizType": biz_type,
            "channelType": "07",
            "accessType": "0",
            "merId": self.mer_id,
        }

    def _signed(self, fields: dict[str, str]) -> dict[str, str]:
        present = {name: value for name, value in fields.items() if value != ""}
        return signed(present, self._private_key, self._certificate)

    def _query(self, unionpay_order_id: str, sent_at: datetime) -> dict[str, str] | None:
        """The queryTrans (txnType 00) answer about an order we sent at ``sent_at``.

        None if UnionPay has no transaction with that orderId and txnTime.
        """
        fields = {
            **self._common("00", "00", "000000"),
            "orderId": unionpay_order_id,
            "txnTime": txn_time(sent_at),
        }
        answer = self._call("queryTrans", f"{self.base_url}{QUERY_PATH}", fields)
        if answer["respCode"] == NOT_FOUND_CODE:
            return None
        self._raise_unless_success("queryTrans", answer)
        if answer.get("orderId") != unionpay_order_id:
            raise ProviderError(f"queryTrans: the answer is not about {unionpay_order_id}")
        return answer

    def _call(self, name: str, url: str, fields: dict[str, str]) -> dict[str, str]:
        """POST one signed form; return the verified answer (any respCode)."""
        response = http.send_answered(
            name,
            lambda: self.session.post(
                url,
                data=self._signed(fields),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        if response.status_code != 200:
            raise ProviderError(f"{name}: unexpected HTTP {response.status_code}")
        try:
            answer = parse_answer(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProviderError(f"{name}: unreadable answer: {exc}") from exc
        if not self._is_signed_by_unionpay(answer):
            raise ProviderError(f"{name}: the answer's signature does not verify")
        if not answer.get("respCode"):
            raise ProviderError(f"{name}: the answer has no respCode")
        return answer

    def _raise_unless_success(self, name: str, answer: dict[str, str]) -> None:
        code, message = answer["respCode"], answer.get("respMsg", "")
        if code in UNKNOWN_CODES or code == SYSTEM_BUSY_CODE:
            raise ProviderUnavailable(f"{name}: outcome unknown, query later ({code} {message})")
        if code != "00":
            raise ProviderDeclined(f"{name} refused: {code} {message}", code=code)

    def _is_signed_by_unionpay(self, fields: dict[str, str]) -> bool:
        """signMethod 01, version 5.1.0, our configured UnionPay certificate, a valid signature."""
        return (
            fields.get("signMethod") == SIGN_METHOD
            and fields.get("version") == VERSION
            and same_certificate(fields.get("signPubKeyCert", ""), self._unionpay_certificate)
            and verify(fields, self._unionpay_certificate)
        )


def _now() -> datetime:
    return datetime.now(BEIJING)


def _notification(fields: dict[str, str]) -> Notification:
    """A verified back-end notification as a trade or refund result; raises ValueError."""
    notify_id = f"{fields['txnType']}-{fields['queryId']}"
    if fields["txnType"] == TXN_CONSUME:
        return Notification(
            notify_id=notify_id,
            result=_trade_result(fields, fields["respCode"], fields.get("respMsg", "")),
        )
    if fields["txnType"] == TXN_REFUND:
        return Notification(
            notify_id=notify_id,
            refund=_refund_result(fields, fields["respCode"], fields.get("respMsg", "")),
        )
    raise ValueError(f"txnType {fields['txnType']!r} is not a consume or a refund")


def _completed_at(fields: dict[str, str]) -> datetime:
    try:
        return trace_moment(fields["traceTime"], fields["txnTime"])
    except (KeyError, ValueError) as exc:
        raise ValueError("traceTime or txnTime is missing or malformed") from exc


def _trade_result(fields: dict[str, str], code: str, message: str) -> TradeResult:
    """A consume's fields with its result code (respCode, or origRespCode when queried)."""
    if fields.get("txnType") != TXN_CONSUME:
        raise ValueError("the transaction is not a consume (txnType 01)")
    status = _status(code)
    return TradeResult(
        out_trade_no=our_id(fields["orderId"]),
        status=status,
        amount=fen(fields["txnAmt"]),
        provider_trade_no=fields.get("queryId", ""),
        paid_at=_completed_at(fields) if status == TradeStatus.SUCCEEDED else None,
        failure_reason=f"{code} {message}".strip() if status == TradeStatus.FAILED else "",
        raw=dict(fields),
    )


def _refund_result(fields: dict[str, str], code: str, message: str) -> RefundResult:
    if fields.get("txnType") != TXN_REFUND:
        raise ValueError("the transaction is not a refund (txnType 04)")
    status = RefundStatus(_status(code).value)
    return RefundResult(
        out_refund_no=our_id(fields["orderId"]),
        status=status,
        amount=fen(fields["txnAmt"]),
        provider_refund_no=fields.get("queryId", ""),
        refunded_at=_completed_at(fields) if status == RefundStatus.SUCCEEDED else None,
        failure_reason=f"{code} {message}".strip() if status == RefundStatus.FAILED else "",
        raw=dict(fields),
    )


def _status(code: str) -> TradeStatus:
    if code in SUCCESS_CODES:
        return TradeStatus.SUCCEEDED
    if code in UNKNOWN_CODES:
        return TradeStatus.PENDING
    return TradeStatus.FAILED


# -- the reconciliation file (fileType 00) as a statement frame -----------------------

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
