"""A sandbox of the unified public payment platform: the platform's side of the protocol.

It checks each gateway request's app, signature, timestamp and nonce as the platform
does, keeps trades and refunds in journalled stores (sandboxes.state), serves a cashier
page at each trade's ``pay_url``, settles refunds shortly after they are asked for,
serves daily bills, and sends signed notifications on the platform's retry schedule
(sped up by ``SANDBOX_PUBLIC_PLATFORM["time_scale"]``). Each app signs, and is answered
and notified, in the scheme it registered: RSA2, or SM2 with SM3. Tests and operators drive it
through the ``_control/`` endpoints. The protocol is described in
docs/public_platform.md; its wire format is in ``wire``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import common, faults, keys
from sandboxes.public_platform import wire
from sandboxes.public_platform.wire import BEIJING
from sandboxes.state import Store

MAX_CLOCK_SKEW = timedelta(minutes=5)
# Seconds between one notification try and the next, after the first try.
RETRY_DELAYS = (15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
MAX_AMOUNT = 100_000_000_000  # one billion yuan, in fen
REFUND_SETTLE_DELAY = 2.0  # seconds from trade.refund to the refund's outcome
REFUND_FAIL_REASON = "PAYER_ACCOUNT_ABNORMAL"
BILL_URL_LIFETIME = timedelta(minutes=30)


class _Refused(Exception):
    """A gateway request the platform refuses with a signed error answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Outbox:
    """The delivery of one notification: its id, the tries so far, whether one was acked."""

    notify_id: str = ""  # set when its trade or refund settles: one id for every try
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Refund:
    app_id: str
    params: dict[str, Any]  # the trade.refund biz_content, normalised
    refund_no: str
    fails: bool  # settles FAILED instead of SUCCESS (the fail-next-refund control)
    status: str = "PROCESSING"
    refund_time: str | None = None
    fail_reason: str = ""
    outbox: _Outbox = field(default_factory=_Outbox)

    def view(self) -> dict[str, Any]:
        """The refund object of trade.refund and refund.query answers."""
        return {
            "out_trade_no": self.params["out_trade_no"],
            "out_refund_no": self.params["out_refund_no"],
            "refund_no": self.refund_no,
            "refund_amount": self.params["refund_amount"],
            "refund_status": self.status,
            "refund_time": self.refund_time,
            "fail_reason": self.fail_reason,
        }

    def notification(self, now: datetime) -> dict[str, Any]:
        return {
            **_notification_header(self.outbox, "refund.status_sync", self.app_id, now),
            **self.view(),
        }


@dataclass
class _Trade:
    app_id: str
    params: dict[str, Any]  # the trade.create biz_content, normalised
    trade_no: str
    expires_at: datetime
    status: str = "WAIT_PAY"
    paid_time: str | None = None
    fail_reason: str = ""
    outbox: _Outbox = field(default_factory=_Outbox)
    refunds: list[_Refund] = field(default_factory=list)
    fail_next_refund: bool = False

    def refundable(self) -> int:
        """Fen that may still be refunded: the amount minus refunds that have not failed."""
        taken = sum(r.params["refund_amount"] for r in self.refunds if r.status != "FAILED")
        return self.params["amount"] - taken

    def notification(self, now: datetime) -> dict[str, Any]:
        return {
            **_notification_header(self.outbox, "trade.status_sync", self.app_id, now),
            "out_trade_no": self.params["out_trade_no"],
            "trade_no": self.trade_no,
            "payment_code": self.params["payment_code"],
            "amount": self.params["amount"],
            "trade_status": self.status,
            "paid_time": self.paid_time,
            "fail_reason": self.fail_reason,
        }


def _encode_trade(trade: _Trade) -> dict[str, Any]:
    return {**asdict(trade), "expires_at": trade.expires_at.isoformat()}


def _decode_trade(record: dict[str, Any]) -> _Trade:
    refunds = [
        _Refund(**{**refund, "outbox": _Outbox(**refund["outbox"])}) for refund in record["refunds"]
    ]
    return _Trade(
        **{
            **record,
            "expires_at": datetime.fromisoformat(record["expires_at"]),
            "outbox": _Outbox(**record["outbox"]),
            "refunds": refunds,
        }
    )


def _encode_bill(bill: tuple[datetime, bytes]) -> dict[str, str]:
    until, content = bill
    return {"until": until.isoformat(), "content": base64.b64encode(content).decode("ascii")}


def _decode_bill(record: dict[str, str]) -> tuple[datetime, bytes]:
    return datetime.fromisoformat(record["until"]), base64.b64decode(record["content"])


# Trades by out_trade_no, each holding its refunds.
_trades: Store[_Trade] = Store("public-platform-trades", encode=_encode_trade, decode=_decode_trade)
# Bill downloads by token: until when the link works, and the CSV it serves.
_bills: Store[tuple[datetime, bytes]] = Store(
    "public-platform-bills", encode=_encode_bill, decode=_decode_bill
)
# Nonces seen, by app and nonce: until when a request could still carry it.
_nonces: Store[datetime] = Store(
    "public-platform-nonces", encode=datetime.isoformat, decode=datetime.fromisoformat
)
_lock = _trades.lock  # held across every read-modify-store of the three


def _save(trade: _Trade) -> None:
    """Journal a trade (or one of its refunds) changed in place, unless the sandbox was
    reset meanwhile."""
    with _lock:
        if _trades.get(trade.params["out_trade_no"]) is trade:
            _trades[trade.params["out_trade_no"]] = trade


def _trade_numbered(trade_no: str) -> _Trade | None:
    """The trade with this platform trade number; hold the lock."""
    return next((trade for trade in _trades.values() if trade.trade_no == trade_no), None)


def _refund_numbered(out_refund_no: str) -> _Refund | None:
    """The refund with this merchant refund number, of any trade; hold the lock."""
    refunds = (refund for trade in _trades.values() for refund in trade.refunds)
    return next((r for r in refunds if r.params["out_refund_no"] == out_refund_no), None)


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+\S*", value) is not None


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _parse_date(value: object) -> date | None:
    if not isinstance(value, str) or re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, re.A) is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _is_text(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and 0 < len(value) <= limit


def _matches(pattern: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value, re.A) is not None


_CREATE_FIELDS: dict[str, Callable[[object], bool]] = {
    "out_trade_no": _matches(r"[\w-]{1,64}"),
    "payment_code": _matches(r"\d{1,32}"),
    "amount": lambda v: type(v) is int and 0 < v <= MAX_AMOUNT,
    "currency": lambda v: v == "CNY",
    "subject": _is_text(128),
    "department_code": _is_text(32),
    "notify_url": _is_http_url,
    "expire_time": lambda v: _parse_time(v) is not None,
    "return_url": lambda v: v == "" or _is_http_url(v),
}
_REFUND_FIELDS: dict[str, Callable[[object], bool]] = {
    "out_trade_no": _matches(r"[\w-]{1,64}"),
    "out_refund_no": _matches(r"[\w-]{1,64}"),
    "refund_amount": lambda v: type(v) is int and 0 < v <= MAX_AMOUNT,
    "reason": lambda v: isinstance(v, str) and len(v) <= 256,
    "notify_url": _is_http_url,
}
_REFUND_QUERY_FIELDS = {name: _REFUND_FIELDS[name] for name in ("out_trade_no", "out_refund_no")}
_BILL_FIELDS: dict[str, Callable[[object], bool]] = {
    "bill_date": lambda v: _parse_date(v) is not None,
}


def _now() -> datetime:
    return datetime.now(BEIJING)


def _app_sign_type(app_id: str) -> str:
    """The scheme the app registered to sign with: RSA2 unless ``merchant_sign_types`` says."""
    return settings.SANDBOX_PUBLIC_PLATFORM["merchant_sign_types"].get(app_id, wire.SIGN_TYPE)


def _signed_in(sign_type: str, message: dict[str, Any]) -> dict[str, Any]:
    """A message of the platform's (an answer, a notification) signed in the scheme, with
    the platform's key of it: it has one RSA key and one SM2 key."""
    config = settings.SANDBOX_PUBLIC_PLATFORM
    if sign_type == wire.SM2:
        key = wire.load_sm2_private_key(config["platform_sm2_private_key_pem"])
    else:
        key = keys.load_private_key(config["platform_private_key_pem"])
    return wire.signed(message, key, sign_type)


def _merchant_key(app_id: str, sign_type: str) -> Any:
    pem = settings.SANDBOX_PUBLIC_PLATFORM["merchant_public_keys"][app_id]
    return wire.load_sm2_public_key(pem) if sign_type == wire.SM2 else keys.load_public_key(pem)


# -- the gateway ------------------------------------------------------------------------


@csrf_exempt
@require_POST
def gateway(request: HttpRequest, group: str, action: str) -> JsonResponse:
    method = f"{group}.{action}"
    handler = _HANDLERS.get(method)
    if handler is None:
        raise Http404("no such gateway method")
    envelope: dict[str, Any] = {}
    try:
        envelope = _envelope(request)
        app_id, biz = _authenticate(envelope, method)
        answer = {"code": "SUCCESS", "message": "OK", "data": handler(request, app_id, biz)}
    except _Refused as refusal:
        answer = {"code": refusal.code, "message": refusal.message, "data": None}
    return JsonResponse(
        _signed_in(_answer_sign_type(envelope), answer), json_dumps_params={"ensure_ascii": False}
    )


def _envelope(request: HttpRequest) -> dict[str, Any]:
    try:
        return wire.parse_message(request.body)
    except common.MalformedJson as exc:
        raise _Refused("INVALID_PARAMETER", str(exc)) from exc


def _registered_app(envelope: dict[str, Any]) -> str | None:
    app_id = envelope.get("app_id")
    registered = settings.SANDBOX_PUBLIC_PLATFORM["merchant_public_keys"]
    return app_id if isinstance(app_id, str) and app_id in registered else None


def _answer_sign_type(envelope: dict[str, Any]) -> str:
    """The scheme of the answer: the app's when the app is known; otherwise the one the
    request says, if the platform speaks it, and RSA2 when it says none of them."""
    app_id = _registered_app(envelope)
    if app_id is not None:
        return _app_sign_type(app_id)
    declared = envelope.get("sign_type")
    return declared if declared in wire.SIGN_TYPES else wire.SIGN_TYPE


def _authenticate(envelope: dict[str, Any], method: str) -> tuple[str, dict[str, Any]]:
    """The verified app_id and biz_content of a request, checked in the platform's order."""
    app_id = _registered_app(envelope)
    if app_id is None:
        raise _Refused("INVALID_APP_ID", "unknown app_id")
    sign_type = _app_sign_type(app_id)
    if envelope.get("sign_type") != sign_type:
        raise _Refused("INVALID_SIGNATURE", f"this app signs with sign_type {sign_type}")
    if not wire.verify(envelope, _merchant_key(app_id, sign_type), sign_type):
        raise _Refused("INVALID_SIGNATURE", "the request's signature does not verify")
    if envelope.get("method") != method or envelope.get("version") != wire.VERSION:
        raise _Refused(
            "INVALID_PARAMETER", f"this endpoint takes method {method}, version {wire.VERSION}"
        )
    now, timestamp = _now(), _parse_time(envelope.get("timestamp"))
    if timestamp is None or abs(now - timestamp) > MAX_CLOCK_SKEW:
        raise _Refused("INVALID_TIMESTAMP", "timestamp is missing or more than 5 minutes off")
    nonce, biz = envelope.get("nonce"), envelope.get("biz_content")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64 or not isinstance(biz, dict):
        raise _Refused("INVALID_PARAMETER", "nonce (16-64 characters) or biz_content missing")
    seen = json.dumps([app_id, nonce], ensure_ascii=False)
    with _lock:
        for key in [key for key, until in _nonces.items() if until < now]:
            del _nonces[key]
        if seen in _nonces:
            raise _Refused("NONCE_USED", "this nonce was already used")
        _nonces[seen] = timestamp + MAX_CLOCK_SKEW
    return app_id, biz


def _params(
    biz: dict[str, Any], fields: dict[str, Callable[[object], bool]], **defaults: object
) -> dict[str, Any]:
    """The method's parameters from biz_content, with defaults; refuses invalid ones."""
    params = defaults | {name: biz[name] for name in fields if name in biz}
    invalid = [name for name, valid in fields.items() if not valid(params.get(name))]
    if invalid:
        raise _Refused("INVALID_PARAMETER", f"missing or invalid: {', '.join(invalid)}")
    return params


def _create(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    params = _params(biz, _CREATE_FIELDS, return_url="")
    now = _now()
    with _lock:
        trade = _trades.get(params["out_trade_no"])
        if trade is not None:
            if trade.app_id != app_id or trade.params != params:
                raise _Refused("OUT_TRADE_NO_USED", "out_trade_no was used with other parameters")
            return _trade_view(request, trade, now)
        expires_at = _parse_time(params["expire_time"])
        if expires_at is None or expires_at <= now:
            raise _Refused("INVALID_PARAMETER", "expire_time is in the past")
        trade = _Trade(
            app_id=app_id,
            params=params,
            trade_no=f"{now:%Y%m%d}{secrets.randbelow(10**16):016d}",
            expires_at=expires_at,
        )
        _trades[trade.params["out_trade_no"]] = trade
        return _trade_view(request, trade, now)


def _query(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    with _lock:
        return _trade_view(request, _merchant_trade(app_id, biz), now)


def _close(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    now = _now()
    with _lock:
        trade = _merchant_trade(app_id, biz)
        _expire_if_due(trade, now)
        if trade.status == "SUCCESS":
            raise _Refused("TRADE_HAS_SUCCESS", "the trade is paid and cannot be closed")
        if trade.status == "WAIT_PAY":
            trade.status = "CLOSED"
            _save(trade)
        return _trade_view(request, trade, now)


def _refund(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    params = _params(biz, _REFUND_FIELDS, reason="")
    with _lock:
        trade = _merchant_trade(app_id, params)
        refund = _refund_numbered(params["out_refund_no"])
        if refund is not None:
            if refund.app_id != app_id or refund.params != params:
                raise _Refused("OUT_REFUND_NO_USED", "out_refund_no was used with other parameters")
            return refund.view()
        if trade.status != "SUCCESS":
            raise _Refused("TRADE_NOT_PAID", f"the trade is {trade.status}, not paid")
        if params["refund_amount"] > trade.refundable():
            raise _Refused(
                "REFUND_AMOUNT_EXCEEDED", f"at most {trade.refundable()} fen can still be refunded"
            )
        refund = _Refund(
            app_id=app_id,
            params=params,
            refund_no=f"{_now():%Y%m%d}{secrets.randbelow(10**16):016d}",
            fails=trade.fail_next_refund,
        )
        trade.fail_next_refund = False
        trade.refunds.append(refund)
        _save(trade)
        answer = refund.view()
    threading.Thread(
        target=_settle_refund_later,
        args=(trade, refund, common.time_scale("SANDBOX_PUBLIC_PLATFORM")),
        name=f"public-platform-refund-{refund.refund_no}",
        daemon=True,
    ).start()
    return answer


def _refund_query(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    params = _params(biz, _REFUND_QUERY_FIELDS)
    with _lock:
        refund = _refund_numbered(params["out_refund_no"])
        if (
            refund is None
            or refund.app_id != app_id
            or refund.params["out_trade_no"] != params["out_trade_no"]
        ):
            raise _Refused("REFUND_NOT_EXIST", "no such refund of this trade")
        return refund.view()


def _bill_download(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    bill_date, now = date.fromisoformat(_params(biz, _BILL_FIELDS)["bill_date"]), _now()
    if bill_date > now.date():
        raise _Refused("INVALID_PARAMETER", "bill_date is in the future")
    token = secrets.token_urlsafe(24)
    with _lock:
        content = faults.damage_file("public_platform", _bill(app_id, bill_date))
        for expired in [key for key, (until, _) in _bills.items() if until < now]:
            del _bills[expired]
        _bills[token] = (now + BILL_URL_LIFETIME, content)
    download = reverse("public_platform_sandbox:bill", args=[token])
    return {
        "bill_date": bill_date.isoformat(),
        "download_url": request.build_absolute_uri(download),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


_HANDLERS: dict[str, Callable[[HttpRequest, str, dict[str, Any]], dict[str, Any]]] = {
    "trade.create": _create,
    "trade.query": _query,
    "trade.close": _close,
    "trade.refund": _refund,
    "refund.query": _refund_query,
    "bill.download": _bill_download,
}


def _merchant_trade(app_id: str, biz: dict[str, Any]) -> _Trade:
    """The app's trade named by biz_content; call with the lock held."""
    out_trade_no = biz.get("out_trade_no")
    if not isinstance(out_trade_no, str) or not out_trade_no:
        raise _Refused("INVALID_PARAMETER", "missing or invalid: out_trade_no")
    trade = _trades.get(out_trade_no)
    if trade is None or trade.app_id != app_id:
        raise _Refused("TRADE_NOT_EXIST", "no such trade")
    return trade


def _expire_if_due(trade: _Trade, now: datetime) -> None:
    if trade.status == "WAIT_PAY" and now >= trade.expires_at:
        trade.status = "CLOSED"
        _save(trade)


def _trade_view(request: HttpRequest, trade: _Trade, now: datetime) -> dict[str, Any]:
    """The trade object of every gateway answer; call with the lock held."""
    _expire_if_due(trade, now)
    cashier = reverse("public_platform_sandbox:cashier", args=[trade.trade_no])
    return {
        "out_trade_no": trade.params["out_trade_no"],
        "trade_no": trade.trade_no,
        "trade_status": trade.status,
        "amount": trade.params["amount"],
        "currency": trade.params["currency"],
        "pay_url": request.build_absolute_uri(cashier),
        "paid_time": trade.paid_time,
        "fail_reason": trade.fail_reason,
    }


# -- the cashier ------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest, trade_no: str) -> HttpResponse:
    """The payer's page: GET shows the trade, POST pays it or makes the payment fail.

    POST takes the page's form (``result``) or JSON ``{"result": "success" | "failed"}``,
    where ``"notify": false`` settles the trade without sending its notification.
    """
    if request.method == "GET":
        with _lock:
            return HttpResponse(_cashier_page(request, _cashier_trade(trade_no)))
    wants_json = request.content_type == "application/json"
    choice = common.cashier_choice(request, wants_json, request.POST.get("result"))
    if choice is None:
        return JsonResponse(
            {"code": "INVALID_PARAMETER", "message": 'result must be "success" or "failed"'},
            status=400,
        )
    result, notify = choice
    with _lock:
        trade = _cashier_trade(trade_no)
        if trade.status != "WAIT_PAY":
            return JsonResponse(
                {
                    "code": "TRADE_NOT_PAYABLE",
                    "trade_status": trade.status,
                    "message": f"the trade is {trade.status} and cannot be paid",
                },
                status=409,
            )
        _settle(trade, paid=result == "success", now=_now())
        _save(trade)
        answer = {
            "out_trade_no": trade.params["out_trade_no"],
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "return_url": trade.params["return_url"],
        }
        page = _cashier_page(request, trade)
    if notify:
        _notifier.start(trade.params["out_trade_no"], trade.outbox)
    return JsonResponse(answer) if wants_json else HttpResponse(page)


def _cashier_trade(trade_no: str) -> _Trade:
    """The trade behind a cashier URL, closed first if it has expired; hold the lock."""
    trade = _trade_numbered(trade_no)
    if trade is None:
        raise Http404("no such trade")
    _expire_if_due(trade, _now())
    return trade


def _settle(trade: _Trade, *, paid: bool, now: datetime) -> None:
    if paid:
        trade.status, trade.paid_time = "SUCCESS", now.isoformat(timespec="seconds")
    else:
        trade.status, trade.fail_reason = "FAILED", "BANK_DECLINED"
    trade.outbox.notify_id = uuid.uuid4().hex


_STATUS_NAMES = {
    "WAIT_PAY": "待支付",
    "SUCCESS": "支付成功",
    "FAILED": "支付失败",
    "CLOSED": "已关闭",
}


def _cashier_page(request: HttpRequest, trade: _Trade) -> str:
    if trade.status == "WAIT_PAY":
        actions = common.pay_form(request.path)
    elif trade.params["return_url"]:
        actions = format_html('<p><a href="{}">返回</a></p>', trade.params["return_url"])
    else:
        actions = ""
    return common.cashier_page(
        "统一公共支付平台 收银台（沙箱）",
        [
            ("缴费事项", trade.params["subject"]),
            ("缴款码", trade.params["payment_code"]),
            ("金额", f"¥{common.yuan(trade.params['amount'])}"),
            ("状态", _STATUS_NAMES[trade.status]),
        ],
        actions,
    )


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: every trade it holds, newest first, with its cashier."""
    with _lock:
        trades = list(_trades.values())
    trades.reverse()
    return common.trades_page(
        "统一公共支付平台（沙箱）交易",
        ("商户订单号", "缴款码", "金额", "状态"),
        (
            (
                trade.params["out_trade_no"],
                trade.params["payment_code"],
                f"¥{common.yuan(trade.params['amount'])}",
                _STATUS_NAMES[trade.status],
                f"{request.path.rstrip('/')}/cashier/{trade.trade_no}",
            )
            for trade in trades
        ),
        empty="暂无交易",
    )


# -- bills ------------------------------------------------------------------------------

_BILL_EXTRA_COLUMNS = ("out_trade_no", "payment_code", "department_code")


def _bill(app_id: str, bill_date: date) -> bytes:
    """The app's bill of a date as UTF-8 CSV (docs/public_platform.md, "The daily bill");
    call with the lock held."""
    return render_statement(_bill_rows(app_id, bill_date))


def _bill_rows(app_id: str, bill_date: date) -> pd.DataFrame:
    """The app's payments and refunds that succeeded on the date, ordered by time (then
    payments first, then by numbers), for render_statement."""
    records = []
    for trade in _trades.values():
        if trade.app_id != app_id:
            continue
        params = trade.params
        common_fields = {
            "provider_ref": trade.trade_no,
            "out_trade_no": params["out_trade_no"],
            "payment_code": params["payment_code"],
            "department_code": params["department_code"],
            "fee": 0,  # the platform takes no fee from government collections
        }
        if trade.status == "SUCCESS" and _on(bill_date, trade.paid_time):
            records.append(
                {
                    "kind": "payment",
                    "ref": params["out_trade_no"],
                    "amount": params["amount"],
                    "occurred_at": _parse_time(trade.paid_time),
                    **common_fields,
                }
            )
        for refund in trade.refunds:
            if refund.status == "SUCCESS" and _on(bill_date, refund.refund_time):
                records.append(
                    {
                        "kind": "refund",
                        "ref": refund.params["out_refund_no"],
                        "amount": refund.params["refund_amount"],
                        "occurred_at": _parse_time(refund.refund_time),
                        **common_fields,
                    }
                )
    order = ("occurred_at", "kind", "provider_ref", "out_trade_no", "ref")
    return common.bill_frame(
        faults.billed("public_platform", records), _BILL_EXTRA_COLUMNS, order=order
    )


def render_statement(rows: pd.DataFrame) -> bytes:
    """The platform's daily bill for a frame of bill lines (common.BILL_LINE_COLUMNS), in
    the frame's order.

    ``line_no`` is not read. Columns beyond the canonical ones fill what the frame does
    not hold: ``out_trade_no`` (a refund's trade; empty when absent), ``payment_code``
    and ``department_code`` (empty when absent). Times are written in Beijing time. Built
    column by column with RFC 4180 quoting where a field needs it, never line by line.
    """
    bill = common.bill_lines(rows)
    amount, is_refund, either = bill.amount, bill.is_refund, bill.either
    stamp = common.beijing_text(rows["occurred_at"])  # yyyy-MM-dd HH:mm:ss
    fields = [
        either("REFUND", "PAYMENT"),
        _csv_text(rows, "provider_ref"),
        either(_csv_text(rows, "out_trade_no"), _csv_text(rows, "ref")),
        either(_csv_text(rows, "ref"), ""),
        _csv_text(rows, "payment_code"),
        _csv_text(rows, "department_code"),
        pc.cast(pa.array(amount), pa.string()),
        pc.cast(pa.array(bill.fee), pa.string()),
        "SUCCESS",
        common.joined(
            pc.utf8_slice_codeunits(stamp, 0, 10), "T", pc.utf8_slice_codeunits(stamp, 11)
        ),
    ]
    payments, refunds = amount[~is_refund].sum(), amount[is_refund].sum()
    total = f"{wire.BILL_TOTAL},{len(rows)},{payments},{refunds}\n"
    return b"".join(
        (
            f"{','.join(wire.BILL_COLUMNS)}\n".encode(),
            common.lines_of(fields, ",", end="+08:00\n"),
            total.encode(),
        )
    )


def _csv_text(rows: pd.DataFrame, name: str) -> pa.Array | str:
    """A text column as CSV fields: quoted when it holds a comma, a quote or a line break."""
    return common.csv_field(common.text_column(rows, name))


def _on(bill_date: date, moment: str | None) -> bool:
    parsed = _parse_time(moment)
    return parsed is not None and parsed.astimezone(BEIJING).date() == bill_date


@require_GET
def bill(request: HttpRequest, token: str) -> HttpResponse:
    """A bill at the download_url of a bill.download answer, while the link is valid."""
    with _lock:
        until, content = _bills.get(token, (None, b""))
    if until is None or until < _now():
        raise Http404("no such bill, or its link has expired")
    return HttpResponse(content, content_type="text/csv; charset=utf-8")


# -- refunds and notifications ----------------------------------------------------------


def _settle_refund_later(trade: _Trade, refund: _Refund, time_scale: float) -> None:
    time.sleep(REFUND_SETTLE_DELAY / time_scale)
    with _lock:
        if refund.fails:
            refund.status, refund.fail_reason = "FAILED", REFUND_FAIL_REASON
        else:
            refund.status, refund.refund_time = "SUCCESS", _now().isoformat(timespec="seconds")
        refund.outbox.notify_id = uuid.uuid4().hex
        _save(trade)
    _notifier.start(trade.params["out_trade_no"], refund.outbox)


def _notified(trade: _Trade, outbox: _Outbox) -> _Trade | _Refund:
    """The trade's payment, or the one of its refunds, whose notification ``outbox`` sends."""
    return next(subject for subject in (trade, *trade.refunds) if subject.outbox is outbox)


_notifier = common.Notifier(
    "public-platform-notify",
    _trades,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting="SANDBOX_PUBLIC_PLATFORM",
    logs=lambda trade: [trade.outbox, *(refund.outbox for refund in trade.refunds)],
    send=lambda key, trade, outbox, trigger: _deliver(
        trade, _notified(trade, outbox), trigger=trigger
    ),
)


def _deliver(
    trade: _Trade, subject: _Trade | _Refund, *, trigger: str
) -> tuple[dict[str, Any], str]:
    """POST the notification, signed in the app's scheme, once; return the logged try and
    the service's answer."""
    now = _now()
    with _lock:
        notification = _signed_in(_app_sign_type(trade.app_id), subject.notification(now))
        notify_url = subject.params["notify_url"]
    status_code, body, error = common.post_notification(
        notify_url,
        data=json.dumps(notification, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    attempt = common.log_delivery(
        _lock,
        subject.outbox,
        at=now.isoformat(timespec="milliseconds"),
        trigger=trigger,
        status_code=status_code,
        error=error,
        acknowledged=status_code == 200 and _is_acknowledgement(body),
    )
    _save(trade)
    return attempt, body


def _notification_header(
    outbox: _Outbox, notify_type: str, app_id: str, now: datetime
) -> dict[str, Any]:
    return {
        "notify_id": outbox.notify_id,
        "notify_time": now.isoformat(timespec="seconds"),
        "notify_type": notify_type,
        "app_id": app_id,
    }


def _is_acknowledgement(body: str) -> bool:
    try:
        return json.loads(body).get("code") == "SUCCESS"
    except (ValueError, AttributeError):
        return False


# -- controls for tests and operators ---------------------------------------------------


def _trade_or_404(out_trade_no: str) -> _Trade:
    with _lock:
        trade = _trades.get(out_trade_no)
    if trade is None:
        raise Http404("no such trade")
    return trade


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Send the trade's notification once more, now, and answer with what the service said."""
    trade = _trade_or_404(out_trade_no)
    if not trade.outbox.notify_id:
        return common.no_notification("the trade has not been paid or failed yet")
    return common.control_answer(request, lambda: _deliver(trade, trade, trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    trade = _trade_or_404(out_trade_no)
    with _lock:
        answer = {"notify_id": trade.outbox.notify_id, "deliveries": list(trade.outbox.deliveries)}
    return JsonResponse({"out_trade_no": out_trade_no, **answer})


@csrf_exempt
@require_POST
def control_fail_next_refund(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Make the trade's next new refund settle FAILED instead of SUCCESS."""
    trade = _trade_or_404(out_trade_no)
    with _lock:
        trade.fail_next_refund = True
        _save(trade)
    return JsonResponse({"out_trade_no": out_trade_no, "fail_next_refund": True})


app_name = "public_platform_sandbox"
urlpatterns = [
    path("", index, name="index"),
    path("gateway/<slug:group>/<slug:action>", gateway, name="gateway"),
    path("cashier/<slug:trade_no>", cashier, name="cashier"),
    path("bills/<str:token>", bill, name="bill"),
    path("_control/trades/<str:out_trade_no>/notify", control_notify, name="control-notify"),
    path(
        "_control/trades/<str:out_trade_no>/deliveries",
        control_deliveries,
        name="control-deliveries",
    ),
    path(
        "_control/trades/<str:out_trade_no>/fail-next-refund",
        control_fail_next_refund,
        name="control-fail-next-refund",
    ),
]
