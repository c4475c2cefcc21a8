"""WeChat Pay APIv3's wire format as pure functions: signed texts and their checks, resources,
bodies, answers. The scheme's algorithms are in schemes.py."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard
from urllib.parse import quote, urlsplit

from core import untrusted
from core.money import BEIJING
from integrations.errors import (
    InvalidNotification,
    NoStatement,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
)
from integrations.payments import signing
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    Notification,
    NotificationAck,
    RefundRequest,
    RefundResult,
    TradeResult,
    TradeStatus,
)
from integrations.payments.wechatpay.codes import (
    NO_STATEMENT_CODE,
    REFUND_EVENTS,
    REFUND_STATES,
    RETRYABLE_CODES,
    SIGN_ERROR,
    TRADE_STATES,
)
from integrations.payments.wechatpay.schemes import RsaScheme, Scheme

MAX_CLOCK_SKEW = 300  # seconds between a signature's timestamp and our clock

ACCEPTED = NotificationAck(204, b"", "application/json")
REFUSED = NotificationAck(
    400, b'{"code":"FAIL","message":"notification not accepted"}', "application/json"
)


class StaleSignature(ValueError):
    """A signature whose timestamp is more than MAX_CLOCK_SKEW from our clock."""


@dataclass(frozen=True)
class WechatPayCredentials:
    """What the merchant holds: its ids, its key, the APIv3 key and the platform's key.

    The keys and serial numbers are those of ``scheme`` ("rsa" or "sm2", see schemes.py):
    a merchant in the national mode has an SM2 certificate and WeChat's SM2 platform key.
    """

    mchid: str
    appid: str
    merchant_serial_no: str
    private_key_pem: str = field(repr=False)
    apiv3_key: str = field(repr=False)  # 32 characters, from which the resource key comes
    platform_serial_no: str
    platform_public_key_pem: str = field(repr=False)
    scheme: str = RsaScheme.name


# -- signatures and encryption ----------------------------------------------------------


def signing_text(*lines: str) -> bytes:
    """The signed text: each line followed by ``\\n``, the last one included."""
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def request_text(method: str, url_path: str, timestamp: str, nonce: str, body: str) -> bytes:
    """What the merchant signs: method, path with query, timestamp, nonce, body (GET: "")."""
    return signing_text(method, url_path, timestamp, nonce, body)


def authorization(
    signature_type: str, *, mchid: str, serial_no: str, nonce: str, timestamp: str, signature: str
) -> str:
    return (
        f'{signature_type} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def decrypt_resource(scheme: Scheme, resource: Mapping[str, Any]) -> bytes:
    """The plaintext of a notification's ``resource``; raises ValueError if it will not open,
    or is sealed with another algorithm than the scheme's."""
    if resource.get("algorithm") != scheme.resource_algorithm:
        raise ValueError(f"resource.algorithm is not {scheme.resource_algorithm}")
    texts = [resource.get(name) for name in ("ciphertext", "nonce", "associated_data")]
    if not all(isinstance(text, str) for text in texts):
        raise ValueError("resource lacks ciphertext, nonce or associated_data")
    ciphertext, nonce, associated_data = texts
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except binascii.Error as exc:
        raise ValueError("resource.ciphertext is not Base64") from exc
    return scheme.open(
        sealed, nonce=nonce.encode("utf-8"), associated_data=associated_data.encode("utf-8")
    )


def check_signature(
    headers: Mapping[str, str],
    body: bytes,
    *,
    serial_no: str,
    scheme: Scheme,
    now: float,
) -> int:
    """The signature's timestamp; ValueError unless the platform signed ``body`` recently
    (StaleSignature), under our serial, in our scheme.

    The signature type is checked before the signature: an answer or notification that
    declares another scheme is refused, so it cannot talk us down to one we did not
    choose. One without ``Wechatpay-Signature-Type`` is RSA, the scheme that predates it.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    serial, timestamp, nonce, signature = (
        lower.get(f"wechatpay-{name}", "") for name in ("serial", "timestamp", "nonce", "signature")
    )
    if not (serial and timestamp and nonce and signature):
        raise ValueError("the Wechatpay-* signature headers are missing")
    declared = lower.get("wechatpay-signature-type", RsaScheme.signature_type)
    if declared != scheme.signature_type:
        raise ValueError(f"signed {declared!r}, not the configured {scheme.signature_type}")
    if serial != serial_no:
        raise ValueError("signed under an unknown platform serial number")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        raise StaleSignature("the signature's timestamp is more than 5 minutes off")
    try:
        text = signing_text(timestamp, nonce, body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError("the body is not UTF-8") from exc
    if not scheme.verify(text, signature):
        raise ValueError("the signature does not verify with the platform key")
    return int(timestamp)


# -- request bodies ---------------------------------------------------------------------


def native_body(request: CreateTrade, *, appid: str, mchid: str) -> dict[str, Any]:
    return {
        "appid": appid,
        "mchid": mchid,
        "description": request.subject,
        "out_trade_no": request.out_trade_no,
        "time_expire": _rfc3339(request.expires_at),
        "attach": request.payment_code,
        "notify_url": request.notify_url,
        "amount": {"total": request.amount, "currency": "CNY"},
    }


def h5_body(request: CreateTrade, *, appid: str, mchid: str) -> dict[str, Any]:
    """H5下单: the Native order and the payer's browser (scene_info), for a mobile browser."""
    return {
        **native_body(request, appid=appid, mchid=mchid),
        "scene_info": {"payer_client_ip": request.payer_ip, "h5_info": {"type": "Wap"}},
    }


def refund_body(request: RefundRequest) -> dict[str, Any]:
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
    return body


# -- answers and notifications ----------------------------------------------------------


def refusal(
    where: str, status: int, data: dict[str, Any], *, answered_after: int | None = None
) -> ProviderError:
    """What a refused call raises: ProviderUnavailable when WeChat may decide later.

    ``answered_after`` is the time from our request's timestamp to that of WeChat's signed
    answer, in seconds: a SIGN_ERROR signed more than MAX_CLOCK_SKEW away refused the
    request's timestamp, not its signature, and a retry is signed afresh.
    """
    code, message = data.get("code"), data.get("message")
    if code in RETRYABLE_CODES:
        return ProviderUnavailable(f"{where}: {code}")
    if code == SIGN_ERROR and answered_after is not None and abs(answered_after) > MAX_CLOCK_SKEW:
        return ProviderUnavailable(
            f"{where}: {code} answered {answered_after} s after the request's timestamp: it "
            "came late, or our clock and WeChat's differ"
        )
    declined = NoStatement if code == NO_STATEMENT_CODE else ProviderDeclined
    return declined(f"{where} refused: HTTP {status} {_text(message)}", code=_text(code))


def created_trade(request: CreateTrade, data: dict[str, Any]) -> CreatedTrade:
    code_url = data.get("code_url")
    if not _is_text(code_url):
        raise ProviderError("native: the answer has no code_url")
    return CreatedTrade(out_trade_no=request.out_trade_no, provider_trade_no="", pay_url=code_url)


def created_h5_trade(request: CreateTrade, data: dict[str, Any]) -> CreatedTrade:
    """The H5 order's h5_url with the return page appended as redirect_url, URL-encoded:
    WeChat's cashier sends the payer there when the payment ends, paid or not."""
    h5_url = data.get("h5_url")
    if not _is_text(h5_url):
        raise ProviderError("h5: the answer has no h5_url")
    separator = "&" if "?" in h5_url else "?"
    pay_url = f"{h5_url}{separator}redirect_url={quote(request.return_url, safe='')}"
    return CreatedTrade(out_trade_no=request.out_trade_no, provider_trade_no="", pay_url=pay_url)


def answered_trade(data: dict[str, Any], out_trade_no: str, *, mchid: str) -> TradeResult:
    try:
        result = _trade_result(data, mchid=mchid)
    except ValueError as exc:
        raise ProviderError(f"query: {exc}") from exc
    if result.out_trade_no != out_trade_no:
        raise ProviderError(f"query: the answer is not about {out_trade_no}")
    return result


def answered_refund(
    call: str, data: dict[str, Any], out_refund_no: str, *, mchid: str
) -> RefundResult:
    try:
        result = _refund_result(data, mchid=mchid, status_field="status")
    except ValueError as exc:
        raise ProviderError(f"{call}: {exc}") from exc
    if result.out_refund_no != out_refund_no:
        raise ProviderError(f"{call}: the answer is not about {out_refund_no}")
    return result


def bill_location(data: dict[str, Any], *, base_url: str) -> tuple[str, str]:
    """The trade bill answer's download_url and SHA1 hash_value; the file must be ours."""
    download_url, hash_value = data.get("download_url"), data.get("hash_value")
    if data.get("hash_type") != "SHA1" or not _is_text(hash_value):
        raise ProviderError("tradebill: the answer has no SHA1 hash")
    if not _is_text(download_url) or not _same_origin(download_url, base_url):
        raise ProviderError("tradebill: the download_url is not on the gateway's host")
    return download_url, hash_value


def check_bill_hash(content: bytes, hash_value: str) -> None:
    digest = hashlib.sha1(content, usedforsecurity=False).hexdigest()
    if not hmac.compare_digest(digest, hash_value.lower()):
        raise ProviderError("bill download: the file does not match hash_value")


def read_notification(
    headers: Mapping[str, str],
    body: bytes,
    *,
    credentials: WechatPayCredentials,
    scheme: Scheme,
    now: float,
) -> Notification:
    try:
        untrusted.check_size(body)
        check_signature(
            headers, body, serial_no=credentials.platform_serial_no, scheme=scheme, now=now
        )
    except ValueError as exc:
        raise InvalidNotification(f"notification: {exc}") from exc
    try:
        event = untrusted.parse_checked(signing.loads_object, body)
        plaintext = decrypt_resource(scheme, _resource(event))
        resource = untrusted.parse_checked(signing.loads_object, plaintext)
        return _notification(event, resource, mchid=credentials.mchid)
    except ValueError as exc:  # MalformedJson is a ValueError too
        raise InvalidNotification(f"notification: {exc}") from exc


def _resource(event: dict[str, Any]) -> dict[str, Any]:
    resource = event.get("resource")
    if event.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
        raise ValueError("the notification has no encrypt-resource")
    return resource


def _notification(event: dict[str, Any], resource: dict[str, Any], *, mchid: str) -> Notification:
    notify_id, event_type = event.get("id"), event.get("event_type")
    if not _is_text(notify_id):
        raise ValueError("the notification has no id")
    if event_type == "TRANSACTION.SUCCESS":
        return Notification(notify_id=notify_id, result=_trade_result(resource, mchid=mchid))
    if event_type in REFUND_EVENTS:
        refund = _refund_result(resource, mchid=mchid, status_field="refund_status")
        return Notification(notify_id=notify_id, refund=refund)
    raise ValueError(f"unknown event_type {event_type!r}")


def _trade_result(fields: dict[str, Any], *, mchid: str) -> TradeResult:
    """A trade from a query answer or a decrypted notification; raises ValueError."""
    _check_merchant(fields, mchid)
    status = TRADE_STATES.get(fields.get("trade_state"))
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


def _refund_result(fields: dict[str, Any], *, mchid: str, status_field: str) -> RefundResult:
    """A refund from an answer (``status``) or a notification (``refund_status``)."""
    _check_merchant(fields, mchid)
    state = fields.get(status_field)
    status = REFUND_STATES.get(state)
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


def _check_merchant(fields: dict[str, Any], mchid: str) -> None:
    """Refund answers carry no mchid; where one is given it must be ours."""
    if fields.get("mchid", mchid) != mchid:
        raise ValueError("the message is about another merchant")


def _same_origin(url: str, base_url: str) -> bool:
    ours, theirs = urlsplit(base_url), urlsplit(url)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


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
