"""A sandbox of WeChat Pay API v3 (Native and H5 payments): WeChat Pay's side of the protocol.

It checks each request's Authorization as WeChat does (scheme, merchant, certificate
serial, signature, timestamp, nonce), signs every answer with the platform key, in the
merchant's scheme: ``WECHATPAY2-SHA256-RSA2048``, or ``WECHATPAY2-SM2-WITH-SM3`` for a
merchant in the national mode (``schemes.py``), whose resources are sealed with
AEAD_SM4_GCM. It serves the platform certificate at ``/v3/certificates``, keeps trades and
refunds in ``sandboxes.state`` stores, serves a cashier page at each trade's ``code_url``
or ``h5_url`` (which sends an H5 payer on to the merchant's ``redirect_url`` at the end),
sends encrypted, signed notifications on WeChat's retry schedule (sped up by
``SANDBOX_WECHATPAY["time_scale"]``) and serves daily trade bills in WeChat's file format.
Tests and operators drive it through the ``_control/`` endpoints. The wire format is in
``wire.py``; the protocol is described in docs/wechatpay.md.
"""

from __future__ import annotations

import gzip
import hashlib
import ipaddress
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache, wraps
from typing import Any, TypeVar
from urllib.parse import urlencode

import pandas as pd
from cryptography import x509
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import common, faults, keys
from sandboxes.state import Store
from sandboxes.wechatpay import wire
from sandboxes.wechatpay.schemes import RSA, SCHEMES, Scheme
from sandboxes.wechatpay.wire import BEIJING, TRADE_STATE_DESC, fen_to_yuan

# Seconds between one notification try and the next: WeChat's 15s/15s/30s/3m/10m/20m/
# 30m/30m/30m/60m/3h/3h/3h/6h/6h, sixteen tries over 24 h 4 min.
RETRY_DELAYS = (
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
)  # fmt: skip
REFUND_SETTLE_SECONDS = 60  # a refund to the payer's balance lands within minutes
BILL_LINK_LIFETIME = timedelta(minutes=5)
MAX_AMOUNT = 100_000_000_000  # one billion yuan, in fen
# How long an order stays payable: 7 days without time_expire; a time_expire sooner
# than a minute away means a minute, one beyond 90 days means 90 days.
DEFAULT_PAYABLE = timedelta(days=7)
MIN_PAYABLE = timedelta(minutes=1)
MAX_PAYABLE = timedelta(days=90)


class _Refused(Exception):
    """A request WeChat refuses with a signed ``{"code", "message"}`` (status by code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = wire.ERROR_STATUS[code], code, message


@dataclass
class _Trade:
    mchid: str
    params: dict[str, Any]  # the Native or H5 order request, as sent
    token: str  # the cashier's path segment in code_url
    expires_at: datetime
    trade_state: str = "NOTPAY"
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
    settles_at: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None


@dataclass
class _Notice:
    """One notification: the same body on every try, signed afresh each time."""

    notify_url: str
    body: str
    notify_id: str
    scheme: str = RSA.name  # the merchant's when the notification was made
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Bill:
    mchid: str
    content: str
    gzip: bool  # tar_type=GZIP: the file is served compressed
    expires_at: datetime


Record = TypeVar("Record")


def _encode(record: Any) -> dict[str, Any]:
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in asdict(record).items()
    }


def _decoder(kind: type[Record], *times: str) -> Callable[[dict[str, Any]], Record]:
    def decode(data: dict[str, Any]) -> Record:
        moments = {name: datetime.fromisoformat(data[name]) for name in times if data[name]}
        return kind(**{**data, **moments})

    return decode


_lock = threading.Lock()
_trades = Store(  # by out_trade_no
    "wechatpay-trades", encode=_encode, decode=_decoder(_Trade, "expires_at", "success_time")
)
_tokens: Store[str] = Store("wechatpay-tokens")  # cashier token -> out_trade_no
_refunds = Store(  # by out_refund_no
    "wechatpay-refunds",
    encode=_encode,
    decode=_decoder(_Refund, "create_time", "settles_at", "success_time"),
)
# By "trades/<out_trade_no>" or "refunds/<out_refund_no>".
_notices = Store("wechatpay-notices", encode=asdict, decode=lambda data: _Notice(**data))
_nonces: Store[int] = Store("wechatpay-nonces")  # "<mchid> <nonce>" -> when it may be forgotten
_bills = Store("wechatpay-bills", encode=_encode, decode=_decoder(_Bill, "expires_at"))


def _now() -> datetime:
    return datetime.now(BEIJING)


def _config() -> dict[str, Any]:
    return settings.SANDBOX_WECHATPAY


def _platform(scheme: Scheme) -> dict[str, str]:
    """WeChat Pay's key in ``scheme``: its ``private_key_pem`` and ``serial_no``."""
    return _config()["platform"][scheme.name]


def _merchant_scheme(merchant: dict[str, Any]) -> Scheme:
    """The scheme of the merchant's certificate: its requests, answers and notifications."""
    return SCHEMES[merchant.get("scheme", RSA.name)]


def _time_scale() -> float:
    return float(_config()["time_scale"])


def _digits(count: int) -> str:
    return f"{secrets.randbelow(10**count):0{count}d}"


def _save(trade: _Trade) -> None:
    _trades[trade.params["out_trade_no"]] = trade


# -- signed answers and authenticated requests ------------------------------------------


def _signature_headers(body: str, scheme: Scheme) -> dict[str, str]:
    platform = _platform(scheme)
    return wire.signature_headers(
        body,
        scheme,
        platform["private_key_pem"],
        platform["serial_no"],
        timestamp=str(int(time.time())),
        nonce=secrets.token_hex(16).upper(),
    )


def _signed_response(status: int, data: dict[str, Any] | None, scheme: Scheme) -> HttpResponse:
    body = "" if data is None else wire.json_text(data)
    response = HttpResponse(
        body.encode("utf-8"), status=status, content_type="application/json; charset=utf-8"
    )
    if data is None:
        del response["Content-Type"]
    headers = {**_signature_headers(body, scheme), "Request-ID": uuid.uuid4().hex}
    for name, value in headers.items():
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
            scheme = wire.declared_scheme(request.headers.get("Authorization", ""))
            try:
                status, data = handler(request, _authenticate(request, scheme), **kwargs)
            except _Refused as refusal:
                status, data = refusal.status, {"code": refusal.code, "message": refusal.message}
            return _signed_response(status, data, scheme)

        return view

    return decorate


def _authenticate(request: HttpRequest, scheme: Scheme) -> str:
    """The mchid of a request correctly signed in ``scheme`` (the one its Authorization
    names), fresh and unreplayed."""
    params = wire.parse_authorization(request.headers.get("Authorization", ""))
    if params is None:
        signature_types = " or ".join(known.signature_type for known in SCHEMES.values())
        raise _Refused(
            "SIGN_ERROR",
            f"Authorization must be {signature_types} with {wire.AUTHORIZATION_PARAMS}",
        )
    mchid = params["mchid"]
    merchant = _config()["merchants"].get(mchid)
    if merchant is None:
        raise _Refused("MCH_NOT_EXISTS", "商户号不存在")
    certified = _merchant_scheme(merchant)
    if certified is not scheme:
        raise _Refused("SIGN_ERROR", f"签名错误: the merchant signs {certified.signature_type}")
    if params["serial_no"] != merchant["serial_no"]:
        raise _Refused("SIGN_ERROR", "serial_no is not the merchant's certificate")
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused("PARAM_ERROR", "the body is not UTF-8") from exc
    if not any(
        scheme.verify(
            wire.request_message(
                request.method or "", url, params["timestamp"], params["nonce_str"], body
            ),
            params["signature"],
            merchant["public_key_pem"],
        )
        for url in _signed_urls(request)
    ):
        raise _Refused("SIGN_ERROR", "签名错误: the signature does not verify")
    timestamp, now = params["timestamp"], time.time()
    if not timestamp.isdigit() or abs(now - int(timestamp)) > wire.MAX_CLOCK_SKEW:
        raise _Refused("SIGN_ERROR", "timestamp is more than 5 minutes off")
    with _lock:
        for key in [key for key, until in _nonces.items() if until < now]:
            del _nonces[key]
        if f"{mchid} {params['nonce_str']}" in _nonces:
            raise _Refused("SIGN_ERROR", "nonce_str was already used")
        _nonces[f"{mchid} {params['nonce_str']}"] = int(timestamp) + wire.MAX_CLOCK_SKEW
    return mchid


def _signed_urls(request: HttpRequest) -> tuple[str, ...]:
    """The URLs a merchant may have signed: the path it asked for, and that path below the
    sandbox's root, where WeChat's gateway has its host's root (clients given a gateway
    base URL sign only the API path)."""
    asked, root = request.get_full_path(), reverse("wechatpay_sandbox:index")
    return (asked, asked[len(root) - 1 :]) if asked.startswith(root) else (asked,)


def _json_body(request: HttpRequest) -> dict[str, Any]:
    try:
        return wire.json_object(request.body)
    except ValueError as exc:
        raise _Refused("PARAM_ERROR", str(exc)) from exc


# -- field rules ------------------------------------------------------------------------


def _matches(pattern: str) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value, re.A) is not None


def _text(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and 0 < len(value) <= limit


def _optional(rule: Callable[[object], bool]) -> Callable[[object], bool]:
    return lambda value: value is None or rule(value)


def _parse_time(value: object) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def _fen(value: object) -> bool:
    return type(value) is int and 0 < value <= MAX_AMOUNT


_URL = re.compile(r"https?://[^\s/?#]+[^\s?#]*", re.A)  # no query string


def _is_url(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 255 and _URL.fullmatch(value) is not None


def _ip_address(value: object) -> bool:
    try:
        ipaddress.ip_address(value if isinstance(value, str) else "")
    except ValueError:
        return False
    return True


def _h5_scene(value: object) -> bool:
    """scene_info of an H5 order: the payer's address and the H5 scene's type."""
    if not isinstance(value, dict) or not _ip_address(value.get("payer_client_ip")):
        return False
    h5_info = value.get("h5_info")
    return isinstance(h5_info, dict) and h5_info.get("type") in ("iOS", "Android", "Wap")


def _order_amount(value: object) -> bool:
    return (
        isinstance(value, dict)
        and _fen(value.get("total"))
        and value.get("currency", "CNY") == "CNY"  # 选填: CNY is the only one
    )


def _refund_amount(value: object) -> bool:
    return (
        isinstance(value, dict)
        and _fen(value.get("refund"))
        and _fen(value.get("total"))
        and value.get("currency") == "CNY"
    )


_OUT_TRADE_NO = r"[0-9A-Za-z_|*-]"
# The Native order's fields as "Native下单" lists them (the optional ones this side reads);
# goods_tag, support_fapiao, detail, scene_info and settle_info are taken and ignored.
_NATIVE_FIELDS: dict[str, Callable[[object], bool]] = {
    "appid": _text(32),
    "mchid": _text(32),
    "description": _text(127),
    "out_trade_no": _matches(f"{_OUT_TRADE_NO}{{6,32}}"),
    "time_expire": _optional(lambda value: _parse_time(value) is not None),
    "attach": _optional(_text(128)),
    "notify_url": _is_url,
    "amount": _order_amount,
}
# "H5下单": the Native order's fields and the payer's scene, required.
_H5_FIELDS = {**_NATIVE_FIELDS, "scene_info": _h5_scene}
# "申请退款": transaction_id or out_trade_no names the trade.
_REFUND_FIELDS: dict[str, Callable[[object], bool]] = {
    "transaction_id": _optional(_text(32)),
    "out_trade_no": _optional(_matches(f"{_OUT_TRADE_NO}{{1,32}}")),
    "out_refund_no": _matches(r"[0-9A-Za-z_|*@-]{1,64}"),
    "reason": _optional(_text(80)),
    "notify_url": lambda value: value is None or _is_url(value),
    "amount": _refund_amount,
}


def _check(fields: dict[str, Callable[[object], bool]], body: dict[str, Any]) -> None:
    invalid = [name for name, valid in fields.items() if not valid(body.get(name))]
    if invalid:
        raise _Refused("PARAM_ERROR", f"参数错误: missing or invalid {', '.join(invalid)}")


def _check_own_mchid(mchid: str, given: object) -> None:
    if given != mchid:
        raise _Refused("PARAM_ERROR", "mchid does not match the Authorization's mchid")


# -- trades -----------------------------------------------------------------------------


@_api(["POST"])
def native(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    return 200, {"code_url": _code_url(request, _order(request, mchid, _NATIVE_FIELDS))}


@_api(["POST"])
def h5(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    trade = _order(request, mchid, _H5_FIELDS)
    query = urlencode({"prepay_id": f"wx{trade.token}"})
    return 200, {"h5_url": f"{_code_url(request, trade)}?{query}"}


def _order(request: HttpRequest, mchid: str, fields: dict[str, Callable[[object], bool]]) -> _Trade:
    """The order the request places, or the same order placed again."""
    body = _json_body(request)
    _check(fields, body)
    _check_own_mchid(mchid, body["mchid"])
    with _lock:
        trade = _trades.get(body["out_trade_no"])
        if trade is not None:
            return _replayed(trade, mchid, body)
        trade = _Trade(
            mchid=mchid,
            params=body,
            token=secrets.token_urlsafe(12),
            expires_at=_payable_until(_parse_time(body.get("time_expire"))),
        )
        _save(trade)
        _tokens[trade.token] = body["out_trade_no"]
    return trade


def _payable_until(time_expire: datetime | None) -> datetime:
    """When the order stops being payable. The one-minute floor is a wait like the others,
    sped up by time_scale, so that tests can ask for an order that expires in seconds."""
    now = _now()
    asked = now + DEFAULT_PAYABLE if time_expire is None else time_expire
    return min(max(asked, now + MIN_PAYABLE / _time_scale()), now + MAX_PAYABLE)


def _replayed(trade: _Trade, mchid: str, body: dict[str, Any]) -> _Trade:
    """The trade an identical order request asks for again; hold the lock."""
    if trade.mchid != mchid or trade.params != body:
        raise _Refused("OUT_TRADE_NO_USED", "商户订单号重复")
    _expire_if_due(trade)
    if trade.trade_state in ("SUCCESS", "REFUND"):
        raise _Refused("ORDERPAID", "该订单已支付")
    if trade.trade_state != "NOTPAY":
        raise _Refused("ORDER_CLOSED", "订单已关闭")
    return trade


def _code_url(request: HttpRequest, trade: _Trade) -> str:
    return request.build_absolute_uri(reverse("wechatpay_sandbox:cashier", args=[trade.token]))


@_api(["GET"])
def query(request: HttpRequest, mchid: str, out_trade_no: str) -> tuple[int, dict[str, Any]]:
    _check_own_mchid(mchid, request.GET.get("mchid"))
    with _lock:
        return 200, _transaction(_merchant_trade(mchid, _trades.get(out_trade_no)))


@_api(["GET"])
def query_by_id(
    request: HttpRequest, mchid: str, transaction_id: str
) -> tuple[int, dict[str, Any]]:
    _check_own_mchid(mchid, request.GET.get("mchid"))
    with _lock:
        return 200, _transaction(_merchant_trade(mchid, _paid_trade(transaction_id)))


@_api(["POST"])
def close(request: HttpRequest, mchid: str, out_trade_no: str) -> tuple[int, None]:
    _check_own_mchid(mchid, _json_body(request).get("mchid"))
    with _lock:
        trade = _trades.get(out_trade_no)
        if trade is None or trade.mchid != mchid:
            return 204, None  # WeChat answers 204 for a trade it does not know, too
        _expire_if_due(trade)
        if trade.trade_state in ("SUCCESS", "REFUND"):
            raise _Refused("ORDERPAID", "订单已支付")
        trade.trade_state = "CLOSED"
        _save(trade)
    return 204, None


def _paid_trade(transaction_id: str) -> _Trade | None:
    """The trade WeChat numbered ``transaction_id`` when it was paid; hold the lock."""
    found = (trade for trade in _trades.values() if trade.transaction_id == transaction_id)
    return next(found, None) if transaction_id else None


def _merchant_trade(mchid: str, trade: _Trade | None) -> _Trade:
    """The merchant's trade, closed first if it has expired; hold the lock."""
    if trade is None or trade.mchid != mchid:
        raise _Refused("ORDER_NOT_EXIST", "订单不存在")
    _expire_if_due(trade)
    return trade


def _expire_if_due(trade: _Trade) -> None:
    if trade.trade_state == "NOTPAY" and _now() >= trade.expires_at:
        trade.trade_state = "CLOSED"
        _save(trade)


def _transaction(trade: _Trade) -> dict[str, Any]:
    """The transaction object of queries and payment notifications; hold the lock."""
    total = trade.params["amount"]["total"]
    answer: dict[str, Any] = {
        "appid": trade.params["appid"],
        "mchid": trade.mchid,
        "out_trade_no": trade.params["out_trade_no"],
        "trade_type": "NATIVE",
        "trade_state": trade.trade_state,
        "trade_state_desc": TRADE_STATE_DESC[trade.trade_state],
        "attach": trade.params.get("attach", ""),
        "amount": {"total": total, "currency": "CNY"},
    }
    if trade.success_time is not None:
        answer |= {
            "transaction_id": trade.transaction_id,
            "bank_type": "OTHERS",
            "success_time": wire.rfc3339(trade.success_time),
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
    if not (body.get("transaction_id") or body.get("out_trade_no")):
        raise _Refused("PARAM_ERROR", "参数错误: transaction_id or out_trade_no is required")
    amount = body["amount"]
    with _lock:
        trade = (
            _trades.get(body["out_trade_no"])
            if body.get("out_trade_no")
            else _paid_trade(body["transaction_id"])
        )
        existing = _refunds.get(body["out_refund_no"])
        if existing is not None:
            same = (existing.mchid, existing.amount) == (mchid, amount["refund"]) and (
                trade is not None and existing.out_trade_no == trade.params["out_trade_no"]
            )
            if not same:
                raise _Refused("INVALID_REQUEST", "out_refund_no was used for another refund")
            return 200, _refund_view(existing)
        if trade is None or trade.mchid != mchid:
            raise _Refused("RESOURCE_NOT_EXISTS", "订单不存在")
        _check_refundable(trade, amount)
        now = _now()
        refund = _Refund(
            mchid=mchid,
            out_trade_no=trade.params["out_trade_no"],
            out_refund_no=body["out_refund_no"],
            refund_id=f"50{_digits(27)}",
            amount=amount["refund"],
            notify_url=body.get("notify_url", ""),
            create_time=now,
            settles_at=now + timedelta(seconds=REFUND_SETTLE_SECONDS / _time_scale()),
        )
        _refunds[refund.out_refund_no] = refund
        trade.trade_state = "REFUND"
        _save(trade)
        answer = _refund_view(refund)
    threading.Thread(
        target=_settle_refund_when_due,
        args=(refund.out_refund_no, (refund.settles_at - now).total_seconds()),
        name=f"wechatpay-refund-{refund.out_refund_no}",
        daemon=True,
    ).start()
    return 200, answer


def _check_refundable(trade: _Trade, amount: dict[str, Any]) -> None:
    """Refuse a refund of an unpaid trade, of another total, or beyond what remains."""
    if trade.trade_state not in ("SUCCESS", "REFUND"):
        raise _Refused("INVALID_REQUEST", "订单未支付，不能退款")
    total = trade.params["amount"]["total"]
    if amount["total"] != total:
        raise _Refused("PARAM_ERROR", "参数错误: amount.total is not the order's total")
    refunded = sum(
        refund.amount
        for refund in _refunds.values()
        if refund.out_trade_no == trade.params["out_trade_no"] and refund.status != "CLOSED"
    )
    if amount["refund"] > total - refunded:
        raise _Refused("INVALID_REQUEST", "申请退款金额超过订单可退金额")


@_api(["GET"])
def refund_query(
    request: HttpRequest, mchid: str, out_refund_no: str
) -> tuple[int, dict[str, Any]]:
    _settle_refund(out_refund_no)  # in case the process restarted before it was due
    with _lock:
        refund = _refunds.get(out_refund_no)
        if refund is None or refund.mchid != mchid:
            raise _Refused("RESOURCE_NOT_EXISTS", "退款单不存在")
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
        "success_time": wire.rfc3339(refund.success_time) if refund.success_time else None,
        "create_time": wire.rfc3339(refund.create_time),
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


def _settle_refund_when_due(out_refund_no: str, delay: float) -> None:
    time.sleep(delay)
    _settle_refund(out_refund_no)


def _settle_refund(out_refund_no: str) -> None:
    """Land a processing refund whose time has come, and start notifying it."""
    with _lock:
        refund = _refunds.get(out_refund_no)
        if refund is None or refund.status != "PROCESSING" or _now() < refund.settles_at:
            return
        refund.status, refund.success_time = "SUCCESS", _now()
        _refunds[out_refund_no] = refund
        if not refund.notify_url:
            return
        view = _refund_view(refund)
        resource = {
            "mchid": refund.mchid,
            "out_trade_no": refund.out_trade_no,
            "transaction_id": view["transaction_id"],
            "out_refund_no": out_refund_no,
            "refund_id": refund.refund_id,
            "refund_status": "SUCCESS",
            "success_time": view["success_time"],
            "user_received_account": view["user_received_account"],
            "amount": {
                name: view["amount"][name]
                for name in ("total", "refund", "payer_total", "payer_refund")
            },
        }
        key = f"refunds/{out_refund_no}"
        _notices[key] = _notice(
            refund.mchid, refund.notify_url, "REFUND.SUCCESS", "退款成功", "refund", resource
        )
    _start_notifying(key)


# -- the platform certificate -----------------------------------------------------------


@_api(["GET"])
def certificates(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    """The RSA platform certificate, sealed in the merchant's scheme. No SM2 certificate is
    served (nothing here writes SM2 X.509): a merchant in the national mode configures the
    platform's SM2 public key and its serial, as with WeChat's platform public keys."""
    if request.GET.get("algorithm_type", "RSA") != "RSA":
        raise _Refused("PARAM_ERROR", "参数错误: the sandbox serves algorithm_type RSA only")
    merchant = _config()["merchants"][mchid]
    platform = _platform(RSA)
    certificate = _certificate(platform["private_key_pem"], platform["serial_no"])
    return 200, wire.certificates_answer(
        certificate,
        platform["serial_no"],
        _merchant_scheme(merchant),
        merchant["apiv3_key"],
        nonce=secrets.token_hex(6),
    )


@lru_cache(maxsize=4)
def _certificate(private_key_pem: str, serial_no: str) -> x509.Certificate:
    """The platform key's certificate, valid for five years from yesterday, as WeChat's are."""
    now = _now()
    return wire.platform_certificate(
        keys.load_private_key(private_key_pem),
        serial_no,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=5 * 365),
    )


# -- the cashier ------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest, token: str) -> HttpResponse:
    """The payer's page behind code_url and h5_url: GET shows the order, POST pays it or
    fails it.

    POST takes the page's form (``result``) or JSON ``{"result": "success" | "failed"}``,
    where ``"notify": false`` pays without sending the notification (a lost one). An H5
    payer's form, paid or failed, is sent on to the ``redirect_url`` the merchant appended
    to h5_url, as WeChat's cashier does when the payment ends.
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
        _start_notifying(f"trades/{out_trade_no}")
    if wants_json:
        return JsonResponse(answer)
    redirect_url = request.GET.get("redirect_url", "")
    if _is_url(redirect_url):
        return HttpResponseRedirect(redirect_url)
    return HttpResponse(page)


def _cashier_trade(token: str) -> _Trade:
    trade = _trades.get(_tokens.get(token, ""))
    if trade is None:
        raise Http404("no such order")
    _expire_if_due(trade)
    return trade


def _settle(trade: _Trade, *, paid: bool) -> None:
    """Pay the trade (and prepare its notification) or fail it; hold the lock."""
    if not paid:
        trade.trade_state = "PAYERROR"
        _save(trade)
        return
    trade.trade_state = "SUCCESS"
    trade.transaction_id = f"4200{_digits(24)}"
    trade.openid = f"o{secrets.token_urlsafe(21)}"
    trade.success_time = _now()
    _save(trade)
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
        actions = common.pay_form(request.get_full_path())
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
    """An event whose resource is sealed with the merchant's APIv3 key, in its scheme."""
    merchant = _config()["merchants"][mchid]
    scheme = _merchant_scheme(merchant)
    event = wire.notification(
        event_id=str(uuid.uuid4()),
        create_time=_now(),
        event_type=event_type,
        summary=summary,
        original_type=original_type,
        resource=resource,
        scheme=scheme,
        apiv3_key=merchant["apiv3_key"],
        nonce=secrets.token_urlsafe(9),  # 12 characters
    )
    return _Notice(
        notify_url=notify_url,
        body=wire.json_text(event),
        notify_id=event["id"],
        scheme=scheme.name,
    )


def _start_notifying(key: str) -> None:
    """Send the notification on WeChat's schedule, in the background, until acknowledged."""
    with _lock:
        notice = _notices[key]
    _notifier.start(key, notice)


_notifier = common.Notifier(
    "wechatpay-notify",
    _notices,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting="SANDBOX_WECHATPAY",
    logs=lambda notice: [notice],
    send=lambda key, notice, log, trigger: _deliver(key, trigger=trigger),
)


def _deliver(key: str, *, trigger: str) -> tuple[dict[str, Any], str]:
    """POST the notification once; return the logged try and the receiver's answer."""
    with _lock:
        notice = _notices.get(key)
    if notice is None:  # forgotten by a reset: nothing is left to send
        return {"acknowledged": True}, ""
    status_code, body, error = common.post_notification(
        notice.notify_url,
        data=notice.body.encode("utf-8"),
        headers={
            "Content-Type": "application/json",
            **_signature_headers(notice.body, SCHEMES[notice.scheme]),
        },
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
    with _lock:
        if key in _notices:  # not forgotten by a reset meanwhile
            _notices[key] = notice
    return attempt, body


# -- the trade bill ---------------------------------------------------------------------


@_api(["GET"])
def tradebill(request: HttpRequest, mchid: str) -> tuple[int, dict[str, Any]]:
    bill_type = request.GET.get("bill_type", "ALL")
    try:
        bill_date = date.fromisoformat(request.GET.get("bill_date", ""))
    except ValueError as exc:
        raise _Refused("PARAM_ERROR", "参数错误: bill_date must be yyyy-MM-DD") from exc
    tar_type = request.GET.get("tar_type")
    if bill_type not in ("ALL", "SUCCESS", "REFUND") or tar_type not in (None, "GZIP"):
        raise _Refused("PARAM_ERROR", "参数错误: bill_type ALL, SUCCESS or REFUND; tar_type GZIP")
    if bill_date > _now().date():
        raise _Refused("PARAM_ERROR", "参数错误: bill_date is in the future")
    with _lock:
        rows = _bill_rows(mchid, bill_date, bill_type)
    if rows.empty:
        raise _Refused("NO_STATEMENT_EXIST", "账单文件不存在")
    content = faults.damage_file("wechatpay", wire.render_statement(rows, mchid=mchid))
    token = secrets.token_urlsafe(24)
    with _lock:
        for expired in [key for key, bill in _bills.items() if bill.expires_at < _now()]:
            del _bills[expired]
        _bills[token] = _Bill(
            mchid, content.decode("utf-8"), tar_type == "GZIP", _now() + BILL_LINK_LIFETIME
        )
    download = reverse("wechatpay_sandbox:bill-download")
    return 200, {
        "hash_type": "SHA1",  # of the bill itself, gzipped or not
        "hash_value": hashlib.sha1(content, usedforsecurity=False).hexdigest(),
        "download_url": request.build_absolute_uri(f"{download}?token={token}"),
    }


@csrf_exempt
@require_GET
def bill_download(request: HttpRequest) -> HttpResponse:
    """The bill file: a signed request, an unsigned answer (the hash vouches for it)."""
    scheme = wire.declared_scheme(request.headers.get("Authorization", ""))
    try:
        mchid = _authenticate(request, scheme)
        with _lock:
            bill = _bills.get(request.GET.get("token", ""))
        if bill is None or bill.mchid != mchid or bill.expires_at < _now():
            raise _Refused("INVALID_REQUEST", "download_url is unknown or has expired")
    except _Refused as refusal:
        refused = {"code": refusal.code, "message": refusal.message}
        return _signed_response(refusal.status, refused, scheme)
    content = bill.content.encode("utf-8")
    return HttpResponse(
        gzip.compress(content, mtime=0) if bill.gzip else content,
        content_type="application/octet-stream",
    )


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
            "attach": params.get("attach", ""),
        }
        if bill_type != "REFUND" and trade.success_time.astimezone(BEIJING).date() == bill_date:
            records.append(
                {
                    "kind": "payment",
                    "ref": params["out_trade_no"],
                    "provider_ref": trade.transaction_id,
                    "amount": total,
                    "fee": common.fee(total, wire.FEE_RATE_BPS),
                    "occurred_at": trade.success_time,
                    "refund_status": "",
                    **trade_fields,
                }
            )
        refunds = sorted(
            (r for r in _refunds.values() if r.out_trade_no == params["out_trade_no"]),
            key=lambda r: r.create_time,
        )
        given_back = common.fees_given_back(total, (r.amount for r in refunds), wire.FEE_RATE_BPS)
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
    return common.bill_frame(faults.billed("wechatpay", records), _BILL_EXTRA_COLUMNS)


_BILL_EXTRA_COLUMNS = (
    "out_trade_no",
    "transaction_id",
    "appid",
    "openid",
    "description",
    "attach",
    "refund_status",
)


# -- controls for tests and operators ---------------------------------------------------


def _notice_or_404(kind: str, number: str) -> _Notice | None:
    """The trade's or refund's notification, None before it was paid or refunded."""
    with _lock:
        if number not in (_trades if kind == "trades" else _refunds):
            raise Http404("no such trade or refund")
        return _notices.get(f"{kind}/{number}")


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, kind: str, number: str) -> JsonResponse:
    """Send the notification once more, now, and answer with what the receiver said."""
    if _notice_or_404(kind, number) is None:
        return common.no_notification("nothing to notify yet: not paid or not refunded")
    return common.control_answer(request, lambda: _deliver(f"{kind}/{number}", trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, kind: str, number: str) -> JsonResponse:
    notice = _notice_or_404(kind, number)
    if notice is None:
        return JsonResponse({"notify_id": "", "deliveries": []})
    with _lock:
        return JsonResponse({"notify_id": notice.notify_id, "deliveries": list(notice.deliveries)})


app_name = "wechatpay_sandbox"
_ORDERS = "v3/pay/transactions/out-trade-no/<str:out_trade_no>"
_CONTROL = r"^_control/(?P<kind>trades|refunds)/(?P<number>[^/]+)"
urlpatterns = [
    path("", index, name="index"),
    path("v3/pay/transactions/native", native, name="native"),
    path("v3/pay/transactions/h5", h5, name="h5"),
    path(_ORDERS, query, name="query"),
    path(f"{_ORDERS}/close", close, name="close"),
    path("v3/pay/transactions/id/<str:transaction_id>", query_by_id, name="query-by-id"),
    path("v3/refund/domestic/refunds", refund_create, name="refund"),
    path("v3/refund/domestic/refunds/<str:out_refund_no>", refund_query, name="refund-query"),
    path("v3/certificates", certificates, name="certificates"),
    path("v3/bill/tradebill", tradebill, name="tradebill"),
    path("v3/billdownload/file", bill_download, name="bill-download"),
    path("cashier/<str:token>", cashier, name="cashier"),
    re_path(f"{_CONTROL}/notify$", control_notify, name="control-notify"),
    re_path(f"{_CONTROL}/deliveries$", control_deliveries, name="control-deliveries"),
]
