"""The unified public payment platform (统一公共支付平台): gateway calls and notifications.

The wire protocol is described in docs/public_platform.md; this module is the only code
that knows it. Every request is signed with the merchant's key and every answer and
notification must carry a valid signature by the platform's key.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Collection
from datetime import datetime, timedelta, timezone
from typing import Any, TypeGuard

import requests

from integrations.payments import signing
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    InvalidNotification,
    Notification,
    NotificationAck,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    TradeResult,
    TradeStatus,
)

BEIJING = timezone(timedelta(hours=8))
PROTOCOL_VERSION = "1.0"
NOTIFY_TYPE = "trade.status_sync"

_STATUSES = {
    "WAIT_PAY": TradeStatus.PENDING,
    "SUCCESS": TradeStatus.SUCCEEDED,
    "FAILED": TradeStatus.FAILED,
    "CLOSED": TradeStatus.CLOSED,
}
# The platform could not decide now; whether the call took effect is unknown.
_RETRYABLE_CODES = frozenset({"SYSTEM_BUSY"})
_NOTIFICATION_FIELDS = (
    "notify_id",
    "notify_time",
    "notify_type",
    "app_id",
    "out_trade_no",
    "trade_no",
    "payment_code",
    "amount",
    "trade_status",
    "paid_time",
)
_ACCEPTED = NotificationAck(200, b'{"code":"SUCCESS"}', "application/json")
_REFUSED = NotificationAck(
    400, b'{"code":"FAIL","message":"notification not accepted"}', "application/json"
)


class PublicPlatformChannel:
    code = "public_platform"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        private_key_pem: str,
        platform_public_key_pem: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self.timeout = timeout
        self.session = session or requests.Session()
        self._private_key = signing.load_private_key(private_key_pem)
        self._platform_key = signing.load_public_key(platform_public_key_pem)

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        _, data = self._call(
            "trade.create",
            {
                "out_trade_no": request.out_trade_no,
                "payment_code": request.payment_code,
                "amount": request.amount,
                "currency": "CNY",
                "subject": request.subject,
                "department_code": request.department_code,
                "notify_url": request.notify_url,
                "expire_time": _beijing_time(request.expires_at),
                "return_url": request.return_url,
            },
        )
        trade_no, pay_url = data.get("trade_no"), data.get("pay_url")
        if not (_is_text(trade_no) and _is_text(pay_url) and pay_url.startswith("http")):
            raise ProviderError("trade.create answered without a trade_no or a pay_url")
        return CreatedTrade(
            out_trade_no=request.out_trade_no, provider_trade_no=trade_no, pay_url=pay_url
        )

    def query_trade(self, out_trade_no: str) -> TradeResult:
        code, data = self._call(
            "trade.query", {"out_trade_no": out_trade_no}, accept={"TRADE_NOT_EXIST"}
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return _answered_result("trade.query", data)

    def close_trade(self, out_trade_no: str) -> TradeResult:
        code, data = self._call(
            "trade.close",
            {"out_trade_no": out_trade_no},
            accept={"TRADE_NOT_EXIST", "TRADE_HAS_SUCCESS"},
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        if code == "TRADE_HAS_SUCCESS":
            return self.query_trade(out_trade_no)
        return _answered_result("trade.close", data)

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        try:
            message = signing.loads_object(body)
        except signing.MalformedJson as exc:
            raise InvalidNotification(str(exc)) from exc
        if not signing.verify(message, self._platform_key):
            raise InvalidNotification("the notification's signature does not verify")
        missing = [name for name in _NOTIFICATION_FIELDS if name not in message]
        if missing:
            raise InvalidNotification(f"the notification lacks {', '.join(missing)}")
        if message["app_id"] != self.app_id:
            raise InvalidNotification("the notification is addressed to another app_id")
        if message["notify_type"] != NOTIFY_TYPE or not _is_text(message["notify_id"]):
            raise InvalidNotification("the notification has no notify_id or an unknown type")
        try:
            result = _trade_result(message)
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from exc
        return Notification(notify_id=message["notify_id"], result=result)

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return _ACCEPTED if accepted else _REFUSED

    def _call(
        self, method: str, biz: dict[str, Any], *, accept: Collection[str] = ()
    ) -> tuple[str, dict[str, Any]]:
        """POST one signed request; return the answer's code and data.

        Codes other than SUCCESS and those in ``accept`` raise ProviderDeclined.
        """
        envelope = signing.signed(
            {
                "app_id": self.app_id,
                "method": method,
                "version": PROTOCOL_VERSION,
                "timestamp": _beijing_time(datetime.now(BEIJING)),
                "nonce": secrets.token_hex(16),
                "biz_content": biz,
            },
            self._private_key,
        )
        try:
            response = self.session.post(
                f"{self.base_url}/gateway/{method.replace('.', '/')}",
                data=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise ProviderUnavailable(f"{method}: no answer ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise ProviderError(f"{method}: the request failed ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"{method}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise ProviderError(f"{method}: unexpected HTTP {response.status_code}")
        return self._read_answer(method, biz["out_trade_no"], response.content, accept)

    def _read_answer(
        self, method: str, out_trade_no: str, body: bytes, accept: Collection[str]
    ) -> tuple[str, dict[str, Any]]:
        try:
            answer = signing.loads_object(body)
        except signing.MalformedJson as exc:
            raise ProviderError(f"{method}: unreadable answer: {exc}") from exc
        if not signing.verify(answer, self._platform_key):
            raise ProviderError(f"{method}: the answer's signature does not verify")
        code, message, data = answer.get("code"), answer.get("message"), answer.get("data")
        if not _is_text(code) or not isinstance(message, str):
            raise ProviderError(f"{method}: the answer has no code")
        if code in _RETRYABLE_CODES:
            raise ProviderUnavailable(f"{method}: {code} {message}")
        if code == "SUCCESS":
            if not isinstance(data, dict) or data.get("out_trade_no") != out_trade_no:
                raise ProviderError(f"{method}: the answer is not about {out_trade_no}")
            return code, data
        if code in accept:
            return code, {}
        raise ProviderDeclined(f"{method} refused: {message}", code=code)


def _beijing_time(moment: datetime) -> str:
    """An aware datetime as the protocol writes it: ``2025-06-01T14:30:00+08:00``."""
    if moment.tzinfo is None:
        raise ValueError("the protocol's times must be timezone-aware")
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _answered_result(method: str, data: dict[str, Any]) -> TradeResult:
    try:
        return _trade_result(data)
    except ValueError as exc:
        raise ProviderError(f"{method}: {exc}") from exc


def _trade_result(fields: dict[str, Any]) -> TradeResult:
    """The trade fields shared by answers and notifications; raises ValueError."""
    status = _STATUSES.get(fields.get("trade_status"))
    amount = fields.get("amount")
    if status is None:
        raise ValueError(f"unknown trade_status {fields.get('trade_status')!r}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("amount is not a whole number of fen")
    if not (_is_text(fields.get("out_trade_no")) and _is_text(fields.get("trade_no"))):
        raise ValueError("out_trade_no or trade_no is missing")
    failure_reason = fields.get("fail_reason") or ""
    if not isinstance(failure_reason, str):
        raise ValueError("fail_reason is not text")
    return TradeResult(
        out_trade_no=fields["out_trade_no"],
        status=status,
        amount=amount,
        provider_trade_no=fields["trade_no"],
        paid_at=_paid_at(fields.get("paid_time")) if status is TradeStatus.SUCCEEDED else None,
        failure_reason=failure_reason,
        raw=dict(fields),
    )


def _paid_at(value: object) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError("paid_time is not an ISO 8601 time with an offset")
    return moment


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""
