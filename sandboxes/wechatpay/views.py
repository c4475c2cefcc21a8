"""A sandbox of WeChat Pay API v3 (Native payments): WeChat Pay's side of the protocol.

It checks each request's ``WECHATPAY2-SHA256-RSA2048`` Authorization as WeChat does
(merchant, certificate serial, signature, timestamp, nonce), signs every answer with the
platform key, keeps trades and refunds in memory, serves a cashier page at each trade's
``code_url``, sends encrypted, signed notifications on WeChat's retry schedule (sped up by
``SANDBOX_WECHATPAY["time_scale"]``) and serves daily trade bills in WeChat's file format.
Tests and operators drive it through the ``_control/`` endpoints. The protocol is
described in docs/wechatpay.md.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.payments import signing
from integrations.payments.wechatpay import (
    AEAD_ALGORITHM,
    AUTH_SCHEMA,
    BEIJING,
    BILL_COLUMNS,
    BILL_TOTAL_COLUMNS,
    MAX_CLOCK_SKEW,
    encrypt_resource,
    fen_to_yuan,
    request_text,
    sign,
    signing_text,
    verify,
)
from sandboxes import common

# Seconds between one notification try and the next: WeChat's 15s/15s/30s/3m/10m/20m/
# 30m/30m/30m/60m/3h/3h/3h/6h/6h, sixteen tries over 24 h 4 min.
RETRY_DELAYS = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip
REFUND_SETTLE_SECONDS = 60  # a refund to the payer's balance lands within minutes
BILL_LINK_LIFETIME = timedelta(minutes=5)
FEE_RATE_PER_MILLE = 6  # 0.60%
_FEE_RATE_BPS = FEE_RATE_PER_MILLE * 10
MAX_AMOUNT = 100_000_000_000  # one billion yuan, in fen


class _Refused(Exception):
    """A request WeChat refuses with an HTTP status and a signed ``{"code", "message"}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Trade:
    mchid: str
    params: dict[str, Any]  # the Native order request, as sent
    token: str  # the cashier's path segment in code_url
    expires_at: datetime
    trade_state: str = "NOTPAY"
    trade_state_desc: str = "订单未支付"
    transaction_id: str = ""
    openid: str = ""
    success_time: datetime | None = None


@dataclass
class _Refund:
    mchid: str
    out_trade_no: str
    out_refund_no: str
    refund_id: str
    amount: int
    notify_url: str
    create_time: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None


@dataclass
class _Notice:
    """One notification: the same body on every try, signed afresh each time."""

    notify_url: str
    body: bytes
    notify_id: str
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)


_lock = threading.Lock()
_trades: dict[str, _Trade] = {}  # by out_trade_no
_tokens: dict[str, str] = {}  # cashier token -> out_trade_no
_refunds: dict[str, _Refund] = {}  # by out_refund_no
_notices: dict[str, _Notice] = {}  # by "trades/<out_trade_no>" or "refunds/<out_refund_no>"
_nonces: dict[tuple[str, str], float] = {}  # (mchid, nonce) -> when it may be forgotten
_bills: dict[str, tuple[str, bytes, datetime]] = {}  # token -> (mchid, file, expiry)


def _now() -> datetime:
    return datetime.now(BEIJING)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def _config() -> dict[str, Any]:
    return settings.SANDBOX_WECHATPAY


def _platform_key() -> rsa.RSAPrivateKey:
    return signing.load_private_key(_config()["platform_private_key_pem"])


def _platform_serial() -> str:
    # The serial merchants configure for the platform key (the sandbox has no certificate).
    return settings.WECHATPAY["platform_serial_no"]


def _time_scale() -> float:
    return float(_config()["time_scale"])


def _digits(count: int) -> str:
    return f"{secrets.randbelow(10**count):0{count}d}"


# -- signed answers and authenticated requests ------------------------------------------


def _signature_headers(body: bytes) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16).upper()
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": sign(
            signing_text(timestamp, nonce, body.decode("utf-8")), _platform_key()
        ),
        "Wechatpay-Serial": _platform_serial(),
    }


def _signed_response(status: int, data: dict[str, Any] | None) -> HttpResponse:
    body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode("utf-8")
    response = HttpResponse(body, status=status, content_type="application/json")
    if data is None:
        del response["Content-Type"]
    for name, value in {**_signature_headers(body), "Request-ID": uuid.uuid4().hex}.items():
        response[name] = value
    return response


Handler = Callable[..., tuple[int, dict[str, Any] | None]]


def _api(methods: list[str]) -> Callable[[Handler], Callable[..., HttpResponse]]:
    """A gateway view: authenticate the merchant, run the handler, sign what it answers."""

    def decorate(handler: Handler) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @require_http_methods(methods)
        @wraps(handler)
        def view(request: HttpRequest, **kwargs: str) -> HttpResponse:
            try:
                status, data = handler(request, _authenticate(request), **kwargs)
            except _Refused as refusal:
                status, data = refusal.status, {"code": refusal.code, "message": refusal.message}
            return _signed_response(status, data)

        return view

    return decorate


_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _authenticate(request: HttpRequest) -> str:
    """The mchid of a correctly signed, fresh, unreplayed request."""
    header = request.headers.get("Authorization", "")
    schema, _, rest = header.partition(" ")
    params = dict(_AUTH_PARAM.findall(rest))
    names = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
    if schema != AUTH_SCHEMA or not all(params.get(name) for name in names):
        raise _Refused(401, "SIGN_ERROR", f"Authorization must be {AUTH_SCHEMA} with {names}")
    mchid = params["mchid"]
    merchant = _config()["merchants"].get(mchid)
    if merchant is None:
        raise _Refused(400, "MCH_NOT_EXISTS", "商户号不存在")
    if params["serial_no"] != merchant["serial_no"]:
        raise _Refused(401, "SIGN_ERROR", "serial_no is not the merchant's certificate")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused(400, "PARAM_ERROR", "the body is not UTF-8") from exc
    text = request_text(
        request.method or "",
        request.get_full_path(),
        params["timestamp"],
        params["nonce_str"],
        body,
    )
    public_key = signing.load_public_key(merchant["public_key_pem"])
    if not verify(text, params["signature"], public_key):
        raise _Refused(401, "SIGN_ERROR", "签名错误: the signature does not verify")
    timestamp, now = params["timestamp"], time.time()
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_CLOCK_SKEW:
        raise _Refused(401, "SIGN_ERROR", "timestamp is more than 5 minutes off")
    with _lock:
        for key in [key for key, until in _nonces.items() if until < now]:
            del _nonces[key]
        if (mchid, params["nonce_str"]) in _nonces:
            raise _Refused(401, "SIGN_ERROR", "nonce_str was already used")
        _nonces[mchid, params["nonce_str"]] = int(timestamp) + MAX_CLOCK_SKEW
    return mchid


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        return signing.loads_object(request.body)
    except signing.MalformedJson as exc:
        raise _Refused(400, "PARAM_ERROR", str(exc)) from exc


# -- field rules ------------------------------------------------------------------------


def _matches(pattern: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value, re.A) is not None


def _text(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and 0 < len(value) <= limit


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _fen(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_AMOUNT


_is_url = _matches(r"https?://[^\s/?#]+[^\s?#]*")
_NATIVE_FIELDS: dict[str, Callable[[object], bool]] = {
    "appid": _text(32),
    "mchid": _text(32),
    "description": _text(127),
    "out_trade_no": _matches(r"[0-9A-Za-z_*-]{6,32}"),
    "time_expire": lambda value: _parse_time(value) is not None,
    "notify_url": _is_url,
    "amount": lambda v: isinstance(v, dict) and _fen(v.get("total")) and v.get("currency") == "CNY",
}
_REFUND_FIELDS: dict[str, Callable[[object], bool]] = {
    "out_trade_no": _matches(r"[0-9A-Za-z_*-]{6,32}"),
    "out_refund_no": _matches(r"[0-9A-Za-z_|*@-]{1,64}"),
    "amount": lambda v: (
        isinstance(v, dict) and _fen(v.get("refund")) and _fen(v.get("total"))
        and v.get("currency") == "CNY"
    ),
}  # fmt: skip


def _check(fields: dict[str, Callable[[object], bool]], body: dict[str, Any]) -> None:
    invalid = [name for name, valid in fields.items() if not valid(body.get(name))]
    if invalid:
        raise _Refused(400, "PARAM_ERROR", f"参数错误: missing or invalid {', '.join(invalid)}")


def _check_own_mchid(mchid: str, given: object) -> None:
    if given != mchid:
        raise _Refused(400, "PARAM_ERROR", "mchid does not match the Authorization's mchid")


# -- trades -----------------------------------------------------------------------------


@_api(["POST"])
def native(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    body = _json_body(request)
    _check(_NATIVE_FIELDS, body)
    _check_own_mchid(mchid, body["mchid"])
    attach, notify_url = body.get("attach", ""), body["notify_url"]
    if not isinstance(attach, str) or len(attach) > 128:
        raise _Refused(400, "PARAM_ERROR", "参数错误: attach is longer than 128 characters")
    with _lock:
        trade = _trades.get(body["out_trade_no"])
        if trade is not None:
            return 200, {"code_url": _code_url(request, _replayed(trade, mchid, body))}
        expires_at = _parse_time(body["time_expire"])
        if expires_at is None or expires_at <= _now():
            raise _Refused(400, "PARAM_ERROR", "参数错误: time_expire is in the past")
        trade = _Trade(
            mchid=mchid,
            params={**body, "attach": attach, "notify_url": notify_url},
            token=secrets.token_urlsafe(12),
            expires_at=expires_at,
        )
        _trades[body["out_trade_no"]] = trade
        _tokens[trade.token] = body["out_trade_no"]
    return 200, {"code_url": _code_url(request, trade)}


def _replayed(trade: _Trade, mchid: str, body: dict[str, Any]) -> _Trade:
    """The trade an identical order request asks for again; hold the lock."""
    if trade.mchid != mchid or trade.params != {"attach": "", **body}:
        raise _Refused(403, "OUT_TRADE_NO_USED", "商户订单号重复")
    _expire_if_due(trade)
    if trade.trade_state in ("SUCCESS", "REFUND"):
        raise _Refused(400, "ORDERPAID", "该订单已支付")
    if trade.trade_state != "NOTPAY":
        raise _Refused(400, "ORDER_CLOSED", "订单已关闭")
    return trade


def _code_url(request: HttpRequest, trade: _Trade) -> str:
    return request.build_absolute_uri(reverse("wechatpay_sandbox:cashier", args=[trade.token]))


@_api(["GET"])
def query(request: HttpRequest, mchid: str, out_trade_no: str) -> tuple[int, dict[str, Any]]:
    _check_own_mchid(mchid, request.GET.get("mchid"))
    with _lock:
        return 200, _transaction(_merchant_trade(mchid, out_trade_no))


@_api(["POST"])
def close(request: HttpRequest, mchid: str, out_trade_no: str) -> tuple[int, None]:
    _check_own_mchid(mchid, _json_body(request).get("mchid"))
    with _lock:
        trade = _trades.get(out_trade_no)
        if trade is None or trade.mchid != mchid:
            return 204, None  # WeChat answers 204 for a trade it does not know, too
        _expire_if_due(trade)
        if trade.trade_state in ("SUCCESS", "REFUND"):
            raise _Refused(400, "ORDERPAID", "订单已支付")
        trade.trade_state, trade.trade_state_desc = "CLOSED", "订单已关闭"
    return 204, None


def _merchant_trade(mchid: str, out_trade_no: str) -> _Trade:
    """The merchant's trade, closed first if it has expired; hold the lock."""
    trade = _trades.get(out_trade_no)
    if trade is None or trade.mchid != mchid:
        raise _Refused(404, "ORDER_NOT_EXIST", "订单不存在")
    _expire_if_due(trade)
    return trade


def _expire_if_due(trade: _Trade) -> None:
    if trade.trade_state == "NOTPAY" and _now() >= trade.expires_at:
        trade.trade_state, trade.trade_state_desc = "CLOSED", "订单已关闭"


def _transaction(trade: _Trade) -> dict[str, Any]:
    """The transaction object of queries and payment notifications; hold the lock."""
    paid = trade.success_time is not None
    answer: dict[str, Any] = {
        "appid": trade.params["appid"],
        "mchid": trade.mchid,
        "out_trade_no": trade.params["out_trade_no"],
        "trade_type": "NATIVE",
        "trade_state": trade.trade_state,
        "trade_state_desc": trade.trade_state_desc,
        "attach": trade.params["attach"],
        "amount": {"total": trade.params["amount"]["total"], "currency": "CNY"},
    }
    if paid:
        total = trade.params["amount"]["total"]
        answer |= {
            "transaction_id": trade.transaction_id,
            "bank_type": "OTHERS",
            "success_time": _rfc3339(trade.success_time),
            "payer": {"openid": trade.openid},
            "amount": {
                "total": total,
                "payer_total": total,
                "currency": "CNY",
                "payer_currency": "CNY",
            },
        }
    return answer


# -- refunds ----------------------------------------------------------------------------


@_api(["POST"])
def refund_create(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    body = _json_body(request)
    _check(_REFUND_FIELDS, body)
    reason, notify_url = body.get("reason", ""), body.get("notify_url", "")
    if (
        not isinstance(reason, str)
        or len(reason) > 80
        or not (notify_url == "" or _is_url(notify_url))
    ):
        raise _Refused(400, "PARAM_ERROR", "参数错误: reason or notify_url is invalid")
    amount = body["amount"]
    with _lock:
        existing = _refunds.get(body["out_refund_no"])
        if existing is not None:
            same = (existing.mchid, existing.out_trade_no, existing.amount) == (
                mchid, body["out_trade_no"], amount["refund"],
            )  # fmt: skip
            if not same:
                raise _Refused(400, "INVALID_REQUEST", "out_refund_no was used for another refund")
            return 200, _refund_view(existing)
        trade = _trades.get(body["out_trade_no"])
        if trade is None or trade.mchid != mchid:
            raise _Refused(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        _check_refundable(trade, amount)
        refund = _Refund(
            mchid=mchid,
            out_trade_no=body["out_trade_no"],
            out_refund_no=body["out_refund_no"],
            refund_id=f"50{_digits(27)}",
            amount=amount["refund"],
            notify_url=notify_url,
            create_time=_now(),
        )
        _refunds[refund.out_refund_no] = refund
        trade.trade_state, trade.trade_state_desc = "REFUND", "转入退款"
        answer = _refund_view(refund)
    threading.Thread(
        target=_settle_refund,
        args=(refund.out_refund_no, _time_scale()),
        name=f"wechatpay-refund-{refund.out_refund_no}",
        daemon=True,
    ).start()
    return 200, answer


def _check_refundable(trade: _Trade, amount: dict[str, Any]) -> None:
    """Refuse a refund of an unpaid trade, of another total, or beyond what remains."""
    if trade.trade_state not in ("SUCCESS", "REFUND"):
        raise _Refused(400, "INVALID_REQUEST", "订单未支付，不能退款")
    total = trade.params["amount"]["total"]
    if amount["total"] != total:
        raise _Refused(400, "PARAM_ERROR", "参数错误: amount.total is not the order's total")
    refunded = sum(
        refund.amount
        for refund in _refunds.values()
        if refund.out_trade_no == trade.params["out_trade_no"] and refund.status != "CLOSED"
    )
    if amount["refund"] > total - refunded:
        raise _Refused(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")


@_api(["GET"])
def refund_query(
    request: HttpRequest, mchid: str, out_refund_no: str
) -> tuple[int, dict[str, Any]]:
    with _lock:
        refund = _refunds.get(out_refund_no)
        if refund is None or refund.mchid != mchid:
            raise _Refused(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return 200, _refund_view(refund)


def _refund_view(refund: _Refund) -> dict[str, Any]:
    """The refund object of refund answers and queries; hold the lock."""
    trade = _trades[refund.out_trade_no]
    total = trade.params["amount"]["total"]
    return {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": trade.transaction_id,
        "out_trade_no": refund.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "success_time": _rfc3339(refund.success_time) if refund.success_time else None,
        "create_time": _rfc3339(refund.create_time),
        "status": refund.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": total,
            "refund": refund.amount,
            "payer_total": total,
            "payer_refund": refund.amount,
            "settlement_total": total,
            "settlement_refund": refund.amount,
            "discount_refund": 0,
            "currency": "CNY",
        },
    }


def _settle_refund(out_refund_no: str, time_scale: float) -> None:
    time.sleep(REFUND_SETTLE_SECONDS / time_scale)
    with _lock:
        refund = _refunds[out_refund_no]
        refund.status, refund.success_time = "SUCCESS", _now()
        if not refund.notify_url:
            return
        resource = {
            "mchid": refund.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": _trades[refund.out_trade_no].transaction_id,
            "out_refund_no": out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
            "success_time": _rfc3339(refund.success_time),
            "user_received_account": "支付用户零钱",
            "amount": {
                key: value
                for key, value in _refund_view(refund)["amount"].items()
                if key in ("total", "refund", "payer_total", "payer_refund")
            },
        }
        key = f"refunds/{out_refund_no}"
        _notices[key] = _notice(
            refund.mchid, refund.notify_url, "REFUND.SUCCESS", "退款成功", "refund", resource
        )
    _notify_until_acknowledged(key, time_scale)


# -- the cashier ------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest, token: str) -> HttpResponse:
    """The payer's page behind code_url: GET shows the order, POST pays it or fails it.

    POST takes the page's form (``result``) or JSON ``{"result": "success" | "failed"}``,
    where ``"notify": false`` pays without sending the notification (a lost one).
    """
    if request.method == "GET":
        with _lock:
            return HttpResponse(_cashier_page(request, _cashier_trade(token)))
    wants_json = request.content_type == "application/json"
    choice = common.cashier_choice(request, wants_json, request.POST.get("result"))
    if choice is None:
        return JsonResponse(
            {"code": "PARAM_ERROR", "message": 'result must be "success" or "failed"'}, status=400
        )
    result, notify = choice
    paid = result == "success"
    with _lock:
        trade = _cashier_trade(token)
        if trade.trade_state != "NOTPAY":
            return JsonResponse(
                {
                    "code": "TRADE_NOT_PAYABLE",
                    "trade_state": trade.trade_state,
                    "message": f"the order is {trade.trade_state} and cannot be paid",
                },
                status=409,
            )
        _settle(trade, paid=paid)
        out_trade_no = trade.params["out_trade_no"]
        answer = {
            "out_trade_no": out_trade_no,
            "transaction_id": trade.transaction_id,
            "trade_state": trade.trade_state,
        }
        page = _cashier_page(request, trade)
    if paid and notify:
        threading.Thread(
            target=_notify_until_acknowledged,
            args=(f"trades/{out_trade_no}", _time_scale()),
            name=f"wechatpay-notify-{out_trade_no}",
            daemon=True,
        ).start()
    return JsonResponse(answer) if wants_json else HttpResponse(page)


def _cashier_trade(token: str) -> _Trade:
    trade = _trades.get(_tokens.get(token, ""))
    if trade is None:
        raise Http404("no such order")
    _expire_if_due(trade)
    return trade


def _settle(trade: _Trade, *, paid: bool) -> None:
    """Pay the trade (and prepare its notification) or fail it; hold the lock."""
    if not paid:
        trade.trade_state, trade.trade_state_desc = "PAYERROR", "支付失败，请重新下单支付"
        return
    trade.trade_state, trade.trade_state_desc = "SUCCESS", "支付成功"
    trade.transaction_id = f"4200{_digits(24)}"
    trade.openid = f"o{secrets.token_urlsafe(21)}"
    trade.success_time = _now()
    _notices[f"trades/{trade.params['out_trade_no']}"] = _notice(
        trade.mchid,
        trade.params["notify_url"],
        "TRANSACTION.SUCCESS",
        "支付成功",
        "transaction",
        _transaction(trade),
    )


_STATE_NAMES = {
    "NOTPAY": "未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "PAYERROR": "支付失败",
    "CLOSED": "已关闭",
}


def _cashier_page(request: HttpRequest, trade: _Trade) -> str:
    actions = ""
    if trade.trade_state == "NOTPAY":
        actions = common.pay_form(request.path)
    return common.cashier_page(
        "微信支付 收银台（沙箱）",
        [
            ("商品描述", trade.params["description"]),
            ("商户订单号", trade.params["out_trade_no"]),
            ("金额", f"¥{fen_to_yuan(trade.params['amount']['total'])}"),
            ("状态", _STATE_NAMES[trade.trade_state]),
        ],
        actions,
    )


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: every order it holds, newest first, with its cashier."""
    with _lock:
        trades = list(_trades.values())[::-1]
    return common.trades_page(
        "微信支付（沙箱）订单",
        ("商户订单号", "金额", "状态"),
        (
            (
                trade.params["out_trade_no"],
                f"¥{fen_to_yuan(trade.params['amount']['total'])}",
                _STATE_NAMES[trade.trade_state],
                reverse("wechatpay_sandbox:cashier", args=[trade.token]),
            )
            for trade in trades
        ),
        empty="暂无订单",
    )


# -- notifications ----------------------------------------------------------------------


def _notice(
    mchid: str,
    notify_url: str,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
) -> _Notice:
    """An event whose resource is sealed with the merchant's APIv3 key."""
    nonce = secrets.token_urlsafe(9)  # 12 characters
    plaintext = json.dumps(resource, ensure_ascii=False).encode("utf-8")
    apiv3_key = _config()["merchants"][mchid]["apiv3_key"]
    event = {
        "id": str(uuid.uuid4()),
        "create_time": _rfc3339(_now()),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": AEAD_ALGORITHM,
            "ciphertext": encrypt_resource(
                apiv3_key, plaintext, nonce=nonce, associated_data=original_type
            ),
            "associated_data": original_type,
            "nonce": nonce,
        },
    }
    body = json.dumps(event, ensure_ascii=False).encode("utf-8")
    return _Notice(notify_url=notify_url, body=body, notify_id=event["id"])


def _notify_until_acknowledged(key: str, time_scale: float) -> None:
    with _lock:
        notice = _notices[key]
    common.notify_until_acknowledged(
        _lock, notice, lambda: _deliver(key, trigger="schedule")[0], RETRY_DELAYS, time_scale
    )


def _deliver(key: str, *, trigger: str) -> tuple[dict[str, Any], str]:
    """POST the notification once; return the logged try and the receiver's answer."""
    with _lock:
        notice = _notices[key]
    status_code, body, error = common.post_notification(
        notice.notify_url,
        data=notice.body,
        headers={"Content-Type": "application/json", **_signature_headers(notice.body)},
    )
    attempt = common.log_delivery(
        _lock,
        notice,
        at=_now().isoformat(timespec="milliseconds"),
        trigger=trigger,
        status_code=status_code,
        error=error,
        acknowledged=status_code in (200, 204),
    )
    return attempt, body


# -- the trade bill ---------------------------------------------------------------------


@_api(["GET"])
def tradebill(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    bill_type = request.GET.get("bill_type", "ALL")
    try:
        bill_date = date.fromisoformat(request.GET.get("bill_date", ""))
    except ValueError as exc:
        raise _Refused(400, "PARAM_ERROR", "参数错误: bill_date must be yyyy-MM-DD") from exc
    if bill_type not in ("ALL", "SUCCESS", "REFUND") or "tar_type" in request.GET:
        raise _Refused(
            400, "PARAM_ERROR", "参数错误: bill_type ALL, SUCCESS or REFUND, no tar_type"
        )
    if bill_date > _now().date():
        raise _Refused(400, "PARAM_ERROR", "参数错误: bill_date is in the future")
    with _lock:
        rows = _bill_rows(mchid, bill_date, bill_type)
    if rows.empty:
        raise _Refused(400, "NO_STATEMENT_EXIST", "账单文件不存在")
    content = render_statement(rows, mchid=mchid)
    token = secrets.token_urlsafe(24)
    with _lock:
        _bills[token] = (mchid, content, _now() + BILL_LINK_LIFETIME)
    download = reverse("wechatpay_sandbox:bill-download")
    return 200, {
        "hash_type": "SHA1",
        "hash_value": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        "download_url": request.build_absolute_uri(f"{download}?token={token}"),
    }


@csrf_exempt
@require_GET
def bill_download(request: HttpRequest) -> HttpResponse:
    """The bill file: a signed request, an unsigned answer (the hash vouches for it)."""
    try:
        mchid = _authenticate(request)
        with _lock:
            entry = _bills.get(request.GET.get("token", ""))
        if entry is None or entry[0] != mchid or entry[2] < _now():
            raise _Refused(400, "INVALID_REQUEST", "download_url is unknown or has expired")
    except _Refused as refusal:
        return _signed_response(refusal.status, {"code": refusal.code, "message": refusal.message})
    return HttpResponse(entry[1], content_type="application/octet-stream")


def _bill_rows(mchid: str, bill_date: date, bill_type: str) -> pd.DataFrame:
    """The bill's lines for one Beijing date, oldest first, as render_statement takes them.

    Payments are dated by success_time, refunds by create_time (when WeChat accepted them).
    A refund gives back the fee on its amount, never more than the payment's fee left.
    Hold the lock.
    """
    records = []
    for trade in _trades.values():
        if trade.mchid != mchid or trade.success_time is None:
            continue
        total, params = trade.params["amount"]["total"], trade.params
        trade_fields = {
            "out_trade_no": params["out_trade_no"],
            "transaction_id": trade.transaction_id,
            "appid": params["appid"],
            "openid": trade.openid,
            "description": params["description"],
            "attach": params["attach"],
        }
        if bill_type != "REFUND" and trade.success_time.astimezone(BEIJING).date() == bill_date:
            records.append(
                {
                    "kind": "payment",
                    "ref": params["out_trade_no"],
                    "provider_ref": trade.transaction_id,
                    "amount": total,
                    "fee": common.fee(total, _FEE_RATE_BPS),
                    "occurred_at": trade.success_time,
                    "refund_status": "",
                    **trade_fields,
                }
            )
        refunds = sorted(
            (r for r in _refunds.values() if r.out_trade_no == params["out_trade_no"]),
            key=lambda r: r.create_time,
        )
        given_back = common.fees_given_back(total, (r.amount for r in refunds), _FEE_RATE_BPS)
        for refund, returned in zip(refunds, given_back, strict=True):
            accepted = refund.create_time.astimezone(BEIJING).date() == bill_date
            if bill_type != "SUCCESS" and refund.mchid == mchid and accepted:
                records.append(
                    {
                        "kind": "refund",
                        "ref": refund.out_refund_no,
                        "provider_ref": refund.refund_id,
                        "amount": refund.amount,
                        "fee": -returned,
                        "occurred_at": refund.create_time,
                        "refund_status": refund.status,
                        **trade_fields,
                    }
                )
    return common.bill_frame(records, _BILL_EXTRA_COLUMNS)


_BILL_EXTRA_COLUMNS = (
    "out_trade_no",
    "transaction_id",
    "appid",
    "openid",
    "description",
    "attach",
    "refund_status",
)


def render_statement(
    rows: pd.DataFrame, *, mchid: str = "1900000001", appid: str = "wx0000000000000001"
) -> bytes:
    """An ALL trade bill in WeChat's format, one line per row of a TRANSACTION_COLUMNS frame.

    Lines keep the frame's order (``line_no`` is not read). Columns beyond the canonical
    ones fill what the canonical frame does not hold: ``out_trade_no`` and
    ``transaction_id`` (the trade a refund gives back), ``appid``, ``openid``,
    ``description``, ``attach`` and ``refund_status`` (SUCCESS when absent). The totals
    line adds the lines up. Everything is built column by column, never line by line.
    """
    bill = common.bill_lines(rows)
    amount, fees, either = bill.amount, bill.fee, bill.either
    money = common.yuan_text(amount)
    fields = [
        common.beijing_text(rows["occurred_at"]),
        _bill_text(rows, "appid", appid),
        mchid,
        "0",
        "",
        either(_bill_text(rows, "transaction_id", ""), _bill_text(rows, "provider_ref", "")),
        either(_bill_text(rows, "out_trade_no", ""), _bill_text(rows, "ref", "")),
        _bill_text(rows, "openid", ""),
        "NATIVE",
        either("REFUND", "SUCCESS"),
        "OTHERS",
        "CNY",
        either("0.00", money),
        "0.00",
        either(_bill_text(rows, "provider_ref", ""), "0"),
        either(_bill_text(rows, "ref", ""), "0"),
        either(money, "0.00"),
        "0.00",
        either("ORIGINAL", ""),
        either(_bill_text(rows, "refund_status", "SUCCESS"), ""),
        _bill_text(rows, "description", ""),
        _bill_text(rows, "attach", ""),
        common.yuan_text(fees, places=5),
        f"{FEE_RATE_PER_MILLE / 10:.2f}%",
        either("0.00", money),
        either(money, "0.00"),
        "",
    ]
    lines = common.lines_of(fields, ",`", start="`", end="\r\n")
    payments, refunds = amount[~bill.is_refund], amount[bill.is_refund]
    totals = [
        str(len(rows)),
        fen_to_yuan(int(payments.sum())),
        fen_to_yuan(int(refunds.sum())),
        "0.00",
        fen_to_yuan(int(fees.sum())),
        fen_to_yuan(int(payments.sum())),
        fen_to_yuan(int(refunds.sum())),
    ]
    return b"".join(
        (
            "\ufeff".encode(),
            f"{','.join(BILL_COLUMNS)}\r\n".encode(),
            lines,
            f"{','.join(BILL_TOTAL_COLUMNS)}\r\n".encode(),
            f"{','.join(f'`{total}' for total in totals)}\r\n".encode(),
        )
    )


def _bill_text(rows: pd.DataFrame, name: str, default: str) -> pa.Array | str:
    """A text column for the bill (missing values as ``default``), or ``default`` itself.

    Bill fields are not quoted: commas, backticks and line breaks become spaces.
    """
    values = common.text_column(rows, name, default)
    if (
        not isinstance(values, str)
        and pc.any(pc.match_substring_regex(values, _UNQUOTABLE)).as_py()
    ):
        values = pc.replace_substring_regex(values, _UNQUOTABLE, " ")
    return values


_UNQUOTABLE = "[,`\r\n]"


# -- controls for tests and operators ---------------------------------------------------


def _notice_or_404(kind: str, number: str) -> tuple[str, _Notice]:
    key = f"{kind}/{number}"
    with _lock:
        known = number in (_trades if kind == "trades" else _refunds)
        notice = _notices.get(key)
    if not known:
        raise Http404("no such trade or refund")
    if notice is None:
        raise _Refused(409, "NO_NOTIFICATION", "nothing to notify yet: not paid or not refunded")
    return key, notice


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, kind: str, number: str) -> JsonResponse:
    """Send the notification once more, now, and answer with what the receiver said."""
    try:
        key, _ = _notice_or_404(kind, number)
    except _Refused as refusal:
        return common.no_notification(refusal.message)
    return common.delivery_answer(*_deliver(key, trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, kind: str, number: str) -> JsonResponse:
    try:
        _, notice = _notice_or_404(kind, number)
    except _Refused:
        return JsonResponse({"notify_id": "", "deliveries": []})
    with _lock:
        return JsonResponse({"notify_id": notice.notify_id, "deliveries": list(notice.deliveries)})


app_name = "wechatpay_sandbox"
_ORDERS = "v3/pay/transactions/out-trade-no/<str:out_trade_no>"
_CONTROL = r"^_control/(?P<kind>trades|refunds)/(?P<number>[^/]+)"
urlpatterns = [
    path("", index, name="index"),
    path("v3/pay/transactions/native", native, name="native"),
    path(_ORDERS, query, name="query"),
    path(f"{_ORDERS}/close", close, name="close"),
    path("v3/refund/domestic/refunds", refund_create, name="refund"),
    path("v3/refund/domestic/refunds/<str:out_refund_no>", refund_query, name="refund-query"),
    path("v3/bill/tradebill", tradebill, name="tradebill"),
    path("v3/billdownload/file", bill_download, name="bill-download"),
    path("cashier/<str:token>", cashier, name="cashier"),
    re_path(f"{_CONTROL}/notify$", control_notify, name="control-notify"),
    re_path(f"{_CONTROL}/deliveries$", control_deliveries, name="control-deliveries"),
]
