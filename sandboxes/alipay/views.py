"""A sandbox of the Alipay open platform gateway: Alipay's side of the protocol.

gateway.do takes a request as a POST form or as a GET query string (or both, common
parameters in the URL), as Alipay's gateway does, and checks its app, RSA2 signature and
common parameters in the gateway's order. Pre-orders and trades are kept in journalled
stores (sandboxes.state); the QR code's target is a cashier page, and so is a page.pay
request's (电脑网站支付), whose payer is sent back to its return_url with the signed
synchronous return parameters after paying; signed notifications are
sent on Alipay's retry schedule (sped up by ``SANDBOX_ALIPAY["time_scale"]``) and the daily
trade bill is served as Alipay formats it. The wire format is in wire.py, the bill's in
bill.py. Tests and operators drive the sandbox through the ``_control/`` endpoints.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import common, faults, keys
from sandboxes.alipay import bill as bill_format
from sandboxes.alipay import wire
from sandboxes.alipay.wire import TradeStatus
from sandboxes.state import Store

MAX_CLOCK_SKEW = timedelta(minutes=15)
QR_CODE_LIFETIME = timedelta(hours=2)  # a pre-order without time_expire
BILL_LINK_LIFETIME = timedelta(seconds=30)
# Seconds between one notification try and the next: 8 tries over about 25 hours.
RETRY_DELAYS = (240, 600, 600, 3600, 7200, 21600, 54000)
MAX_FEN = 10_000_000_000  # 100,000,000.00 yuan, the largest total_amount
_OUT_NO = r"[A-Za-z0-9_\-]{1,64}"  # out_trade_no, out_request_no
# Common parameters every request carries, and the sub_code of each one's absence.
_REQUIRED = {
    "app_id": "isv.missing-app-id",
    "method": "isv.missing-method",
    "sign_type": "isv.missing-signature-type",
    "sign": "isv.missing-signature",
    "timestamp": "isv.missing-timestamp",
    "version": "isv.missing-version",
}


class _Refused(Exception):
    """A request Alipay refuses with a signed error answer."""

    def __init__(self, sub_code: str, sub_msg: str, *, code: str = "40004") -> None:
        super().__init__(sub_msg)
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg


@dataclass(frozen=True)
class _Call:
    """A request the gateway has authenticated: its app and the method's parameters."""

    app_id: str
    biz: dict[str, Any]  # biz_content, as sent
    notify_url: str
    return_url: str = ""


@dataclass
class _Refund:
    out_request_no: str
    amount: int
    reason: str
    refunded_at: datetime


@dataclass
class _Trade:
    app_id: str
    biz: dict[str, Any]  # the precreate or page.pay biz_content, as sent
    notify_url: str
    amount: int
    qr_token: str
    expires_at: datetime
    return_url: str = ""  # page.pay's: where the cashier sends the payer after paying
    trade_no: str = ""  # assigned when the payer scans the QR code
    status: str = ""  # "" until scanned, then a TradeStatus
    created_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: dict[str, _Refund] = field(default_factory=dict)  # by out_request_no
    notify_id: str = ""
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None
    left_out_of_bill: bool = False  # the leave-out-of-bill control: its lines go missing

    @property
    def out_trade_no(self) -> str:
        return self.biz["out_trade_no"]

    @property
    def key(self) -> str:
        return _key(self.app_id, self.out_trade_no)

    def refunded(self) -> int:
        return sum(refund.amount for refund in self.refunds.values())


_TIMES = ("expires_at", "created_at", "paid_at", "closed_at")


def _encode(trade: _Trade) -> dict[str, Any]:
    record = asdict(trade)
    for name in _TIMES:
        record[name] = record[name] and record[name].isoformat()
    for refund in record["refunds"].values():
        refund["refunded_at"] = refund["refunded_at"].isoformat()
    return record


def _decode(record: dict[str, Any]) -> _Trade:
    times = {name: record[name] and datetime.fromisoformat(record[name]) for name in _TIMES}
    refunds = {
        number: _Refund(**{**refund, "refunded_at": datetime.fromisoformat(refund["refunded_at"])})
        for number, refund in record["refunds"].items()
    }
    return _Trade(**{**record, **times, "refunds": refunds})


def _key(app_id: str, out_trade_no: str) -> str:
    return f"{app_id} {out_trade_no}"


_trades: Store[_Trade] = Store("alipay-trades", encode=_encode, decode=_decode)  # by _key
_qr_codes: Store[str] = Store("alipay-qr-codes")  # QR token -> its trade's key
# Bill download token -> {"app_id", "bill_date", "until"} (ISO date and time).
_bill_links: Store[dict[str, str]] = Store("alipay-bill-links")
_lock = _trades.lock  # held across every read-modify-store of the sandbox's records


def _save(trade: _Trade) -> None:
    _trades[trade.key] = trade


def _now() -> datetime:
    return datetime.now(wire.BEIJING).replace(microsecond=0)


def _alipay_key() -> rsa.RSAPrivateKey:
    return keys.load_private_key(settings.SANDBOX_ALIPAY["alipay_private_key_pem"])


# -- the gateway ------------------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def gateway(request: HttpRequest) -> HttpResponse:
    """gateway.do: the parameters in the query string, the form, or both."""
    params = {**request.GET.dict(), **request.POST.dict()}
    method = params.get("method", "")
    if method in _PAGES:
        return _page(request, params)
    node = wire.response_node(method) if method in _HANDLERS else wire.ERROR_NODE
    try:
        call = _authenticate(params)  # refuses an unknown method before it is looked up
        answer = {"code": "10000", "msg": "Success", **_HANDLERS[method](request, call)}
    except _Refused as refusal:
        answer = wire.refusal(refusal.code, refusal.sub_code, refusal.sub_msg)
    body = wire.answer_body(node, answer, _alipay_key())
    return HttpResponse(body, content_type="application/json;charset=utf-8")


def _authenticate(params: dict[str, str]) -> _Call:
    """The verified request, its common parameters checked in the gateway's order."""
    for name, sub_code in _REQUIRED.items():
        if not params.get(name):
            raise _Refused(sub_code, f"缺少{name}参数", code="40001")
    app_keys = settings.SANDBOX_ALIPAY["app_public_keys"]
    app_id = params["app_id"]
    if app_id not in app_keys:
        raise _Refused("isv.invalid-app-id", "无效的AppID参数", code="40002")
    if params["method"] not in _HANDLERS and params["method"] not in _PAGES:
        raise _Refused("isv.invalid-method", "不存在的方法名", code="40002")
    if params["sign_type"] != wire.SIGN_TYPE:
        raise _Refused("isv.invalid-signature-type", "无效的签名类型", code="40002")
    content = wire.request_content(params)
    if not wire.verify(content, params["sign"], keys.load_public_key(app_keys[app_id])):
        raise _Refused(
            "isv.invalid-signature",
            f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}",
            code="40002",
        )
    if params.get("charset", "").lower() != wire.CHARSET or params["version"] != "1.0":
        raise _Refused("isv.invalid-charset", "字符集错误: utf-8 and version 1.0", code="40002")
    if params.get("format", "JSON").upper() != "JSON":
        raise _Refused("isv.invalid-format", "无效的数据格式", code="40002")
    try:
        sent_at = wire.parse_beijing_time(params["timestamp"])
    except ValueError:
        sent_at = None
    if sent_at is None or abs(_now() - sent_at) > MAX_CLOCK_SKEW:
        raise _Refused("isv.invalid-timestamp", "非法的时间戳参数", code="40002")
    try:
        biz = wire.biz_content(params.get("biz_content") or "{}")
    except ValueError as exc:
        raise _Refused("isv.invalid-parameter", "biz_content 不是 JSON 对象", code="40002") from exc
    return _Call(app_id, biz, params.get("notify_url", ""), params.get("return_url", ""))


def _precreate(request: HttpRequest, call: _Call) -> dict[str, Any]:
    trade = _pre_order(call)
    return {"out_trade_no": trade.out_trade_no, "qr_code": _qr_url(request, trade)}


def _pre_order(call: _Call) -> _Trade:
    """The pre-order a precreate or page.pay request names, made on its first request."""
    out_trade_no, subject = call.biz.get("out_trade_no"), call.biz.get("subject")
    if not _matches(_OUT_NO, out_trade_no) or not _matches(r"\S.{0,255}", subject):
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no or subject")
    amount = _amount(call.biz.get("total_amount"))
    expires_at = _expiry(call.biz.get("time_expire"), _now())
    with _lock:
        trade = _trades.get(_key(call.app_id, out_trade_no))
        if trade is None:
            trade = _Trade(
                app_id=call.app_id,
                biz=call.biz,
                notify_url=call.notify_url,
                amount=amount,
                qr_token=secrets.token_hex(12),
                expires_at=expires_at,
                return_url=call.return_url,
            )
            _save(trade)
            _qr_codes[trade.qr_token] = trade.key
        else:
            _check_replayed(trade, call)
    return trade


def _check_replayed(trade: _Trade, call: _Call) -> None:
    """A repeated request gets the same cashier for the same order; hold the lock."""
    _expire_if_due(trade, _now())
    if trade.status == TradeStatus.TRADE_SUCCESS:
        raise _Refused("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
    if trade.status == TradeStatus.TRADE_CLOSED:
        raise _Refused("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    if (trade.biz, trade.notify_url, trade.return_url) != (
        call.biz,
        call.notify_url,
        call.return_url,
    ):
        raise _Refused("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")


def _query(request: HttpRequest, call: _Call) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(call)
        answer = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": wire.BUYER_LOGON_ID,
            "buyer_user_id": wire.BUYER_ID,
            "trade_status": trade.status,
            "total_amount": wire.yuan(trade.amount),
        }
        if trade.paid_at is not None:
            paid = wire.yuan(trade.amount)
            answer |= {"receipt_amount": paid, "buyer_pay_amount": paid, "point_amount": "0.00"}
            answer |= {"invoice_amount": paid, "send_pay_date": wire.beijing_time(trade.paid_at)}
        return answer


def _close(request: HttpRequest, call: _Call) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(call)
        if trade.status != TradeStatus.WAIT_BUYER_PAY:
            raise _Refused("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status, trade.closed_at = TradeStatus.TRADE_CLOSED, _now()
        _save(trade)
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}


def _refund(request: HttpRequest, call: _Call) -> dict[str, Any]:
    amount = _amount(call.biz.get("refund_amount"))
    reason = call.biz.get("refund_reason") or ""
    with _lock:
        trade = _scanned_trade(call)
        out_request_no = call.biz.get("out_request_no") or trade.out_trade_no
        if not _matches(_OUT_NO, out_request_no) or not isinstance(reason, str):
            raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: out_request_no or refund_reason")
        fund_change = out_request_no not in trade.refunds
        if fund_change:
            _check_refundable(trade, amount, out_request_no)
            trade.refunds[out_request_no] = _Refund(out_request_no, amount, reason, _now())
            if trade.refunded() == trade.amount:
                trade.status, trade.closed_at = TradeStatus.TRADE_CLOSED, _now()
            _save(trade)
        refund = trade.refunds[out_request_no]
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": wire.BUYER_LOGON_ID,
            "buyer_user_id": wire.BUYER_ID,
            "fund_change": "Y" if fund_change else "N",
            "refund_fee": wire.yuan(trade.refunded()),
            "gmt_refund_pay": wire.beijing_time(refund.refunded_at),
            "send_back_fee": wire.yuan(refund.amount),
        }


def _check_refundable(trade: _Trade, amount: int, out_request_no: str) -> None:
    if trade.paid_at is None:
        raise _Refused("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if out_request_no == trade.out_trade_no and amount != trade.amount:
        raise _Refused("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与订单金额不一致")
    if amount > trade.amount - trade.refunded():
        raise _Refused("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")


def _refund_query(request: HttpRequest, call: _Call) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(call)
        out_request_no = call.biz.get("out_request_no")
        answer = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": out_request_no,
        }
        refund = trade.refunds.get(out_request_no) if isinstance(out_request_no, str) else None
        if refund is None:
            return answer  # no refund_status: Alipay never received such a refund
        answer |= {
            "total_amount": wire.yuan(trade.amount),
            "refund_amount": wire.yuan(refund.amount),
            "refund_status": wire.REFUND_SUCCESS,
        }
        if "gmt_refund_pay" in (call.biz.get("query_options") or []):
            answer["gmt_refund_pay"] = wire.beijing_time(refund.refunded_at)
        return answer


def _bill_url(request: HttpRequest, call: _Call) -> dict[str, Any]:
    if call.biz.get("bill_type") != "trade":
        raise _Refused("isv.invalid-arguments", "参数不合法: the sandbox serves bill_type trade")
    try:
        bill_date = date.fromisoformat(call.biz.get("bill_date") or "")
    except ValueError as exc:
        raise _Refused("isv.invalid-arguments", "参数不合法: bill_date yyyy-MM-dd") from exc
    now = _now()
    if bill_date > now.date():
        raise _Refused("isp.bill_not_exist", "账单不存在")
    token = secrets.token_urlsafe(18)
    with _lock:
        for stale, link in list(_bill_links.items()):
            if datetime.fromisoformat(link["until"]) < now:
                del _bill_links[stale]
        _bill_links[token] = {
            "app_id": call.app_id,
            "bill_date": bill_date.isoformat(),
            "until": (now + BILL_LINK_LIFETIME).isoformat(),
        }
    url = request.build_absolute_uri(reverse("alipay_sandbox:bill", args=[token]))
    return {"bill_download_url": url}


_HANDLERS: dict[str, Callable[[HttpRequest, _Call], dict[str, Any]]] = {
    "alipay.trade.precreate": _precreate,
    "alipay.trade.query": _query,
    "alipay.trade.close": _close,
    "alipay.trade.refund": _refund,
    "alipay.trade.fastpay.refund.query": _refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": _bill_url,
}


def _page(request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """alipay.trade.page.pay: the payer's browser brings the signed request; the gateway
    opens the trade (as a scan does) and shows its cashier. A refusal is an error page,
    answered 200 as a page the browser shows."""
    try:
        call = _authenticate(params)
        if call.biz.get("product_code") != wire.PAGE_PAY_PRODUCT:
            raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: product_code")
        if call.return_url and not _is_http_url(call.return_url):
            raise _Refused("isv.invalid-parameter", "参数无效: return_url")
        trade = _pre_order(call)
    except _Refused as refusal:
        return HttpResponse(
            common.cashier_page(
                "支付宝 收银台（沙箱）",
                [("错误代码", refusal.sub_code), ("错误信息", refusal.sub_msg)],
                "",
            )
        )
    with _lock:
        _scan(trade.qr_token)
    return HttpResponseRedirect(reverse("alipay_sandbox:cashier", args=[trade.qr_token]))


_PAGES = frozenset({"alipay.trade.page.pay"})


def _is_http_url(value: str) -> bool:
    return re.fullmatch(r"https?://[^\s?#]+", value, re.A) is not None


def _matches(pattern: str, value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value, re.A) is not None


def _amount(value: object) -> int:
    try:
        amount = wire.fen(value)
    except ValueError as exc:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: amount") from exc
    if not 0 < amount <= MAX_FEN:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: amount out of range")
    return amount


def _expiry(time_expire: object, now: datetime) -> datetime:
    if time_expire is None:
        return now + QR_CODE_LIFETIME
    try:
        expires_at = wire.parse_beijing_time(time_expire)
    except ValueError as exc:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: time_expire") from exc
    if expires_at <= now:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: time_expire is in the past")
    return expires_at


def _scanned_trade(call: _Call) -> _Trade:
    """The trade named by out_trade_no (or else trade_no), once its payer has scanned it;
    hold the lock."""
    out_trade_no, trade_no = call.biz.get("out_trade_no"), call.biz.get("trade_no")
    if out_trade_no:
        trade = _trades.get(_key(call.app_id, out_trade_no))
    else:
        trade = next(
            (t for t in _trades.values() if t.app_id == call.app_id and t.trade_no == trade_no),
            None,
        )
    if trade is not None:
        _expire_if_due(trade, _now())
    if trade is None or not trade.status or (trade_no and trade.trade_no != trade_no):
        raise _Refused("ACQ.TRADE_NOT_EXIST", "交易不存在")
    return trade


def _expire_if_due(trade: _Trade, now: datetime) -> None:
    if trade.status == TradeStatus.WAIT_BUYER_PAY and now >= trade.expires_at:
        trade.status, trade.closed_at = TradeStatus.TRADE_CLOSED, trade.expires_at
        _save(trade)


def _qr_url(request: HttpRequest, trade: _Trade) -> str:
    return request.build_absolute_uri(reverse("alipay_sandbox:cashier", args=[trade.qr_token]))


# -- the cashier: the QR code's target --------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def cashier(request: HttpRequest, token: str) -> HttpResponse:
    """The payer's page. Opening it is the scan that creates the trade at Alipay.

    POST takes the page's form (``result``) or JSON ``{"result": "success" | "failed"}``,
    where ``"notify": false`` settles the trade without sending its notification. A
    failed payment closes the trade (as its timeout would) and notifies TRADE_CLOSED.
    """
    if request.method == "GET":
        with _lock:
            return HttpResponse(_cashier_page(request, _scan(token)))
    wants_json = request.content_type == "application/json"
    choice = common.cashier_choice(request, wants_json, request.POST.get("result"))
    if choice is None:
        return JsonResponse({"code": "INVALID_PARAMETER", "message": "result"}, status=400)
    result, notify = choice
    with _lock:
        trade = _scan(token)
        if trade.status != TradeStatus.WAIT_BUYER_PAY:
            message = f"the trade is {trade.status} and cannot be paid"
            return JsonResponse({"trade_status": trade.status, "message": message}, status=409)
        _settle(trade, paid=result == "success", now=_now())
        answer = {
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
        }
        page = _cashier_page(request, trade)
        back = _sync_return_url(trade) if trade.status == TradeStatus.TRADE_SUCCESS else ""
    if notify and trade.notify_url:
        _notifier.start(trade.key, trade)
    if wants_json:
        return JsonResponse(answer)
    return HttpResponseRedirect(back) if back else HttpResponse(page)


def _sync_return_url(trade: _Trade) -> str:
    """Where Alipay sends a page.pay payer after paying: the return_url with the signed
    synchronous return parameters (同步返回参数), "" for a trade without one; hold the lock."""
    if not trade.return_url:
        return ""
    fields = {
        "charset": wire.CHARSET,
        "out_trade_no": trade.out_trade_no,
        "method": "alipay.trade.page.pay.return",
        "total_amount": wire.yuan(trade.amount),
        "trade_no": trade.trade_no,
        "auth_app_id": trade.app_id,
        "version": "1.0",
        "app_id": trade.app_id,
        "sign_type": wire.SIGN_TYPE,
        "seller_id": wire.SELLER_ID,
        "timestamp": wire.beijing_time(_now()),
    }
    # Signed as a notification is: every field but sign and sign_type.
    return f"{trade.return_url}?{urlencode(wire.signed_notification(fields, _alipay_key()))}"


def _scan(token: str) -> _Trade:
    """The pre-order behind a QR code, made a trade on its first scan; hold the lock."""
    trade = _trades.get(_qr_codes.get(token, ""))
    if trade is None:
        raise Http404("no such QR code")
    now = _now()
    if not trade.status and now < trade.expires_at:
        trade.status, trade.created_at = TradeStatus.WAIT_BUYER_PAY, now
        trade.trade_no = f"{now:%Y%m%d}2200{secrets.randbelow(10**14):014d}"
        _save(trade)
    _expire_if_due(trade, now)
    return trade


def _settle(trade: _Trade, *, paid: bool, now: datetime) -> None:
    if paid:
        trade.status, trade.paid_at = TradeStatus.TRADE_SUCCESS, now
    else:
        trade.status, trade.closed_at = TradeStatus.TRADE_CLOSED, now
    trade.notify_id = uuid.uuid4().hex
    _save(trade)


_STATUS_NAMES = {
    "": "未扫码",
    TradeStatus.WAIT_BUYER_PAY: "等待付款",
    TradeStatus.TRADE_SUCCESS: "支付成功",
    TradeStatus.TRADE_CLOSED: "交易关闭",
    TradeStatus.TRADE_FINISHED: "交易完结",
}


def _cashier_page(request: HttpRequest, trade: _Trade) -> str:
    actions = ""
    if trade.status == TradeStatus.WAIT_BUYER_PAY:
        actions = common.pay_form(request.path, pay="确认付款")
    return common.cashier_page(
        "支付宝 收银台（沙箱）",
        [
            ("商品", trade.biz["subject"]),
            ("金额", f"¥{wire.yuan(trade.amount)}"),
            ("状态", _STATUS_NAMES[trade.status]),
        ],
        actions,
    )


def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: every pre-order and trade, newest first, with its cashier."""
    with _lock:
        trades = list(_trades.values())[::-1]
    return common.trades_page(
        "支付宝开放平台（沙箱）交易",
        ("商户订单号", "支付宝交易号", "金额", "状态"),
        (
            (
                trade.out_trade_no,
                trade.trade_no,
                f"¥{wire.yuan(trade.amount)}",
                _STATUS_NAMES[trade.status],
                reverse("alipay_sandbox:cashier", args=[trade.qr_token]),
            )
            for trade in trades
        ),
        empty="暂无交易",
    )


# -- notifications ----------------------------------------------------------------------


_notifier = common.Notifier(
    "alipay-notify",
    _trades,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting="SANDBOX_ALIPAY",
    logs=lambda trade: [trade],
    send=lambda key, trade, log, trigger: _deliver(trade, _alipay_key(), trigger=trigger),
)


def _deliver(
    trade: _Trade, alipay_key: rsa.RSAPrivateKey, *, trigger: str
) -> tuple[dict[str, Any], str]:
    """POST the trade's notification once; return the logged try and the merchant's answer."""
    now = _now()
    with _lock:
        fields = _notification(trade, now)
    signed = wire.signed_notification(fields, alipay_key)
    status_code, body, error = common.post_notification(
        trade.notify_url,
        data={name: value.encode() for name, value in signed.items()},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    with _lock:
        attempt = common.log_delivery(
            _lock,
            trade,
            at=now.isoformat(),
            trigger=trigger,
            status_code=status_code,
            error=error,
            acknowledged=status_code == 200 and body.strip() == "success",
        )
        if _trades.get(trade.key) is trade:
            _save(trade)
    return attempt, body


def _notification(trade: _Trade, now: datetime) -> dict[str, str]:
    """The notification's fields (异步通知参数), unsigned; hold the lock."""
    fields = {
        "notify_time": wire.beijing_time(now),
        "notify_type": wire.NOTIFY_TYPE,
        "notify_id": trade.notify_id,
        "app_id": trade.app_id,
        "auth_app_id": trade.app_id,
        "charset": wire.CHARSET,
        "version": "1.0",
        "sign_type": wire.SIGN_TYPE,
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        "buyer_id": wire.BUYER_ID,
        "buyer_logon_id": wire.BUYER_LOGON_ID,
        "seller_id": wire.SELLER_ID,
        "trade_status": trade.status,
        "total_amount": wire.yuan(trade.amount),
        "subject": trade.biz["subject"],
        "body": trade.biz.get("body") or "",
        "gmt_create": wire.beijing_time(trade.created_at or now),
    }
    if trade.paid_at is not None:
        paid = wire.yuan(trade.amount)
        fields |= {"receipt_amount": paid, "invoice_amount": paid, "buyer_pay_amount": paid}
        fields |= {"point_amount": "0.00", "gmt_payment": wire.beijing_time(trade.paid_at)}
        funds = [{"amount": paid, "fundChannel": "ALIPAYACCOUNT"}]
        fields["fund_bill_list"] = json.dumps(funds, separators=(",", ":"))
    if trade.closed_at is not None:
        fields["gmt_close"] = wire.beijing_time(trade.closed_at)
    return {name: value for name, value in fields.items() if value}


# -- the bill ---------------------------------------------------------------------------


@require_GET
def bill(request: HttpRequest, token: str) -> HttpResponse:
    """The bill_download_url target: ``<PID>_<yyyyMMdd>.csv.zip`` holding two GBK CSV files."""
    now = _now()
    with _lock:
        link = _bill_links.get(token)
        if link is None or datetime.fromisoformat(link["until"]) <= now:
            raise Http404("no such bill link, or it has expired")
        bill_date = date.fromisoformat(link["bill_date"])
        rows = _bill_rows(link["app_id"], bill_date)
    content = bill_format.render_statement(rows, bill_date=bill_date, exported_at=now)
    content = faults.damage_file("alipay", content)
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = (
        f'attachment; filename="{wire.SELLER_ID}_{bill_date:%Y%m%d}.csv.zip"'
    )
    return response


def _bill_rows(app_id: str, bill_date: date) -> pd.DataFrame:
    """The payments and refunds completed on the date, in time order, for render_statement.

    A refund gives back the fee on its amount, never more than the payment's fee left.
    Hold the lock.
    """
    rate = bill_format.FEE_RATE_BPS
    records = []
    for trade in _trades.values():
        if trade.app_id != app_id or trade.paid_at is None or trade.left_out_of_bill:
            continue
        common_fields = {
            "provider_ref": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "subject": trade.biz["subject"],
            "created_at": trade.created_at or trade.paid_at,
        }
        if trade.paid_at.date() == bill_date:
            records.append(
                {
                    "kind": "payment",
                    "ref": trade.out_trade_no,
                    "amount": trade.amount,
                    "fee": common.fee(trade.amount, rate),
                    "occurred_at": trade.paid_at,
                    **common_fields,
                }
            )
        refunds = sorted(trade.refunds.values(), key=lambda refund: refund.refunded_at)
        given_back = common.fees_given_back(trade.amount, (r.amount for r in refunds), rate)
        for refund, returned in zip(refunds, given_back, strict=True):
            if refund.refunded_at.date() == bill_date:
                records.append(
                    {
                        "kind": "refund",
                        "ref": refund.out_request_no,
                        "amount": refund.amount,
                        "fee": -returned,
                        "occurred_at": refund.refunded_at,
                        **common_fields,
                    }
                )
    return common.bill_frame(
        faults.billed("alipay", records),
        bill_format.EXTRA_COLUMNS,
        times=("occurred_at", "created_at"),
    )


# -- controls for tests and operators ---------------------------------------------------


def _trade_or_404(out_trade_no: str) -> _Trade:
    with _lock:
        trade = next((t for t in _trades.values() if t.out_trade_no == out_trade_no), None)
    if trade is None:
        raise Http404("no such trade")
    return trade


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Send the trade's notification once more, now, and answer with what the merchant said
    (with ``?send=false``: answer the notification, unsent; common.control_answer)."""
    trade = _trade_or_404(out_trade_no)
    if not trade.notify_id:
        return common.no_notification("the trade has not been paid or closed yet")
    return common.control_answer(request, lambda: _deliver(trade, _alipay_key(), trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    trade = _trade_or_404(out_trade_no)
    with _lock:
        answer = {"notify_id": trade.notify_id, "deliveries": list(trade.deliveries)}
    return JsonResponse({"out_trade_no": out_trade_no, **answer})


@csrf_exempt
@require_POST
def control_leave_out_of_bill(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Leave the trade's payment and refunds out of every bill, as a faulty bill would."""
    trade = _trade_or_404(out_trade_no)
    with _lock:
        trade.left_out_of_bill = True
        _save(trade)
    return JsonResponse({"out_trade_no": out_trade_no, "left_out_of_bill": True})


app_name = "alipay_sandbox"
urlpatterns = [
    path("", index, name="index"),
    path("gateway.do", gateway, name="gateway"),
    path("qr/<slug:token>", cashier, name="cashier"),
    path("bill/<str:token>", bill, name="bill"),
    path("_control/trades/<str:out_trade_no>/notify", control_notify, name="control-notify"),
    path(
        "_control/trades/<str:out_trade_no>/deliveries",
        control_deliveries,
        name="control-deliveries",
    ),
    path(
        "_control/trades/<str:out_trade_no>/leave-out-of-bill",
        control_leave_out_of_bill,
        name="control-leave-out-of-bill",
    ),
]
