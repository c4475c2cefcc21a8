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
import zlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import requests
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

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

BEIJING = timezone(timedelta(hours=8))
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

    # -- notifications

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        try:
            fields = parse_form(body)
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
