"""A sandbox of the unified public payment platform: the platform's side of the protocol.

It checks each gateway request's app, signature, timestamp and nonce as the platform
does, keeps trades in memory, serves a cashier page at each trade's ``pay_url`` and
sends signed notifications on the platform's retry schedule (sped up by
``SANDBOX_PUBLIC_PLATFORM["time_scale"]``). Tests and operators drive it through the
``_control/`` endpoints. The protocol is described in docs/public_platform.md.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.payments import signing

BEIJING = timezone(timedelta(hours=8))
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Seconds between one notification try and the next, after the first try.
RETRY_DELAYS = (15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
NOTIFY_TIMEOUT = (3.0, 10.0)
MAX_AMOUNT = 100_000_000_000  # one billion yuan, in fen


class _Refused(Exception):
    """A gateway request the platform refuses with a signed error answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Trade:
    app_id: str
    params: dict[str, Any]  # the trade.create biz_content, normalised
    trade_no: str
    expires_at: datetime
    status: str = "WAIT_PAY"
    paid_time: str | None = None
    fail_reason: str = ""
    notify_id: str = ""  # set when the trade settles: one id for every try
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)


_lock = threading.Lock()
_trades: dict[str, _Trade] = {}  # by out_trade_no
_out_trade_nos: dict[str, str] = {}  # trade_no -> out_trade_no
_nonces: dict[tuple[str, str], datetime] = {}  # (app_id, nonce) -> when it may be forgotten


def _is_http_url(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"https?://[^\s/]+\S*", value) is not None


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


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


def _now() -> datetime:
    return datetime.now(BEIJING)


def _platform_key() -> rsa.RSAPrivateKey:
    return signing.load_private_key(settings.SANDBOX_PUBLIC_PLATFORM["platform_private_key_pem"])


# -- the gateway ------------------------------------------------------------------------


@csrf_exempt
@require_POST
def gateway(request: HttpRequest, action: str) -> JsonResponse:
    handler = _HANDLERS.get(action)
    if handler is None:
        raise Http404("no such gateway method")
    try:
        app_id, biz = _authenticate(request, f"trade.{action}")
        answer = {"code": "SUCCESS", "message": "OK", "data": handler(request, app_id, biz)}
    except _Refused as refusal:
        answer = {"code": refusal.code, "message": refusal.message, "data": None}
    return JsonResponse(
        signing.signed(answer, _platform_key()), json_dumps_params={"ensure_ascii": False}
    )


def _authenticate(request: HttpRequest, method: str) -> tuple[str, dict[str, Any]]:
    """The verified app_id and biz_content of a request, checked in the platform's order."""
    try:
        envelope = signing.loads_object(request.body)
    except signing.MalformedJson as exc:
        raise _Refused("INVALID_PARAMETER", str(exc)) from exc
    app_id = envelope.get("app_id")
    merchant_keys = settings.SANDBOX_PUBLIC_PLATFORM["merchant_public_keys"]
    if not isinstance(app_id, str) or app_id not in merchant_keys:
        raise _Refused("INVALID_APP_ID", "unknown app_id")
    if not signing.verify(envelope, signing.load_public_key(merchant_keys[app_id])):
        raise _Refused("INVALID_SIGNATURE", "the request's signature does not verify")
    if envelope.get("method") != method or envelope.get("version") != "1.0":
        raise _Refused("INVALID_PARAMETER", f"this endpoint takes method {method}, version 1.0")
    now, timestamp = _now(), _parse_time(envelope.get("timestamp"))
    if timestamp is None or abs(now - timestamp) > MAX_CLOCK_SKEW:
        raise _Refused("INVALID_TIMESTAMP", "timestamp is missing or more than 5 minutes off")
    nonce, biz = envelope.get("nonce"), envelope.get("biz_content")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64 or not isinstance(biz, dict):
        raise _Refused("INVALID_PARAMETER", "nonce (16-64 characters) or biz_content missing")
    with _lock:
        for key in [key for key, until in _nonces.items() if until < now]:
            del _nonces[key]
        if (app_id, nonce) in _nonces:
            raise _Refused("NONCE_USED", "this nonce was already used")
        _nonces[app_id, nonce] = timestamp + MAX_CLOCK_SKEW
    return app_id, biz


def _create(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    params = {"return_url": ""} | {name: biz[name] for name in _CREATE_FIELDS if name in biz}
    invalid = [name for name, valid in _CREATE_FIELDS.items() if not valid(params.get(name))]
    if invalid:
        raise _Refused("INVALID_PARAMETER", f"missing or invalid: {', '.join(invalid)}")
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
        _out_trade_nos[trade.trade_no] = trade.params["out_trade_no"]
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
        return _trade_view(request, trade, now)


_HANDLERS: dict[str, Callable[[HttpRequest, str, dict[str, Any]], dict[str, Any]]] = {
    "create": _create,
    "query": _query,
    "close": _close,
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
    choice = _cashier_choice(request, wants_json)
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
        answer = {
            "out_trade_no": trade.params["out_trade_no"],
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
            "return_url": trade.params["return_url"],
        }
        page = _cashier_page(request, trade)
    if notify:
        threading.Thread(
            target=_notify_until_acknowledged,
            args=(answer["out_trade_no"], _platform_key(), _time_scale()),
            name=f"public-platform-notify-{trade_no}",
            daemon=True,
        ).start()
    return JsonResponse(answer) if wants_json else HttpResponse(page)


def _cashier_trade(trade_no: str) -> _Trade:
    """The trade behind a cashier URL, closed first if it has expired; hold the lock."""
    trade = _trades.get(_out_trade_nos.get(trade_no, ""))
    if trade is None:
        raise Http404("no such trade")
    _expire_if_due(trade, _now())
    return trade


def _cashier_choice(request: HttpRequest, wants_json: bool) -> tuple[str, bool] | None:
    if wants_json:
        try:
            body = signing.loads_object(request.body)
        except signing.MalformedJson:
            return None
        result, notify = body.get("result"), body.get("notify", True)
    else:
        result, notify = request.POST.get("result"), True
    if result not in ("success", "failed") or not isinstance(notify, bool):
        return None
    return result, notify


def _settle(trade: _Trade, *, paid: bool, now: datetime) -> None:
    if paid:
        trade.status, trade.paid_time = "SUCCESS", now.isoformat(timespec="seconds")
    else:
        trade.status, trade.fail_reason = "FAILED", "BANK_DECLINED"
    trade.notify_id = uuid.uuid4().hex


_STATUS_NAMES = {
    "WAIT_PAY": "待支付",
    "SUCCESS": "支付成功",
    "FAILED": "支付失败",
    "CLOSED": "已关闭",
}


def _cashier_page(request: HttpRequest, trade: _Trade) -> str:
    if trade.status == "WAIT_PAY":
        actions = format_html(
            '<form method="post" action="{}">'
            '<button name="result" value="success">支付</button> '
            '<button name="result" value="failed">模拟支付失败</button></form>',
            request.path,
        )
    elif trade.params["return_url"]:
        actions = format_html('<p><a href="{}">返回</a></p>', trade.params["return_url"])
    else:
        actions = ""
    return format_html(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>{title}</title></head><body><h1>{title}</h1><dl>"
        "<dt>缴费事项</dt><dd>{subject}</dd><dt>缴款码</dt><dd>{payment_code}</dd>"
        "<dt>金额</dt><dd>¥{yuan}</dd><dt>状态</dt><dd>{status}</dd></dl>"
        "{actions}</body></html>",
        title="统一公共支付平台 收银台（沙箱）",
        subject=trade.params["subject"],
        payment_code=trade.params["payment_code"],
        yuan=_yuan(trade.params["amount"]),
        status=_STATUS_NAMES[trade.status],
        actions=actions,
    )


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: every trade it holds, newest first, with its cashier."""
    with _lock:
        trades = list(_trades.values())[::-1]
    rows = format_html_join(
        "",
        '<tr><td>{}</td><td>{}</td><td>¥{}</td><td>{}</td><td><a href="{}">收银台</a></td></tr>',
        (
            (
                trade.params["out_trade_no"],
                trade.params["payment_code"],
                _yuan(trade.params["amount"]),
                _STATUS_NAMES[trade.status],
                f"{request.path.rstrip('/')}/cashier/{trade.trade_no}",
            )
            for trade in trades
        ),
    )
    return HttpResponse(
        format_html(
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
            "</head><body><h1>{title}</h1><table><tr><th>商户订单号</th><th>缴款码</th>"
            "<th>金额</th><th>状态</th><th></th></tr>{rows}</table></body></html>",
            title="统一公共支付平台（沙箱）交易",
            rows=rows or format_html("<tr><td colspan=5>{}</td></tr>", "暂无交易"),
        )
    )


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# -- notifications ----------------------------------------------------------------------


def _time_scale() -> float:
    return float(settings.SANDBOX_PUBLIC_PLATFORM["time_scale"])


def _notify_until_acknowledged(
    out_trade_no: str, platform_key: rsa.RSAPrivateKey, time_scale: float
) -> None:
    for delay in (0, *RETRY_DELAYS):
        time.sleep(delay / time_scale)
        with _lock:
            if _trades[out_trade_no].acknowledged:
                return
        if _deliver(out_trade_no, platform_key, trigger="schedule")[0]["acknowledged"]:
            return


def _deliver(
    out_trade_no: str, platform_key: rsa.RSAPrivateKey, *, trigger: str
) -> tuple[dict[str, Any], str]:
    """POST the trade's notification once; return the logged try and the service's answer."""
    now = _now()
    with _lock:
        trade = _trades[out_trade_no]
        notification = signing.signed(_notification(trade, now), platform_key)
        notify_url = trade.params["notify_url"]
    try:
        response = requests.post(
            notify_url,
            data=json.dumps(notification, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=NOTIFY_TIMEOUT,
            allow_redirects=False,
        )
        status_code, body, error = response.status_code, response.text[:2000], ""
    except requests.RequestException as exc:
        status_code, body, error = None, "", type(exc).__name__
    attempt = {
        "time": now.isoformat(timespec="milliseconds"),
        "trigger": trigger,
        "status_code": status_code,
        "error": error,
        "acknowledged": status_code == 200 and _is_acknowledgement(body),
    }
    with _lock:
        trade.deliveries.append(attempt)
        trade.acknowledged = trade.acknowledged or attempt["acknowledged"]
    return attempt, body


def _notification(trade: _Trade, now: datetime) -> dict[str, Any]:
    return {
        "notify_id": trade.notify_id,
        "notify_time": now.isoformat(timespec="seconds"),
        "notify_type": "trade.status_sync",
        "app_id": trade.app_id,
        "out_trade_no": trade.params["out_trade_no"],
        "trade_no": trade.trade_no,
        "payment_code": trade.params["payment_code"],
        "amount": trade.params["amount"],
        "trade_status": trade.status,
        "paid_time": trade.paid_time,
        "fail_reason": trade.fail_reason,
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
    if not _trade_or_404(out_trade_no).notify_id:
        return JsonResponse(
            {"code": "NO_NOTIFICATION", "message": "the trade has not been paid or failed yet"},
            status=409,
        )
    attempt, body = _deliver(out_trade_no, _platform_key(), trigger="control")
    return JsonResponse(
        {"status_code": attempt["status_code"], "body": body, "error": attempt["error"]}
    )


@require_GET
def control_deliveries(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    trade = _trade_or_404(out_trade_no)
    with _lock:
        answer = {"notify_id": trade.notify_id, "deliveries": list(trade.deliveries)}
    return JsonResponse({"out_trade_no": out_trade_no, **answer})


app_name = "public_platform_sandbox"
urlpatterns = [
    path("", index, name="index"),
    path("gateway/trade/<slug:action>", gateway, name="gateway"),
    path("cashier/<slug:trade_no>", cashier, name="cashier"),
    path("_control/trades/<str:out_trade_no>/notify", control_notify, name="control-notify"),
    path(
        "_control/trades/<str:out_trade_no>/deliveries",
        control_deliveries,
        name="control-deliveries",
    ),
]
