"""A sandbox of the Alipay open platform gateway: Alipay's side of the protocol.

It checks each gateway request's app, RSA2 signature and common parameters as Alipay
does, keeps pre-orders and trades in memory, serves the QR code's target as a cashier
page, sends signed notifications on Alipay's retry schedule (sped up by
``SANDBOX_ALIPAY["time_scale"]``) and serves the daily trade bill as Alipay formats it.
Tests and operators drive it through the ``_control/`` endpoints. The protocol is
described in docs/alipay.md.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import threading
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.payments import signing
from integrations.payments.alipay import (
    BEIJING,
    BILL_COLUMNS,
    BILL_LIST_END,
    BILL_TITLE,
    beijing_time,
    fen,
    parse_beijing_time,
    sign_content,
    signed_content,
    verify_content,
    yuan,
)
from sandboxes import common

MAX_CLOCK_SKEW = timedelta(minutes=15)
QR_CODE_LIFETIME = timedelta(hours=2)  # a pre-order without time_expire
BILL_LINK_LIFETIME = timedelta(seconds=30)
# Seconds between one notification try and the next: 8 tries over about 25 hours.
RETRY_DELAYS = (240, 600, 600, 3600, 7200, 21600, 54000)
SELLER_ID = "2088000000000001"  # the sandbox merchant's Alipay user id (PID)
BUYER = {"buyer_id": "2088000000000002", "buyer_logon_id": "san***@sandbox.com"}
MAX_FEN = 10_000_000_000  # 100,000,000.00 yuan, Alipay's largest total_amount


class _Refused(Exception):
    """A request Alipay refuses with a signed error answer."""

    def __init__(self, sub_code: str, sub_msg: str, *, code: str = "40004") -> None:
        super().__init__(sub_msg)
        self.code, self.sub_code, self.sub_msg = code, sub_code, sub_msg


_MESSAGES = {"10000": "Success", "40002": "Invalid Arguments", "40004": "Business Failed"}


@dataclass
class _Refund:
    out_request_no: str
    amount: int
    reason: str
    refunded_at: datetime


@dataclass
class _Trade:
    app_id: str
    biz: dict[str, Any]  # the precreate biz_content, as sent
    amount: int
    notify_url: str
    qr_token: str
    expires_at: datetime
    trade_no: str = ""  # assigned when the payer scans the QR code
    status: str = ""  # "" until scanned, then WAIT_BUYER_PAY, TRADE_SUCCESS or TRADE_CLOSED
    created_at: datetime | None = None
    paid_at: datetime | None = None
    closed_at: datetime | None = None
    refunds: dict[str, _Refund] = field(default_factory=dict)  # by out_request_no
    notify_id: str = ""
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    left_out_of_bill: bool = False  # the leave-out-of-bill control: its lines go missing

    @property
    def out_trade_no(self) -> str:
        return self.biz["out_trade_no"]

    def refunded(self) -> int:
        return sum(refund.amount for refund in self.refunds.values())


_lock = threading.Lock()
_trades: dict[tuple[str, str], _Trade] = {}  # by (app_id, out_trade_no)
_qr_codes: dict[str, _Trade] = {}  # by QR token
_bill_links: dict[str, tuple[str, date, datetime]] = {}  # token -> app_id, date, expiry


def _now() -> datetime:
    return datetime.now(BEIJING).replace(microsecond=0)


def _alipay_key() -> rsa.RSAPrivateKey:
    return signing.load_private_key(settings.SANDBOX_ALIPAY["alipay_private_key_pem"])


# -- the gateway ------------------------------------------------------------------------


@csrf_exempt
@require_POST
def gateway(request: HttpRequest) -> HttpResponse:
    """gateway.do: common parameters in the query string or the form, both as Alipay takes."""
    params = {**request.GET.dict(), **request.POST.dict()}
    method = params.get("method", "")
    node = f"{method.replace('.', '_')}_response" if method in _HANDLERS else "error_response"
    try:
        app_id, biz = _authenticate(params)
        answer = {"code": "10000", "msg": "Success", **_HANDLERS[method](request, app_id, biz)}
    except _Refused as refusal:
        answer = {
            "code": refusal.code,
            "msg": _MESSAGES[refusal.code],
            "sub_code": refusal.sub_code,
            "sub_msg": refusal.sub_msg,
        }
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    sign = sign_content(text, _alipay_key())
    body = f'{{"{node}":{text},"sign":"{sign}"}}'
    return HttpResponse(body.encode(), content_type="application/json;charset=utf-8")


def _authenticate(params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The verified app_id and biz_content of a request, checked in the gateway's order."""
    app_keys = settings.SANDBOX_ALIPAY["app_public_keys"]
    app_id = params.get("app_id", "")
    if app_id not in app_keys:
        raise _Refused("isv.invalid-app-id", "无效的AppID参数", code="40002")
    if params.get("method") not in _HANDLERS:
        raise _Refused("isv.invalid-method", "不存在的方法名", code="40002")
    if params.get("sign_type") != "RSA2" or not params.get("sign"):
        raise _Refused("isv.invalid-signature-type", "无效的签名类型", code="40002")
    content = signed_content({k: v for k, v in params.items() if v}, exclude=("sign",))
    if not verify_content(content, params["sign"], signing.load_public_key(app_keys[app_id])):
        raise _Refused("isv.invalid-signature", "验签出错", code="40002")
    if params.get("charset", "").lower() != "utf-8" or params.get("version") != "1.0":
        raise _Refused("isv.invalid-charset", "charset must be utf-8, version 1.0", code="40002")
    try:
        sent_at = parse_beijing_time(params.get("timestamp"))
    except ValueError:
        sent_at = None
    if sent_at is None or abs(_now() - sent_at) > MAX_CLOCK_SKEW:
        raise _Refused("isv.invalid-timestamp", "非法的时间戳参数", code="40002")
    try:
        biz = signing.loads_object(params.get("biz_content", ""))
    except signing.MalformedJson as exc:
        raise _Refused(
            "isv.invalid-parameter", "biz_content is not a JSON object", code="40002"
        ) from exc
    if params.get("notify_url"):
        biz["notify_url"] = params["notify_url"]
    return app_id, biz


def _precreate(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    fields = {name: biz.get(name) for name in ("out_trade_no", "total_amount", "subject")}
    if not _matches(r"[A-Za-z0-9_\-]{1,64}", fields["out_trade_no"]) or not (
        _matches(r"\S.{0,255}", fields["subject"])
    ):
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no or subject")
    amount = _amount(fields["total_amount"])
    now = _now()
    expires_at = _expiry(biz.get("time_expire"), now)
    with _lock:
        trade = _trades.get((app_id, fields["out_trade_no"]))
        if trade is not None:
            return _replayed_precreate(request, trade, biz)
        trade = _Trade(
            app_id=app_id,
            biz=biz,
            amount=amount,
            notify_url=biz.get("notify_url", ""),
            qr_token=secrets.token_hex(12),
            expires_at=expires_at,
        )
        _trades[app_id, trade.out_trade_no] = trade
        _qr_codes[trade.qr_token] = trade
        return {"out_trade_no": trade.out_trade_no, "qr_code": _qr_url(request, trade)}


def _replayed_precreate(request: HttpRequest, trade: _Trade, biz: dict[str, Any]) -> dict[str, Any]:
    """A repeated precreate: the same QR code for the same order; call with the lock held."""
    _expire_if_due(trade, _now())
    if trade.status == "TRADE_SUCCESS":
        raise _Refused("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
    if trade.status == "TRADE_CLOSED":
        raise _Refused("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
    if trade.biz != biz:
        raise _Refused("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
    return {"out_trade_no": trade.out_trade_no, "qr_code": _qr_url(request, trade)}


def _query(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(app_id, biz)
        answer = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            **BUYER,
            "trade_status": trade.status,
            "total_amount": yuan(trade.amount),
        }
        if trade.paid_at is not None:
            paid = yuan(trade.amount)
            answer |= {"receipt_amount": paid, "buyer_pay_amount": paid, "point_amount": "0.00"}
            answer |= {"invoice_amount": paid, "send_pay_date": beijing_time(trade.paid_at)}
        return answer


def _close(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(app_id, biz)
        if trade.status != "WAIT_BUYER_PAY":
            raise _Refused("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.status, trade.closed_at = "TRADE_CLOSED", _now()
        return {"trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}


def _refund(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    amount = _amount(biz.get("refund_amount"))
    reason = biz.get("refund_reason") or ""
    with _lock:
        trade = _scanned_trade(app_id, biz)
        out_request_no = biz.get("out_request_no") or trade.out_trade_no
        if not _matches(r"[A-Za-z0-9_\-]{1,64}", out_request_no) or not isinstance(reason, str):
            raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: out_request_no or refund_reason")
        fund_change = out_request_no not in trade.refunds
        if fund_change:
            _check_refundable(trade, amount, out_request_no)
            trade.refunds[out_request_no] = _Refund(out_request_no, amount, reason, _now())
        if trade.refunded() == trade.amount:
            trade.status, trade.closed_at = "TRADE_CLOSED", trade.closed_at or _now()
        return {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            **BUYER,
            "fund_change": "Y" if fund_change else "N",
            "refund_fee": yuan(trade.refunded()),
            "gmt_refund_pay": beijing_time(trade.refunds[out_request_no].refunded_at),
            "send_back_fee": yuan(trade.refunds[out_request_no].amount),
        }


def _check_refundable(trade: _Trade, amount: int, out_request_no: str) -> None:
    if trade.paid_at is None:
        raise _Refused("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    if out_request_no == trade.out_trade_no and amount != trade.amount:
        raise _Refused("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与订单金额不一致")
    if amount > trade.amount - trade.refunded():
        raise _Refused("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额无效")


def _refund_query(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        trade = _scanned_trade(app_id, biz)
        out_request_no = biz.get("out_request_no")
        answer = {
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_request_no": out_request_no,
        }
        refund = trade.refunds.get(out_request_no) if isinstance(out_request_no, str) else None
        if refund is None:
            return answer  # no refund_status: Alipay never received such a refund
        answer |= {
            "total_amount": yuan(trade.amount),
            "refund_amount": yuan(refund.amount),
            "refund_status": "REFUND_SUCCESS",
        }
        if "gmt_refund_pay" in (biz.get("query_options") or []):
            answer["gmt_refund_pay"] = beijing_time(refund.refunded_at)
        return answer


def _bill_url(request: HttpRequest, app_id: str, biz: dict[str, Any]) -> dict[str, Any]:
    if biz.get("bill_type") != "trade":
        raise _Refused("isv.invalid-arguments", "参数不合法: the sandbox serves bill_type trade")
    try:
        bill_date = date.fromisoformat(biz.get("bill_date") or "")
    except ValueError as exc:
        raise _Refused("isv.invalid-arguments", "参数不合法: bill_date yyyy-MM-dd") from exc
    now = _now()
    if bill_date > now.date():
        raise _Refused("isp.bill_not_exist", "账单不存在")
    token = secrets.token_urlsafe(18)
    with _lock:
        for stale in [key for key, (_, _, until) in _bill_links.items() if until < now]:
            del _bill_links[stale]
        _bill_links[token] = (app_id, bill_date, now + BILL_LINK_LIFETIME)
    url = request.build_absolute_uri(reverse("alipay_sandbox:bill", args=[token]))
    return {"bill_download_url": url}


_HANDLERS: dict[str, Callable[[HttpRequest, str, dict[str, Any]], dict[str, Any]]] = {
    "alipay.trade.precreate": _precreate,
    "alipay.trade.query": _query,
    "alipay.trade.close": _close,
    "alipay.trade.refund": _refund,
    "alipay.trade.fastpay.refund.query": _refund_query,
    "alipay.data.dataservice.bill.downloadurl.query": _bill_url,
}


def _matches(pattern: str, value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(pattern, value, re.A) is not None


def _amount(value: object) -> int:
    try:
        amount = fen(value)
    except ValueError as exc:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: amount") from exc
    if not 0 < amount <= MAX_FEN:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: amount out of range")
    return amount


def _expiry(time_expire: object, now: datetime) -> datetime:
    if time_expire is None:
        return now + QR_CODE_LIFETIME
    try:
        expires_at = parse_beijing_time(time_expire)
    except ValueError as exc:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: time_expire") from exc
    if expires_at <= now:
        raise _Refused("ACQ.INVALID_PARAMETER", "参数无效: time_expire is in the past")
    return expires_at


def _scanned_trade(app_id: str, biz: dict[str, Any]) -> _Trade:
    """The trade named by biz_content, once its payer has scanned it; hold the lock."""
    trade = _trades.get((app_id, biz.get("out_trade_no") or ""))
    if trade is not None:
        _expire_if_due(trade, _now())
    if trade is None or not trade.status:
        raise _Refused("ACQ.TRADE_NOT_EXIST", "交易不存在")
    return trade


def _expire_if_due(trade: _Trade, now: datetime) -> None:
    if trade.status == "WAIT_BUYER_PAY" and now >= trade.expires_at:
        trade.status, trade.closed_at = "TRADE_CLOSED", trade.expires_at


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
        if trade.status != "WAIT_BUYER_PAY":
            message = f"the trade is {trade.status} and cannot be paid"
            return JsonResponse({"trade_status": trade.status, "message": message}, status=409)
        _settle(trade, paid=result == "success", now=_now())
        answer = {
            "out_trade_no": trade.out_trade_no,
            "trade_no": trade.trade_no,
            "trade_status": trade.status,
        }
        page = _cashier_page(request, trade)
        key, notify = (trade.app_id, trade.out_trade_no), notify and bool(trade.notify_url)
    if notify:
        threading.Thread(
            target=_notify_until_acknowledged,
            args=(key, _alipay_key(), common.time_scale("SANDBOX_ALIPAY")),
            name=f"alipay-notify-{answer['trade_no']}",
            daemon=True,
        ).start()
    return JsonResponse(answer) if wants_json else HttpResponse(page)


def _scan(token: str) -> _Trade:
    """The pre-order behind a QR code, made a trade on its first scan; hold the lock."""
    trade = _qr_codes.get(token)
    if trade is None:
        raise Http404("no such QR code")
    now = _now()
    if not trade.status and now < trade.expires_at:
        trade.status, trade.created_at = "WAIT_BUYER_PAY", now
        trade.trade_no = f"{now:%Y%m%d}2200{secrets.randbelow(10**14):014d}"
    _expire_if_due(trade, now)
    return trade


def _settle(trade: _Trade, *, paid: bool, now: datetime) -> None:
    if paid:
        trade.status, trade.paid_at = "TRADE_SUCCESS", now
    else:
        trade.status, trade.closed_at = "TRADE_CLOSED", now
    trade.notify_id = uuid.uuid4().hex


_STATUS_NAMES = {
    "": "未扫码",
    "WAIT_BUYER_PAY": "等待付款",
    "TRADE_SUCCESS": "支付成功",
    "TRADE_CLOSED": "交易关闭",
}


def _cashier_page(request: HttpRequest, trade: _Trade) -> str:
    actions = ""
    if trade.status == "WAIT_BUYER_PAY":
        actions = common.pay_form(request.path, pay="确认付款")
    return common.cashier_page(
        "支付宝 收银台（沙箱）",
        [
            ("商品", trade.biz["subject"]),
            ("金额", f"¥{yuan(trade.amount)}"),
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
                f"¥{yuan(trade.amount)}",
                _STATUS_NAMES[trade.status],
                reverse("alipay_sandbox:cashier", args=[trade.qr_token]),
            )
            for trade in trades
        ),
        empty="暂无交易",
    )


# -- notifications ----------------------------------------------------------------------


def _notify_until_acknowledged(
    key: tuple[str, str], alipay_key: rsa.RSAPrivateKey, time_scale: float
) -> None:
    with _lock:
        trade = _trades[key]
    common.notify_until_acknowledged(
        _lock,
        trade,
        lambda: _deliver(key, alipay_key, trigger="schedule")[0],
        RETRY_DELAYS,
        time_scale,
    )


def _deliver(
    key: tuple[str, str], alipay_key: rsa.RSAPrivateKey, *, trigger: str
) -> tuple[dict[str, Any], str]:
    """POST the trade's notification once; return the logged try and the merchant's answer."""
    now = _now()
    with _lock:
        trade = _trades[key]
        fields = _notification(trade, now)
        notify_url = trade.notify_url
    content = signed_content(fields, exclude=("sign", "sign_type"))
    fields["sign"] = sign_content(content, alipay_key)
    status_code, body, error = common.post_notification(
        notify_url,
        data={name: value.encode() for name, value in fields.items()},
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    attempt = common.log_delivery(
        _lock,
        trade,
        at=now.isoformat(),
        trigger=trigger,
        status_code=status_code,
        error=error,
        acknowledged=status_code == 200 and body.strip() == "success",
    )
    return attempt, body


def _notification(trade: _Trade, now: datetime) -> dict[str, str]:
    """The notification's fields, unsigned; call with the lock held."""
    fields = {
        "notify_time": beijing_time(now),
        "notify_type": "trade_status_sync",
        "notify_id": trade.notify_id,
        "app_id": trade.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade.trade_no,
        "out_trade_no": trade.out_trade_no,
        **BUYER,
        "seller_id": SELLER_ID,
        "trade_status": trade.status,
        "total_amount": yuan(trade.amount),
        "subject": trade.biz["subject"],
        "body": trade.biz.get("body") or "",
        "gmt_create": beijing_time(trade.created_at or now),
    }
    if trade.paid_at is not None:
        paid = yuan(trade.amount)
        fields |= {"receipt_amount": paid, "invoice_amount": paid, "buyer_pay_amount": paid}
        fields |= {"point_amount": "0.00", "gmt_payment": beijing_time(trade.paid_at)}
        fields["fund_bill_list"] = json.dumps([{"amount": paid, "fundChannel": "ALIPAYACCOUNT"}])
    if trade.closed_at is not None:
        fields["gmt_close"] = beijing_time(trade.closed_at)
    return {name: value for name, value in fields.items() if value}


# -- the bill ---------------------------------------------------------------------------

FEE_RATE_BPS = 60  # 服务费: 0.60% of each payment, given back on refunds
_SUMMARY_HEADER = [
    "门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）",
    "商家实收（元）", "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）",
    "分润（元）", "实收净额（元）",
]  # fmt: skip
_LIST_START = "#-----------------------------------------{}----------------------------------------"
_LIST_END = "#-----------------------------------------{}------------------------------------"
_BILL_EXTRA_COLUMNS = ("out_trade_no", "subject", "created_at")


@require_GET
def bill(request: HttpRequest, token: str) -> HttpResponse:
    """The bill_download_url target: ``<PID>_<yyyyMMdd>.csv.zip`` holding two GBK CSV files."""
    now = _now()
    with _lock:
        app_id, bill_date, until = _bill_links.get(token) or ("", date.min, now)
        if until <= now:
            raise Http404("the bill link has expired")
        rows = _bill_rows(app_id, bill_date)
    content = render_statement(rows, bill_date=bill_date, exported_at=now)
    response = HttpResponse(content, content_type="application/octet-stream")
    response["Content-Disposition"] = (
        f'attachment; filename="{SELLER_ID}_{bill_date:%Y%m%d}.csv.zip"'
    )
    return response


def _bill_rows(app_id: str, bill_date: date) -> pd.DataFrame:
    """The payments and refunds completed on the date, in time order, for render_statement.

    A refund gives back the fee on its amount, never more than the payment's fee left.
    Hold the lock.
    """
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
                    "fee": common.fee(trade.amount, FEE_RATE_BPS),
                    "occurred_at": trade.paid_at,
                    **common_fields,
                }
            )
        refunds = sorted(trade.refunds.values(), key=lambda refund: refund.refunded_at)
        given_back = common.fees_given_back(
            trade.amount, (refund.amount for refund in refunds), FEE_RATE_BPS
        )
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
    return common.bill_frame(records, _BILL_EXTRA_COLUMNS, times=("occurred_at", "created_at"))


def render_statement(
    rows: pd.DataFrame,
    *,
    account: str = SELLER_ID,
    bill_date: date | None = None,
    exported_at: datetime | None = None,
) -> bytes:
    """Alipay's bill zip for a TRANSACTION_COLUMNS frame: 业务明细 and 业务明细(汇总).

    One detail line per row, in the frame's order (``line_no`` is not read). A refund's
    amounts are negative; ``fee`` is written as minus 服务费. Columns beyond the canonical
    ones fill what the frame does not hold: ``out_trade_no`` (a refund's trade; empty
    when absent), ``subject`` and ``created_at`` (the trade's creation; ``occurred_at``
    when absent). ``bill_date`` defaults to the Beijing date of the first row, and
    ``exported_at`` to 09:00 the next morning. Built column by column, never line by line.
    """
    bill = common.bill_lines(rows)
    amount, fees, is_refund = bill.amount, bill.fee, bill.is_refund
    money = common.yuan_text(np.where(is_refund, -amount, amount))
    occurred = common.beijing_text(rows["occurred_at"])
    created = common.beijing_text(rows["created_at"]) if "created_at" in rows else occurred
    fields = [
        common.joined(_text(rows, "provider_ref"), "\t"),
        common.joined(bill.either(_text(rows, "out_trade_no"), _text(rows, "ref")), "\t"),
        bill.either("退款", "交易"),
        _text(rows, "subject"),
        created,
        occurred,
        *("", "", "", ""),
        BUYER["buyer_logon_id"],
        money,
        money,
        *("0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00"),
        bill.either(_text(rows, "ref"), ""),
        common.yuan_text(-fees),
        "0.00",
        "",
    ]
    lines = str(common.lines_of(fields, ",", end="\r\n"), "utf-8")
    if bill_date is None:
        first = pd.to_datetime(rows["occurred_at"].iloc[:1], utc=True)
        bill_date = (
            (first + pd.Timedelta(hours=8)).dt.date.iloc[0] if len(first) else date(2000, 1, 1)
        )
    exported_at = exported_at or datetime.combine(bill_date + timedelta(days=1), time(9, 0))
    totals = {
        "payments": int((~is_refund).sum()),
        "refunds": int(is_refund.sum()),
        "paid": int(amount[~is_refund].sum()),
        "refunded": int(-amount[is_refund].sum()),
        "fees": int(-fees.sum()),
    }
    stem = f"{account}_{bill_date:%Y%m%d}"
    buffer = io.BytesIO()
    # The fastest DEFLATE level: big bills are written for benchmarks, and any level reads.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(
            f"{stem}_业务明细.csv",
            _detail_csv(lines, account, bill_date, exported_at, totals),
        )
        archive.writestr(
            f"{stem}_业务明细(汇总).csv", _summary_csv(account, bill_date, exported_at, totals)
        )
    return buffer.getvalue()


def _detail_csv(
    lines: str, account: str, bill_date: date, exported_at: datetime, totals: dict[str, int]
) -> bytes:
    head = [
        BILL_TITLE,
        f"#账号：[{account}]",
        f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   终止日期：[{_next_day(bill_date)}]",
        _LIST_START.format("业务明细列表"),
        ",".join(BILL_COLUMNS),
    ]
    foot = [
        _LIST_END.format(BILL_LIST_END),
        f"#交易合计：{totals['payments']}笔，商家实收共{_signed_yuan(totals['paid'])}元，"
        "商家优惠共0.00元",
        f"#退款合计：{totals['refunds']}笔，商家实收退款共{_signed_yuan(totals['refunded'])}元，"
        "商家优惠退款共0.00元",
        f"#导出时间：[{exported_at:%Y年%m月%d日 %H:%M:%S}]",
    ]
    text = "".join(f"{line}\r\n" for line in head) + lines + "".join(f"{line}\r\n" for line in foot)
    return text.encode("gbk", errors="replace")


def _summary_csv(
    account: str, bill_date: date, exported_at: datetime, totals: dict[str, int]
) -> bytes:
    ordered = _signed_yuan(totals["paid"] + totals["refunded"])
    net = _signed_yuan(totals["paid"] + totals["refunded"] + totals["fees"])
    lines = [
        "#支付宝业务汇总查询",
        f"#账号：[{account}]",
        f"#起始日期：[{bill_date:%Y年%m月%d日} 00:00:00]   终止日期：[{_next_day(bill_date)}]",
        _LIST_START.format("业务汇总列表"),
        ",".join(_SUMMARY_HEADER),
        ",".join(
            [
                *("", "", str(totals["payments"]), str(totals["refunds"]), ordered, ordered),
                *("0.00", "0.00", "0.00", _signed_yuan(totals["fees"]), "0.00", net),
            ]
        ),
        _LIST_END.format("业务汇总列表结束"),
        f"#导出时间：[{exported_at:%Y年%m月%d日 %H:%M:%S}]",
    ]
    return "".join(f"{line}\r\n" for line in lines).encode("gbk", errors="replace")


def _signed_yuan(amount: int) -> str:
    return f"-{yuan(-amount)}" if amount < 0 else yuan(amount)


def _next_day(bill_date: date) -> str:
    return f"{bill_date + timedelta(days=1):%Y年%m月%d日} 00:00:00"


def _text(rows: pd.DataFrame, name: str) -> pa.Array | str:
    """A text column as a CSV field (quoted when it must be, line breaks made spaces)."""
    values = common.text_column(rows, name)
    if not isinstance(values, str) and pc.any(pc.match_substring_regex(values, "[\r\n]")).as_py():
        values = pc.replace_substring_regex(values, "[\r\n]", " ")
    return common.csv_field(values)


# -- controls for tests and operators ---------------------------------------------------


def _trade_or_404(out_trade_no: str) -> tuple[str, str]:
    with _lock:
        key = next((key for key in _trades if key[1] == out_trade_no), None)
    if key is None:
        raise Http404("no such trade")
    return key


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Send the trade's notification once more, now, and answer with what the merchant said."""
    key = _trade_or_404(out_trade_no)
    with _lock:
        settled = bool(_trades[key].notify_id)
    if not settled:
        return common.no_notification("the trade has not been paid or closed yet")
    return common.delivery_answer(*_deliver(key, _alipay_key(), trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    key = _trade_or_404(out_trade_no)
    with _lock:
        trade = _trades[key]
        answer = {"notify_id": trade.notify_id, "deliveries": list(trade.deliveries)}
    return JsonResponse({"out_trade_no": out_trade_no, **answer})


@csrf_exempt
@require_POST
def control_leave_out_of_bill(request: HttpRequest, out_trade_no: str) -> JsonResponse:
    """Leave the trade's payment and refunds out of every bill, as a faulty bill would."""
    key = _trade_or_404(out_trade_no)
    with _lock:
        _trades[key].left_out_of_bill = True
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
