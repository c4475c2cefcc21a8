"""The public platform's wire format as pure functions: signed requests, verified answers."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from core import untrusted
from core.money import BEIJING
from integrations.errors import (
    InvalidNotification,
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
    RefundResult,
    RefundStatus,
    TradeResult,
    TradeStatus,
)
from integrations.payments.public_platform.codes import (
    INVALID_TIMESTAMP,
    REFUND_STATUSES,
    RETRYABLE_CODES,
    TRADE_STATUSES,
)

_T = TypeVar("_T")

PROTOCOL_VERSION = "1.0"
NOTIFY_TYPE = "trade.status_sync"
REFUND_NOTIFY_TYPE = "refund.status_sync"

# The biz_content fields that a successful answer's data must repeat.
TRADE_KEYS = ("out_trade_no",)
REFUND_KEYS = ("out_trade_no", "out_refund_no")
BILL_KEYS = ("bill_date",)
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_NOTIFICATION_HEADER = ("notify_id", "notify_time", "notify_type", "app_id", "out_trade_no")
_NOTIFICATION_FIELDS = {
    NOTIFY_TYPE: (
        *_NOTIFICATION_HEADER,
        "trade_no",
        "payment_code",
        "amount",
        "trade_status",
        "paid_time",
    ),
    REFUND_NOTIFY_TYPE: (
        *_NOTIFICATION_HEADER,
        "out_refund_no",
        "refund_no",
        "refund_amount",
        "refund_status",
        "refund_time",
    ),
}
ACCEPTED = NotificationAck(200, b'{"code":"SUCCESS"}', "application/json")
REFUSED = NotificationAck(
    400, b'{"code":"FAIL","message":"notification not accepted"}', "application/json"
)


# -- requests and answers ------------------------------------------------------------------


def request_envelope(
    method: str,
    biz: dict[str, Any],
    *,
    app_id: str,
    timestamp: datetime,
    nonce: str,
    signer: signing.Signer,
) -> dict[str, Any]:
    """The envelope of one gateway request, signed in the signer's scheme."""
    return signer.signed(
        {
            "app_id": app_id,
            "method": method,
            "version": PROTOCOL_VERSION,
            "timestamp": beijing_time(timestamp),
            "nonce": nonce,
            "biz_content": biz,
        }
    )


def read_answer(
    method: str,
    subject: dict[str, Any],
    body: bytes,
    accept: Collection[str],
    signer: signing.Signer,
) -> tuple[str, dict[str, Any]]:
    """The answer's code and data.

    A successful answer's data must repeat ``subject``. Codes other than SUCCESS and
    those in ``accept`` raise ProviderDeclined.
    """
    try:
        answer = signing.loads_object(body)
    except signing.MalformedJson as exc:
        raise ProviderError(f"{method}: unreadable answer: {exc}") from exc
    refusal = signer.refusal(answer)
    if refusal is not None:
        raise ProviderError(f"{method}: the answer's {refusal}")
    code, message, data = answer.get("code"), answer.get("message"), answer.get("data")
    if not _is_text(code) or not isinstance(message, str):
        raise ProviderError(f"{method}: the answer has no code")
    if code in RETRYABLE_CODES:
        raise ProviderUnavailable(f"{method}: {code} {message}")
    if code == INVALID_TIMESTAMP:
        raise ProviderUnavailable(
            f"{method}: {code} {message}: the request came late, or our clock and the "
            "platform's differ"
        )
    if code == "SUCCESS":
        if not isinstance(data, dict) or any(data.get(k) != v for k, v in subject.items()):
            about = ", ".join(str(value) for value in subject.values())
            raise ProviderError(f"{method}: the answer is not about {about}")
        return code, data
    if code in accept:
        return code, {}
    raise ProviderDeclined(f"{method} refused: {message}", code=code)


def created_trade(request: CreateTrade, data: dict[str, Any]) -> CreatedTrade:
    """The trade.create answer: the platform's trade_no and the payer's pay_url."""
    trade_no, pay_url = data.get("trade_no"), data.get("pay_url")
    if not (_is_text(trade_no) and _is_http_url(pay_url)):
        raise ProviderError("trade.create answered without a trade_no or a pay_url")
    return CreatedTrade(
        out_trade_no=request.out_trade_no, provider_trade_no=trade_no, pay_url=pay_url
    )


def answered_trade(method: str, data: dict[str, Any]) -> TradeResult:
    """The trade a successful answer's data describes."""
    return _answered(method, _trade_result, data)


def answered_refund(method: str, data: dict[str, Any]) -> RefundResult:
    """The refund a successful answer's data describes."""
    return _answered(method, _refund_result, data)


def bill_location(data: dict[str, Any]) -> tuple[str, str]:
    """The bill.download answer's download_url and sha256."""
    url, digest = data.get("download_url"), data.get("sha256")
    if not (_is_http_url(url) and isinstance(digest, str) and _SHA256_HEX.fullmatch(digest)):
        raise ProviderError("bill.download answered without a download_url or a sha256")
    return url, digest


def check_bill_digest(content: bytes, digest: str) -> None:
    """Refuse a downloaded bill whose SHA-256 is not the signed one."""
    if hashlib.sha256(content).hexdigest() != digest:
        raise ProviderError("bill download: the file does not match the signed sha256")


# -- notifications -------------------------------------------------------------------------


def read_notification(body: bytes, *, app_id: str, signer: signing.Signer) -> Notification:
    """The notification's trade or refund; raises InvalidNotification."""
    message = _verified_notification(body, app_id=app_id, signer=signer)
    try:
        if message["notify_type"] == REFUND_NOTIFY_TYPE:
            return Notification(notify_id=message["notify_id"], refund=_refund_result(message))
        return Notification(notify_id=message["notify_id"], result=_trade_result(message))
    except ValueError as exc:
        raise InvalidNotification(str(exc)) from exc


def _verified_notification(body: bytes, *, app_id: str, signer: signing.Signer) -> dict[str, Any]:
    """The notification's fields, once its signature, type, fields and app_id check out."""
    try:
        untrusted.check_size(body)
        message = untrusted.parse_checked(signing.loads_object, body)
    except ValueError as exc:  # MalformedJson and UntrustedInput
        raise InvalidNotification(str(exc)) from exc
    refusal = signer.refusal(message)
    if refusal is not None:
        raise InvalidNotification(f"the notification's {refusal}")
    notify_type = message.get("notify_type")
    required = _NOTIFICATION_FIELDS.get(notify_type) if isinstance(notify_type, str) else None
    if required is None:
        raise InvalidNotification("the notification has an unknown notify_type")
    missing = [name for name in required if name not in message]
    if missing:
        raise InvalidNotification(f"the notification lacks {', '.join(missing)}")
    if message["app_id"] != app_id:
        raise InvalidNotification("the notification is addressed to another app_id")
    if not _is_text(message["notify_id"]):
        raise InvalidNotification("the notification has no notify_id")
    return message


# -- fields --------------------------------------------------------------------------------


def beijing_time(moment: datetime) -> str:
    """An aware datetime as the protocol writes it: ``2025-06-01T14:30:00+08:00``."""
    if moment.tzinfo is None:
        raise ValueError("the protocol's times must be timezone-aware")
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _answered(method: str, parse: Callable[[dict[str, Any]], _T], data: dict[str, Any]) -> _T:
    try:
        return parse(data)
    except ValueError as exc:
        raise ProviderError(f"{method}: {exc}") from exc


def _trade_result(fields: dict[str, Any]) -> TradeResult:
    """The trade fields shared by answers and notifications; raises ValueError."""
    status = _status(TRADE_STATUSES, fields.get("trade_status"), "trade_status")
    if not (_is_text(fields.get("out_trade_no")) and _is_text(fields.get("trade_no"))):
        raise ValueError("out_trade_no or trade_no is missing")
    paid = status is TradeStatus.SUCCEEDED
    return TradeResult(
        out_trade_no=fields["out_trade_no"],
        status=status,
        amount=_fen(fields.get("amount"), "amount"),
        provider_trade_no=fields["trade_no"],
        paid_at=_aware_time(fields.get("paid_time"), "paid_time") if paid else None,
        failure_reason=_reason(fields.get("fail_reason")),
        raw=dict(fields),
    )


def _refund_result(fields: dict[str, Any]) -> RefundResult:
    """The refund fields shared by answers and notifications; raises ValueError."""
    status = _status(REFUND_STATUSES, fields.get("refund_status"), "refund_status")
    if not all(
        _is_text(fields.get(name)) for name in ("out_trade_no", "out_refund_no", "refund_no")
    ):
        raise ValueError("out_trade_no, out_refund_no or refund_no is missing")
    refunded = status is RefundStatus.SUCCEEDED
    return RefundResult(
        out_refund_no=fields["out_refund_no"],
        status=status,
        amount=_fen(fields.get("refund_amount"), "refund_amount"),
        out_trade_no=fields["out_trade_no"],
        provider_refund_no=fields["refund_no"],
        refunded_at=_aware_time(fields.get("refund_time"), "refund_time") if refunded else None,
        failure_reason=_reason(fields.get("fail_reason")),
        raw=dict(fields),
    )


def _status(statuses: Mapping[str, _T], value: object, name: str) -> _T:
    status = statuses.get(value) if isinstance(value, str) else None
    if status is None:
        raise ValueError(f"unknown {name} {value!r}")
    return status


def _fen(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not a whole number of fen")
    return value


def _reason(value: object) -> str:
    """``fail_reason``: absent, null and "" all mean none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("fail_reason is not text")
    return value


def _aware_time(value: object, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{name} is not an ISO 8601 time with an offset")
    return moment


def _is_http_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""
