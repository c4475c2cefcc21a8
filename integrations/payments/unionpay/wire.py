"""UnionPay's wire format as pure functions: signed forms, verified answers and notifications.

Requests are form-encoded and signed with the merchant certificate's key (signMethod 01);
every answer and back-end notification must carry UnionPay's signing certificate in
``signPubKeyCert`` and a valid signature by it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import parse_qsl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core import untrusted
from core.money import BEIJING
from integrations.errors import InvalidNotification
from integrations.payments.base import (
    Notification,
    NotificationAck,
    RefundResult,
    RefundStatus,
    TradeResult,
    TradeStatus,
)
from integrations.payments.unionpay.codes import (
    SUCCESS_CODES,
    TXN_CONSUME,
    TXN_REFUND,
    UNKNOWN_CODES,
)

VERSION = "5.1.0"
SIGN_METHOD = "01"
NOTIFICATION_FIELDS = ("merId", "orderId", "txnType", "txnTime", "txnAmt", "queryId", "respCode")
ACCEPTED = NotificationAck(200, b"ok", "text/plain; charset=utf-8")
REFUSED = NotificationAck(400, b"fail", "text/plain; charset=utf-8")

_ORDER_ID = re.compile(r"[A-Za-z0-9]{8,40}")
_OUR_ID = re.compile(r"([a-z]+)_([a-z0-9]+)|[a-z0-9]+")
_THEIR_ID = re.compile(r"([A-Z]+)([a-z0-9]+)|[a-z0-9]+")
_FEN = re.compile(r"0|[1-9][0-9]{0,11}")


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


# -- answers and notifications --------------------------------------------------------


def read_notification(
    body: bytes, *, mer_id: str, unionpay_certificate: x509.Certificate
) -> Notification:
    """A back-end notification, verified and addressed to ``mer_id``; raises InvalidNotification."""
    try:
        untrusted.check_size(body)
        fields = parse_form(body)
        untrusted.check_structure(fields)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotification(f"unreadable notification: {exc}") from exc
    if not signed_by_unionpay(fields, unionpay_certificate):
        raise InvalidNotification("the notification's signature does not verify")
    missing = [name for name in NOTIFICATION_FIELDS if not fields.get(name)]
    if missing:
        raise InvalidNotification(f"the notification lacks {', '.join(missing)}")
    if fields["merId"] != mer_id:
        raise InvalidNotification("the notification is addressed to another merId")
    try:
        return notification(fields)
    except ValueError as exc:
        raise InvalidNotification(str(exc)) from exc


def signed_by_unionpay(fields: Mapping[str, str], certificate: x509.Certificate) -> bool:
    """signMethod 01, version 5.1.0, our configured UnionPay certificate, a valid signature."""
    return (
        fields.get("signMethod") == SIGN_METHOD
        and fields.get("version") == VERSION
        and same_certificate(fields.get("signPubKeyCert", ""), certificate)
        and verify(fields, certificate)
    )


def notification(fields: dict[str, str]) -> Notification:
    """A verified back-end notification as a trade or refund result; raises ValueError."""
    notify_id = f"{fields['txnType']}-{fields['queryId']}"
    if fields["txnType"] == TXN_CONSUME:
        return Notification(
            notify_id=notify_id,
            result=trade_result(fields, fields["respCode"], fields.get("respMsg", "")),
        )
    if fields["txnType"] == TXN_REFUND:
        return Notification(
            notify_id=notify_id,
            refund=refund_result(fields, fields["respCode"], fields.get("respMsg", "")),
        )
    raise ValueError(f"txnType {fields['txnType']!r} is not a consume or a refund")


def _completed_at(fields: dict[str, str]) -> datetime:
    try:
        return trace_moment(fields["traceTime"], fields["txnTime"])
    except (KeyError, ValueError) as exc:
        raise ValueError("traceTime or txnTime is missing or malformed") from exc


def trade_result(fields: dict[str, str], code: str, message: str) -> TradeResult:
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


def refund_result(fields: dict[str, str], code: str, message: str) -> RefundResult:
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
