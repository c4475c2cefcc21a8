"""The unified public payment platform (统一公共支付平台): gateway calls and notifications.

The wire protocol is described in docs/public_platform.md; this module is the only code
that knows it. Every request is signed with the merchant's key and every answer and
notification must carry a valid signature by the platform's key. A daily bill is checked
against the SHA-256 that the signed answer carries.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from typing import Any, NoReturn, TypeGuard, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests

from core import untrusted
from core.money import BEIJING
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

_T = TypeVar("_T")

PROTOCOL_VERSION = "1.0"
NOTIFY_TYPE = "trade.status_sync"
REFUND_NOTIFY_TYPE = "refund.status_sync"

_STATUSES = {
    "WAIT_PAY": TradeStatus.PENDING,
    "SUCCESS": TradeStatus.SUCCEEDED,
    "FAILED": TradeStatus.FAILED,
    "CLOSED": TradeStatus.CLOSED,
}
_REFUND_STATUSES = {
    "PROCESSING": RefundStatus.PENDING,
    "SUCCESS": RefundStatus.SUCCEEDED,
    "FAILED": RefundStatus.FAILED,
}
# The platform could not decide now; whether the call took effect is unknown.
_RETRYABLE_CODES = frozenset({"SYSTEM_BUSY"})
# The biz_content fields that a successful answer's data must repeat.
_TRADE_KEYS = ("out_trade_no",)
_REFUND_KEYS = ("out_trade_no", "out_refund_no")
_BILL_KEYS = ("bill_date",)
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
        if not (_is_text(trade_no) and _is_http_url(pay_url)):
            raise ProviderError("trade.create answered without a trade_no or a pay_url")
        return CreatedTrade(
            out_trade_no=request.out_trade_no, provider_trade_no=trade_no, pay_url=pay_url
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        code, data = self._call(
            "trade.query", {"out_trade_no": out_trade_no}, accept={"TRADE_NOT_EXIST"}
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return _answered("trade.query", _trade_result, data)

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        code, data = self._call(
            "trade.close",
            {"out_trade_no": out_trade_no},
            accept={"TRADE_NOT_EXIST", "TRADE_HAS_SUCCESS"},
        )
        if code == "TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        if code == "TRADE_HAS_SUCCESS":
            return self.query_trade(out_trade_no, opened_at=opened_at)
        return _answered("trade.close", _trade_result, data)

    def refund(self, request: RefundRequest) -> RefundResult:
        _, data = self._call(
            "trade.refund",
            {
                "out_trade_no": request.out_trade_no,
                "out_refund_no": request.out_refund_no,
                "refund_amount": request.amount,
                "reason": request.reason,
                "notify_url": request.notify_url,
            },
            about=_REFUND_KEYS,
        )
        return _answered("trade.refund", _refund_result, data)

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        code, data = self._call(
            "refund.query",
            {"out_trade_no": out_trade_no, "out_refund_no": out_refund_no},
            about=_REFUND_KEYS,
            accept={"REFUND_NOT_EXIST"},
        )
        if code == "REFUND_NOT_EXIST":
            return RefundResult(
                out_refund_no=out_refund_no,
                status=RefundStatus.NOT_FOUND,
                out_trade_no=out_trade_no,
            )
        return _answered("refund.query", _refund_result, data)

    def fetch_statement(self, business_date: date) -> bytes:
        """The date's bill as downloaded (UTF-8 CSV), once it matches the signed SHA-256."""
        _, data = self._call(
            "bill.download", {"bill_date": business_date.isoformat()}, about=_BILL_KEYS
        )
        url, digest = data.get("download_url"), data.get("sha256")
        if not (_is_http_url(url) and isinstance(digest, str) and _SHA256_HEX.fullmatch(digest)):
            raise ProviderError("bill.download answered without a download_url or a sha256")
        response = self._http(
            "bill download",
            lambda: self.session.get(url, timeout=self.timeout, allow_redirects=False),
        )
        if hashlib.sha256(response.content).hexdigest() != digest:
            raise ProviderError("bill download: the file does not match the signed sha256")
        return response.content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        message = self._verified_notification(body)
        try:
            if message["notify_type"] == REFUND_NOTIFY_TYPE:
                return Notification(notify_id=message["notify_id"], refund=_refund_result(message))
            return Notification(notify_id=message["notify_id"], result=_trade_result(message))
        except ValueError as exc:
            raise InvalidNotification(str(exc)) from exc

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return _ACCEPTED if accepted else _REFUSED

    def _verified_notification(self, body: bytes) -> dict[str, Any]:
        """The notification's fields, once its signature, type, fields and app_id check out."""
        try:
            untrusted.check_size(body)
            message = untrusted.parse_checked(signing.loads_object, body)
        except ValueError as exc:  # MalformedJson and UntrustedInput
            raise InvalidNotification(str(exc)) from exc
        if not signing.verify(message, self._platform_key):
            raise InvalidNotification("the notification's signature does not verify")
        notify_type = message.get("notify_type")
        required = _NOTIFICATION_FIELDS.get(notify_type) if isinstance(notify_type, str) else None
        if required is None:
            raise InvalidNotification("the notification has an unknown notify_type")
        missing = [name for name in required if name not in message]
        if missing:
            raise InvalidNotification(f"the notification lacks {', '.join(missing)}")
        if message["app_id"] != self.app_id:
            raise InvalidNotification("the notification is addressed to another app_id")
        if not _is_text(message["notify_id"]):
            raise InvalidNotification("the notification has no notify_id")
        return message

    def _call(
        self,
        method: str,
        biz: dict[str, Any],
        *,
        about: tuple[str, ...] = _TRADE_KEYS,
        accept: Collection[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """POST one signed request; return the answer's code and data.

        A successful answer's data must repeat the ``about`` fields of ``biz``. Codes other
        than SUCCESS and those in ``accept`` raise ProviderDeclined.
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
        response = self._http(
            method,
            lambda: self.session.post(
                f"{self.base_url}/gateway/{method.replace('.', '/')}",
                data=json.dumps(envelope, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        subject = {name: biz[name] for name in about}
        return self._read_answer(method, subject, response.content, accept)

    def _http(self, what: str, send: Callable[[], requests.Response]) -> requests.Response:
        """Send one HTTP request and return its 200 answer; no answer or a 5xx is unavailable."""
        response = http.send_answered(what, send)
        if response.status_code != 200:
            raise ProviderError(f"{what}: unexpected HTTP {response.status_code}")
        return response

    def _read_answer(
        self, method: str, subject: dict[str, Any], body: bytes, accept: Collection[str]
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
            if not isinstance(data, dict) or any(data.get(k) != v for k, v in subject.items()):
                about = ", ".join(str(value) for value in subject.values())
                raise ProviderError(f"{method}: the answer is not about {about}")
            return code, data
        if code in accept:
            return code, {}
        raise ProviderDeclined(f"{method} refused: {message}", code=code)


def _beijing_time(moment: datetime) -> str:
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
    status = _status(_STATUSES, fields.get("trade_status"), "trade_status")
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
    status = _status(_REFUND_STATUSES, fields.get("refund_status"), "refund_status")
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


# -- the daily bill as a statement frame ------------------------------------------------

# The bill's columns (docs/public_platform.md, "The daily bill"), in order.
BILL_COLUMNS = (
    "record_type",
    "trade_no",
    "out_trade_no",
    "out_refund_no",
    "payment_code",
    "department_code",
    "amount_fen",
    "fee_fen",
    "status",
    "time",
)
BILL_TOTAL = "#total"
_BILL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2}$"


def parse_bill(content: bytes) -> pd.DataFrame:
    """The daily bill as a TRANSACTION_COLUMNS frame; raises StatementInvalid.

    A PAYMENT line is a payment (``ref`` out_trade_no), a REFUND line a refund (``ref``
    out_refund_no); ``provider_ref`` is trade_no (for a refund, the refunded trade's: the
    bill names no refund of the platform's), ``amount`` amount_fen, ``fee`` fee_fen,
    ``occurred_at`` time. The #total line must agree with the lines.
    """
    header_end = content.find(b"\n")
    header = _bill_line(content[: header_end if header_end >= 0 else len(content)], 1)
    if header != ",".join(BILL_COLUMNS):
        raise StatementInvalid(1, f"is not the bill's header ({','.join(BILL_COLUMNS)})")
    start = header_end + 1 if header_end >= 0 else len(content)
    total_at = content.rfind(f"\n{BILL_TOTAL},".encode(), start - 1)
    end = total_at + 1 if total_at >= 0 else len(content)
    lines = statements.count_lines(content, start, end)
    fields = _bill_fields(content, start, end, lines=lines)
    if total_at < 0:
        raise StatementInvalid(2 + lines, f"the bill ends without its {BILL_TOTAL} line")
    frame = _bill_frame(fields)
    _check_total(content[end:], frame, line=2 + lines)
    return statements.typed(frame, statements.TRANSACTION_COLUMNS)


def _bill_line(raw: bytes, line: int) -> str:
    try:
        return raw.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError as exc:
        raise StatementInvalid(line, "is not UTF-8") from exc


def _bill_fields(content: bytes, start: int, end: int, *, lines: int) -> dict[str, pa.Array]:
    """The lines ``content[start:end]`` as text columns, one record per line."""
    fields = statements.csv_fields(memoryview(content)[start:end], BILL_COLUMNS, lines=lines)
    if fields is None:
        _refuse_malformed(content, start, end)
    return fields


def _refuse_malformed(content: bytes, start: int, end: int) -> NoReturn:
    """Refuse the first line of ``content[start:end]`` that is not one UTF-8 record of the
    bill's fields, or a line before it whose fields are wrong."""

    def check_before(stop: int) -> None:  # the lines before are whole records: are their fields?
        _bill_frame(
            _bill_fields(content, start, stop, lines=statements.count_lines(content, start, stop))
        )

    statements.refuse_bad_line(
        content, start, end, first_line=2, line_problem=_line_problem, check_before=check_before
    )
    raise StatementInvalid(2, "the lines cannot be read")


def _line_problem(raw: bytes) -> str | None:
    if not raw:
        return "is empty"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "is not UTF-8"
    if text.count('"') % 2:  # every quoted field holds an even number of quotes
        return "has a quoted field that runs over lines"
    try:
        fields = next(csv.reader([text]))
    except csv.Error:  # Python's reader refuses a carriage return inside a line
        return "has a carriage return before its end"
    if len(fields) != len(BILL_COLUMNS):
        return f"has {len(fields)} fields, the bill has {len(BILL_COLUMNS)}"
    return None


def _bill_frame(fields: dict[str, pa.Array]) -> pd.DataFrame:
    """The canonical columns of the bill's lines, every field checked on the way."""
    checks = statements.LineChecks()
    at = statements.value_at
    kind = fields["record_type"]
    known = pc.is_in(kind, pa.array(["PAYMENT", "REFUND"]))
    checks.check(known, lambda i: f"record_type {at(kind, i)} is neither PAYMENT nor REFUND")
    refund = pc.equal(kind, "REFUND")
    is_refund = refund.to_numpy(zero_copy_only=False)
    ref = pc.if_else(refund, fields["out_refund_no"], fields["out_trade_no"])
    checks.check(pc.not_equal(fields["trade_no"], ""), lambda i: "trade_no is empty")
    checks.check(
        pc.not_equal(ref, ""),
        lambda i: f"{'out_refund_no' if is_refund[i] else 'out_trade_no'} is empty",
    )
    checks.check(
        pc.or_(refund, pc.equal(fields["out_refund_no"], "")),
        lambda i: "a PAYMENT line has an out_refund_no",
    )
    amount, ok = _whole_fen(fields["amount_fen"], r"^[1-9][0-9]{0,17}$")
    checks.check(ok, lambda i: f"amount_fen {at(fields['amount_fen'], i)} is not fen above zero")
    fee, ok = _whole_fen(fields["fee_fen"], r"^-?(0|[1-9][0-9]{0,17})$")
    checks.check(ok, lambda i: f"fee_fen {at(fields['fee_fen'], i)} is not a whole number of fen")
    status = fields["status"]
    checks.check(pc.equal(status, "SUCCESS"), lambda i: f"status {at(status, i)} is not SUCCESS")
    occurred_at, ok = _utc_times(fields["time"])
    checks.check(ok, lambda i: f"time {at(fields['time'], i)} is not ISO 8601 with an offset")
    checks.refuse_first(2)
    return pd.DataFrame(
        {
            "line_no": np.arange(2, 2 + len(amount), dtype=np.int64),
            "kind": np.where(is_refund, "refund", "payment"),
            "ref": statements.strings(ref),
            "provider_ref": statements.strings(fields["trade_no"]),
            "amount": amount,
            "fee": fee,
            "occurred_at": occurred_at,
        }
    )


def _check_total(tail: bytes, frame: pd.DataFrame, *, line: int) -> None:
    """``#total,<count>,<sum of payments>,<sum of refunds>``, then nothing."""
    lines = [_bill_line(raw, line + at) for at, raw in enumerate(tail.split(b"\n"))]
    while len(lines) > 1 and not lines[-1]:
        lines.pop()
    if len(lines) > 1:
        raise StatementInvalid(line + 1, f"follows the {BILL_TOTAL} line")
    refunds = frame["kind"] == "refund"
    counted = [
        BILL_TOTAL,
        str(len(frame)),
        str(int(frame["amount"][~refunds].sum())),
        str(int(frame["amount"][refunds].sum())),
    ]
    if lines[0].split(",") != counted:
        raise StatementInvalid(line, f"{lines[0]!r}, the lines add up to {','.join(counted)}")


def _whole_fen(column: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole fen written in digits, and which values had the pattern (the others: 0)."""
    ok = pc.match_substring_regex(column, pattern)
    if not pc.all(ok).as_py():
        column = pc.if_else(ok, column, "0")
    return (
        pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False),
        ok.to_numpy(zero_copy_only=False),
    )


def _utc_times(column: pa.Array) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """``yyyy-MM-ddTHH:mm:ss±hh:mm`` in UTC, and which values were such times."""
    ok = pc.match_substring_regex(column, _BILL_TIME)
    column = pc.if_else(ok, column, "2000-01-01T00:00:00+00:00")
    local = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(column, 0, 10), " ", pc.utf8_slice_codeunits(column, 11, 19), ""
    )
    times, ok = statements.wall_times(local, ok)
    hours, minutes = (
        pc.cast(pc.utf8_slice_codeunits(column, at, at + 2), pa.int64()).to_numpy()
        for at in (20, 23)
    )
    west = pc.equal(pc.utf8_slice_codeunits(column, 19, 20), "-").to_numpy(zero_copy_only=False)
    offset = np.where(west, -1, 1) * (hours * 60 + minutes)
    seconds = times.astype(np.int64) - offset * 60
    utc = pd.DatetimeIndex(seconds.astype("datetime64[s]").astype("datetime64[ns]"))
    return utc.tz_localize("UTC"), ok
