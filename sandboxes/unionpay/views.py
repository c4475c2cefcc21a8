"""A sandbox of the UnionPay online gateway (version 5.1.0): UnionPay's side of the protocol.

It checks each request's merchant certificate and signature as the gateway does, keeps
transactions in a journalled store (sandboxes.state), serves the cashier at the
front-transaction URL (which, once the consume is settled, takes the payer back to the
merchant's frontUrl with the signed front notification, 前台通知), sends signed back-end
notifications on UnionPay's retry schedule
(sped up by ``SANDBOX_UNIONPAY["time_scale"]``) and serves the daily reconciliation zip.
Tests and operators drive it through the ``_control/`` endpoints. The wire format is in
``wire``; see docs/unionpay.md.
"""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import common, faults, keys
from sandboxes.state import Store
from sandboxes.unionpay import wire
from sandboxes.unionpay.wire import BEIJING

# Seconds between one notification try and the next, after the first try.
RETRY_DELAYS = (1, 2, 4, 8, 16)
SETTLEMENT_CUTOFF = timedelta(hours=1)  # the settlement date turns at 23:00 Beijing time
ACQUIRER = "48020000"  # the sandbox's acquiring and sending institution code
MASKED_CARD = "621626******0018"  # a made-up test card, masked as the bill shows it


class _Refused(Exception):
    """A request the gateway answers with a signed error respCode."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.message = wire.resp_msg(code, detail)
        super().__init__(self.message)


@dataclass
class _Txn:
    """One consume (txnType 01) or refund (txnType 04) as the gateway holds it."""

    request: dict[str, str]  # the merchant's signed fields, without certId and signature
    pay_url: str = ""
    status: str = "open"  # open, succeeded, failed
    query_id: str = ""
    trace_no: str = ""
    trace_time: str = ""
    completed_at: datetime | None = None
    settle_date: date | None = None
    refunded: int = 0  # consumes: fen refunded so far
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None

    @property
    def key(self) -> str:
        return _key(self.request["merId"], self.request["orderId"], self.request["txnTime"])

    @property
    def amount(self) -> int:
        return int(self.request["txnAmt"])


def _key(mer_id: str, order_id: str, txn_time: str) -> str:
    """The store's key of a transaction: merId, orderId and txnTime name one at UnionPay."""
    return f"{mer_id} {order_id} {txn_time}"


def _encode(txn: _Txn) -> dict[str, Any]:
    record = asdict(txn)
    record["completed_at"] = txn.completed_at.isoformat() if txn.completed_at else None
    record["settle_date"] = txn.settle_date.isoformat() if txn.settle_date else None
    return record


def _decode(record: dict[str, Any]) -> _Txn:
    completed_at, settle_date = record["completed_at"], record["settle_date"]
    times = {
        "completed_at": datetime.fromisoformat(completed_at) if completed_at else None,
        "settle_date": date.fromisoformat(settle_date) if settle_date else None,
    }
    return _Txn(**{**record, **times})


_txns: Store[_Txn] = Store("unionpay-transactions", encode=_encode, decode=_decode)
_lock = _txns.lock


def _save(txn: _Txn) -> None:
    """Journal a transaction changed in place, unless the sandbox was reset meanwhile."""
    with _lock:
        if _txns.get(txn.key) is txn:
            _txns[txn.key] = txn


def _by_query_id(query_id: str) -> _Txn | None:
    """Hold the lock."""
    return next((txn for txn in _txns.values() if txn.query_id == query_id), None)


def _order_used(mer_id: str, order_id: str) -> bool:
    """Whether the merchant sent this orderId before, at any txnTime; hold the lock."""
    return any(
        (txn.request["merId"], txn.request["orderId"]) == (mer_id, order_id)
        for txn in _txns.values()
    )


def _now() -> datetime:
    return datetime.now(BEIJING)


def _config() -> dict[str, Any]:
    return settings.SANDBOX_UNIONPAY


def _sign(fields: dict[str, str]) -> dict[str, str]:
    config = _config()
    key = keys.load_private_key(config["private_key_pem"])
    return wire.signed(fields, key, config["certificate_pem"])


def _is_http_url(value: str) -> bool:
    return re.fullmatch(r"https?://[^\s/]+\S*", value) is not None


_COMMON = {
    "version": lambda v: v == wire.VERSION,
    "encoding": lambda v: v.upper() == "UTF-8",
    "signMethod": lambda v: v == wire.SIGN_METHOD,
    "accessType": lambda v: v == "0",
    "channelType": lambda v: v in ("07", "08"),
    "merId": lambda v: re.fullmatch(r"[0-9A-Za-z]{15}", v) is not None,
    "txnTime": lambda v: re.fullmatch(r"20\d{12}", v) is not None,
}
_ORDER = {
    "orderId": lambda v: re.fullmatch(r"[0-9A-Za-z]{8,40}", v) is not None,
    "txnAmt": lambda v: re.fullmatch(r"[1-9]\d{0,11}", v) is not None,
    "backUrl": _is_http_url,
}
_FIELDS: dict[tuple[str, str], dict[str, Callable[[str], bool]]] = {
    (wire.TXN_CONSUME, "01"): {
        **_ORDER,
        "bizType": lambda v: v == "000201",
        "currencyCode": lambda v: v == wire.CURRENCY_CNY,
        "payTimeout": lambda v: re.fullmatch(r"20\d{12}", v) is not None,
    },
    (wire.TXN_REFUND, "00"): {
        **_ORDER,
        "bizType": lambda v: v == "000201",
        "origQryId": lambda v: re.fullmatch(r"\d{21}", v) is not None,
    },
    (wire.TXN_QUERY, "00"): {"orderId": _ORDER["orderId"], "bizType": lambda v: v == "000000"},
    (wire.TXN_FILE_TRANSFER, "01"): {
        "bizType": lambda v: v == "000000",
        "fileType": lambda v: v == "00",
        "settleDate": lambda v: re.fullmatch(r"(0[1-9]|1[0-2])[0-3]\d", v) is not None,
    },
}


def _authenticate(fields: dict[str, str], allowed: set[tuple[str, str]]) -> dict[str, str]:
    """The verified request without certId and signature, checked in the gateway's order."""
    kind = (fields.get("txnType", ""), fields.get("txnSubType", ""))
    if kind not in allowed:
        raise _Refused(wire.FORMAT_ERROR, "txnType/txnSubType not served at this address")
    certificate_pem = _config()["merchant_certificates"].get(fields.get("merId", ""))
    if certificate_pem is None:
        raise _Refused(wire.MERCHANT_STATUS, "unknown merId")
    certificate = wire.load_certificate(certificate_pem)
    if fields.get("certId") != wire.cert_id(certificate):
        raise _Refused(wire.BAD_SIGNATURE, "certId is not the merchant's signing certificate")
    if fields.get("signMethod") != wire.SIGN_METHOD or not wire.verify(fields, certificate):
        raise _Refused(wire.BAD_SIGNATURE)
    checks = {**_COMMON, **_FIELDS[kind]}
    invalid = [name for name, valid in checks.items() if not valid(fields.get(name, ""))]
    if invalid:
        raise _Refused(wire.MISSING_ELEMENT, f"missing or malformed: {', '.join(invalid)}")
    return {name: value for name, value in fields.items() if name not in ("certId", "signature")}


def _answer(request: dict[str, str], code: str, message: str, **extra: str) -> HttpResponse:
    echoed = ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType")
    fields = {name: request[name] for name in (*echoed, "accessType", "merId") if name in request}
    fields |= {name: request[name] for name in ("orderId", "txnTime", "txnAmt") if name in request}
    fields |= {"respCode": code, "respMsg": message, **extra}
    body = wire.format_answer(_sign(fields))
    return HttpResponse(body.encode("utf-8"), content_type="text/plain; charset=UTF-8")


def _served(
    allowed: set[tuple[str, str]], handler: Callable[[dict[str, str]], HttpResponse]
) -> Callable[[HttpRequest], HttpResponse]:
    @csrf_exempt
    @require_POST
    def view(request: HttpRequest) -> HttpResponse:
        fields = request.POST.dict()
        try:
            return handler(_authenticate(fields, allowed))
        except _Refused as refusal:
            return _answer(fields, refusal.code, refusal.message)

    return view


# -- back-end transactions ----------------------------------------------------------------


def _refund(request: dict[str, str]) -> HttpResponse:
    now = _now()
    with _lock:
        if _order_used(request["merId"], request["orderId"]):
            raise _Refused(wire.DUPLICATE)
        original = _by_query_id(request["origQryId"])
        if (
            original is None
            or original.request["merId"] != request["merId"]
            or original.request["txnType"] != wire.TXN_CONSUME
            or original.status != "succeeded"
        ):
            raise _Refused(wire.ORIGINAL_INVALID)
        if int(request["txnAmt"]) > original.amount - original.refunded:
            raise _Refused(wire.AMOUNT_EXCEEDED, "more than the consume has left to refund")
        refund = _Txn(request=request)
        _complete(refund, succeeded=True, now=now)
        _txns[refund.key] = refund
        original.refunded += refund.amount
        _save(original)
    _notifier.start(refund.key, refund)
    return _answer(request, wire.SUCCESS, wire.resp_msg(wire.SUCCESS), queryId=refund.query_id)


def _query(request: dict[str, str]) -> HttpResponse:
    now = _now()
    with _lock:
        txn = _txns.get(_key(request["merId"], request["orderId"], request["txnTime"]))
        if txn is None:
            raise _Refused(wire.NOT_FOUND)
        code, message = _result_code(txn, now)
        extra = {
            "origRespCode": code,
            "origRespMsg": message,
            "queryId": txn.query_id,
            "traceNo": txn.trace_no,
            "traceTime": txn.trace_time,
            "settleDate": txn.settle_date.strftime("%m%d") if txn.settle_date else "",
            "origQryId": txn.request.get("origQryId", ""),
        }
    return _answer(txn.request, wire.SUCCESS, wire.resp_msg(wire.SUCCESS), **extra)


def _file(request: dict[str, str]) -> HttpResponse:
    settle_date = _settle_date_for(request["settleDate"], _now())
    with _lock:
        rows = _file_rows(request["merId"], settle_date)
    if rows.empty:
        raise _Refused(wire.NO_FILE)
    content = render_statement(rows, mer_id=request["merId"], settle_date=settle_date)
    content = faults.damage_file("unionpay", content)
    return _answer(
        request,
        wire.SUCCESS,
        wire.resp_msg(wire.SUCCESS),
        settleDate=request["settleDate"],
        fileType="00",
        fileName=wire.file_name(request["merId"], settle_date),
        fileContent=wire.file_content(content),
    )


back_trans = _served({(wire.TXN_REFUND, "00")}, _refund)
query_trans = _served({(wire.TXN_QUERY, "00")}, _query)
file_trans = _served({(wire.TXN_FILE_TRANSFER, "01")}, _file)


def _complete(txn: _Txn, *, succeeded: bool, now: datetime) -> None:
    """Settle a transaction at UnionPay: numbers, times and the settlement date. The
    caller stores it."""
    txn.status = "succeeded" if succeeded else "failed"
    txn.query_id = f"{now:%Y%m%d%H%M%S}{secrets.randbelow(10**7):07d}"
    txn.trace_no = f"{secrets.randbelow(10**6):06d}"
    txn.trace_time = f"{now:%m%d%H%M%S}"
    txn.completed_at = now
    txn.settle_date = (now + SETTLEMENT_CUTOFF).date()


def _result_code(txn: _Txn, now: datetime) -> tuple[str, str]:
    """The transaction's respCode and respMsg as notified, or as origRespCode when queried."""
    if txn.status == "succeeded":
        code, detail = wire.SUCCESS, ""
    elif txn.status == "failed":
        code, detail = wire.FAILED, "发卡行拒绝"
    elif _expired(txn, now):
        code, detail = wire.FAILED, "已超过支付时限"
    else:
        code, detail = wire.ACCEPTED, ""
    return code, wire.resp_msg(code, detail)


def _expired(txn: _Txn, now: datetime) -> bool:
    timeout = datetime.strptime(txn.request["payTimeout"], "%Y%m%d%H%M%S")
    return now >= timeout.replace(tzinfo=BEIJING)


def _settle_date_for(mmdd: str, now: datetime) -> date:
    """The latest settlement date with this month and day, not after today's."""
    today = (now + SETTLEMENT_CUTOFF).date()
    for year in (today.year, today.year - 1):
        try:
            candidate = date(year, int(mmdd[:2]), int(mmdd[2:]))
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise _Refused(wire.NO_FILE)


# -- the cashier (front transaction) ------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def front_trans(request: HttpRequest) -> HttpResponse:
    """The payer's page at the signed consume form's address.

    GET (or the merchant's auto-submitted POST form) shows the cashier; POST with the
    page's ``result`` button, or JSON ``{"result": "success" | "failed", "notify": bool}``
    to the same URL, settles the consume.
    """
    wants_json = request.content_type == "application/json"
    fields = {**request.GET.dict(), **({} if wants_json else request.POST.dict())}
    choice = common.cashier_choice(request, wants_json, fields.pop("result", None))
    try:
        form = _authenticate(fields, {(wire.TXN_CONSUME, "01")})
        txn = _open_consume(form, request.get_full_path() if request.GET else "")
    except _Refused as refusal:
        return _refusal_page(refusal, wants_json)
    if choice is None:
        with _lock:
            return HttpResponse(_cashier_page(request, txn, fields))
    result, notify = choice
    with _lock:
        code, _ = _result_code(txn, _now())
        if code != wire.ACCEPTED:
            return JsonResponse(
                {"respCode": code, "message": "the order can no longer be paid"}, status=409
            )
        _complete(txn, succeeded=result == "success", now=_now())
        _save(txn)
        answer = {"orderId": txn.request["orderId"], "queryId": txn.query_id, "status": txn.status}
        page = _cashier_page(request, txn, fields)
    if notify:
        _notifier.start(txn.key, txn)
    return JsonResponse(answer) if wants_json else HttpResponse(page)


def _open_consume(form: dict[str, str], pay_url: str) -> _Txn:
    """The consume this form names, registered the first time the gateway sees it."""
    with _lock:
        txn = _txns.get(_key(form["merId"], form["orderId"], form["txnTime"]))
        if txn is None:
            if _order_used(form["merId"], form["orderId"]):
                raise _Refused(wire.DUPLICATE, "orderId already used")
            txn = _Txn(request=form, pay_url=pay_url)
            _txns[txn.key] = txn
        elif txn.request != form:
            raise _Refused(wire.DUPLICATE, "the order has other elements")
        return txn


def _refusal_page(refusal: _Refused, wants_json: bool) -> HttpResponse:
    if wants_json:
        return JsonResponse({"respCode": refusal.code, "message": refusal.message}, status=400)
    return HttpResponse(
        format_html(
            '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>{0}</title>'
            "<h1>{0}</h1><p>{1} {2}</p></html>",
            "银联在线支付（沙箱）",
            refusal.code,
            refusal.message,
        )
    )


_STATUS_NAMES = {"open": "待支付", "succeeded": "支付成功", "failed": "支付失败"}


def _cashier_page(request: HttpRequest, txn: _Txn, fields: dict[str, str]) -> str:
    """Hold the lock."""
    status = (
        "已超时" if txn.status == "open" and _expired(txn, _now()) else _STATUS_NAMES[txn.status]
    )
    if txn.status == "open" and status != "已超时":
        hidden = format_html_join(
            "", '<input type="hidden" name="{}" value="{}">', sorted(fields.items())
        )
        actions = common.pay_form(request.path, hidden=hidden)
    elif txn.request.get("frontUrl"):
        actions = _front_notification(txn)
    else:
        actions = ""
    return common.cashier_page(
        "银联在线支付 收银台（沙箱）",
        [
            ("商户代码", txn.request["merId"]),
            ("订单号", txn.request["orderId"]),
            ("金额", f"¥{common.yuan(txn.amount)}"),
            ("状态", status),
        ],
        actions,
    )


def _front_notification(txn: _Txn) -> str:
    """The payer's way back: the signed notification fields POSTed by the browser to
    frontUrl, as the gateway's page submits them. Hold the lock."""
    fields = format_html_join(
        "", '<input type="hidden" name="{}" value="{}">', sorted(_sign(_notification(txn)).items())
    )
    return format_html(
        '<form id="front" method="post" action="{}">{}<button>返回商户</button></form>'
        "<script>document.getElementById('front').submit()</script>",
        txn.request["frontUrl"],
        fields,
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The sandbox's front page: every consume the gateway has seen, newest first."""
    with _lock:
        consumes = [txn for txn in _txns.values() if txn.request["txnType"] == wire.TXN_CONSUME]
        consumes.reverse()
        rows = [
            (
                txn.request["merId"],
                txn.request["orderId"],
                f"¥{common.yuan(txn.amount)}",
                _STATUS_NAMES[txn.status],
                txn.pay_url or request.path,
            )
            for txn in consumes
        ]
    return common.trades_page(
        "银联在线网关（沙箱）交易", ("商户代码", "订单号", "金额", "状态"), rows, empty="暂无交易"
    )


# -- back-end notifications ---------------------------------------------------------------


_notifier = common.Notifier(
    "unionpay-notify",
    _txns,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting="SANDBOX_UNIONPAY",
    logs=lambda txn: [txn],
    send=lambda key, txn, log, trigger: _deliver(txn, trigger=trigger),
)


def _deliver(txn: _Txn, *, trigger: str) -> tuple[dict[str, Any], str]:
    """POST the transaction's notification once; return the logged try and the answer body."""
    now = _now()
    with _lock:
        notification = _sign(_notification(txn))
        back_url = txn.request["backUrl"]
    status_code, body, error = common.post_notification(
        back_url,
        data=notification,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
    )
    attempt = common.log_delivery(
        _lock,
        txn,
        at=now.isoformat(timespec="milliseconds"),
        trigger=trigger,
        status_code=status_code,
        error=error,
        acknowledged=status_code == 200,
    )
    _save(txn)
    return attempt, body


def _notification(txn: _Txn) -> dict[str, str]:
    """Hold the lock."""
    code, message = _result_code(txn, _now())
    request = txn.request
    fields = {name: request[name] for name in ("version", "encoding", "signMethod", "txnType")}
    fields |= {name: request[name] for name in ("txnSubType", "bizType", "accessType", "merId")}
    fields |= {
        "orderId": request["orderId"],
        "txnTime": request["txnTime"],
        "txnAmt": request["txnAmt"],
        "currencyCode": wire.CURRENCY_CNY,
        "queryId": txn.query_id,
        "traceNo": txn.trace_no,
        "traceTime": txn.trace_time,
        "settleDate": txn.settle_date.strftime("%m%d") if txn.settle_date else "",
        "settleAmt": request["txnAmt"],
        "settleCurrencyCode": wire.CURRENCY_CNY,
        "origQryId": request.get("origQryId", ""),
        "respCode": code,
        "respMsg": message,
    }
    return fields


# -- the reconciliation file (fileType 00) ------------------------------------------------

FEE_RATE_BPS = 50  # 商户手续费: 0.50% of each consume, given back on refunds
_FILE_EXTRA_COLUMNS = (
    "order_id",
    "trace_no",
    "original_trace_no",
    "original_trace_time",
    "original_provider_ref",
    "channel_type",
)


def _file_rows(mer_id: str, settle_date: date) -> pd.DataFrame:
    """The merchant's completed consumes and refunds of a settlement date, in time order.

    A refund gives back the fee on its amount, never more than the consume's fee left.
    Hold the lock.
    """
    records = []
    for txn in _txns.values():
        request = txn.request
        if (request["merId"], txn.status, txn.settle_date) != (mer_id, "succeeded", settle_date):
            continue
        record = {
            "ref": request["orderId"],
            "provider_ref": txn.query_id,
            "amount": txn.amount,
            "occurred_at": txn.completed_at,
            "order_id": request["orderId"],
            "trace_no": txn.trace_no,
            "channel_type": request["channelType"],
        }
        if request["txnType"] == wire.TXN_CONSUME:
            record |= {"kind": "payment", "fee": common.fee(txn.amount, FEE_RATE_BPS)}
        else:
            original = _by_query_id(request["origQryId"])
            assert original is not None  # a refund is only made of a consume the gateway has
            record |= {
                "kind": "refund",
                "fee": -_fee_returned(original, txn),
                "original_trace_no": original.trace_no,
                "original_trace_time": original.trace_time,
                "original_provider_ref": original.query_id,
            }
        records.append(record)
    return common.bill_frame(faults.billed("unionpay", records), _FILE_EXTRA_COLUMNS)


def _fee_returned(consume: _Txn, refund: _Txn) -> int:
    """The fee a refund gives back: its own, up to what earlier refunds left; hold the lock."""
    refunds = sorted(
        (
            txn
            for txn in _txns.values()
            if txn.request.get("origQryId") == consume.query_id and txn.status == "succeeded"
        ),
        key=lambda txn: txn.completed_at,
    )
    given_back = common.fees_given_back(
        consume.amount, (txn.amount for txn in refunds), FEE_RATE_BPS
    )
    return next((fee for txn, fee in zip(refunds, given_back, strict=True) if txn is refund), 0)


def render_statement(
    rows: pd.DataFrame,
    *,
    mer_id: str = "777290058110048",
    settle_date: date | None = None,
) -> bytes:
    """UnionPay's reconciliation zip for a frame of bill lines (common.BILL_LINE_COLUMNS):
    the ZM file alone.

    One fixed-width record per row, in the frame's order (``line_no`` is not read). The
    orderId is the ref as the service makes orderIds (``pay_ab12`` → ``PAYab12``).
    Columns beyond the canonical ones fill what the frame does not hold: ``order_id``
    (written as it is), ``trace_no`` (the last six characters of provider_ref when
    absent), ``channel_type`` (07), and for refunds ``original_provider_ref``,
    ``original_trace_no`` and ``original_trace_time``. ``settle_date`` defaults to the
    settlement date of the last row (the day turns at 23:00 Beijing time). Built column
    by column, never line by line.
    """
    bill = common.bill_lines(rows)
    amount, fees, is_refund, either = bill.amount, bill.fee, bill.is_refund, bill.either
    beijing = common.beijing_seconds(rows["occurred_at"])
    if settle_date is None:
        last = beijing[-1:] + np.timedelta64(SETTLEMENT_CUTOFF)
        settle_date = last.astype("datetime64[D]").item() if len(last) else date(2000, 1, 1)
    provider_ref = common.text_column(rows, "provider_ref")
    stamp = pa.array(beijing, pa.timestamp("s")).cast(pa.string())  # yyyy-MM-dd HH:mm:ss
    net = np.where(is_refund, -amount, amount) - fees
    codes = wire.ZM_TRANSACTION_CODES
    values: dict[str, pa.Array | str] = {
        "交易代码": either(codes[wire.TXN_REFUND], codes[wire.TXN_CONSUME]),
        "代理机构标识码": ACQUIRER,
        "发送机构标识码": ACQUIRER,
        "系统跟踪号": common.text_column(
            rows, "trace_no", pc.utf8_slice_codeunits(provider_ref, -6)
        ),
        "交易传输时间": common.joined(
            *(pc.utf8_slice_codeunits(stamp, at, at + 2) for at in (5, 8, 11, 14, 17))
        ),
        "主账号": MASKED_CARD,
        "交易金额": _digits(amount, 12),
        "商户类别": "9399",
        "终端类型": common.text_column(rows, "channel_type", "07"),
        "查询流水号": provider_ref,
        "商户订单号": common.text_column(
            rows, "order_id", _order_ids(common.text_column(rows, "ref"))
        ),
        "支付卡类型": "01",
        "原始交易的系统跟踪号": either(common.text_column(rows, "original_trace_no"), ""),
        "原始交易日期时间": either(common.text_column(rows, "original_trace_time"), ""),
        "商户手续费": common.joined(pc.if_else(pa.array(fees < 0), "C", "D"), _digits(fees, 12)),
        "结算金额": common.joined(either("D", "C"), _digits(amount, 12)),
        "交易类型": either(wire.TXN_REFUND, wire.TXN_CONSUME),
        "交易子类": either("00", "01"),
        "业务类型": "000201",
        "原交易查询流水号": either(common.text_column(rows, "original_provider_ref"), ""),
        "商户代码": mer_id,
        "清算净额": common.joined(pc.if_else(pa.array(net < 0), "D", "C"), _digits(net, 12)),
    }
    fields = [_padded(values.get(name, ""), name, width) for name, width in wire.ZM_FIELDS]
    text = bytes(common.lines_of(fields, " ", end="\r\n"))
    if not text.isascii():
        raise ValueError("a ZM record holds only ASCII here: its widths are bytes")
    buffer = io.BytesIO()
    # The fastest DEFLATE level: big files are written for benchmarks, and any level reads.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr(wire.zm_file_name(mer_id, settle_date), text)
    return buffer.getvalue()


def _order_ids(refs: pa.Array | str) -> pa.Array:
    """The orderId of every ref: the service's ``pay_ab12`` is ``PAYab12`` (its lowercase
    prefix upper-cased, the underscore dropped), any other ref is taken as an orderId;
    refuses one that is not 8 to 32 letters and digits."""
    parts = pc.extract_regex(refs, r"^(?P<prefix>[a-z]+)_(?P<body>[a-z0-9]+)$")
    mapped = common.joined(pc.utf8_upper(parts.field("prefix")), parts.field("body"))
    ids = pc.if_else(parts.is_valid(), mapped, refs)
    if pc.any(pc.invert(pc.match_substring_regex(ids, r"^[A-Za-z0-9]{8,32}$"))).as_py():
        raise ValueError("a ref does not make a UnionPay orderId of 8 to 32 letters and digits")
    return ids


def _digits(fen: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(np.abs(fen)), pa.string()), width, "0")


def _padded(value: pa.Array | str, name: str, width: int) -> pa.Array | str:
    """A field left-aligned and padded with spaces to its width; longer values are refused."""
    if isinstance(value, str):
        if len(value) > width:
            raise ValueError(f"{name} {value!r} is wider than {width}")
        return value.ljust(width)
    if len(value) and pc.max(pc.utf8_length(value)).as_py() > width:
        raise ValueError(f"a {name} is wider than {width}")
    return pc.utf8_rpad(value, width, " ")


# -- controls for tests and operators ------------------------------------------------------


def _latest(order_id: str) -> _Txn:
    with _lock:
        found = [txn for txn in _txns.values() if txn.request["orderId"] == order_id]
    if not found:
        raise Http404("no such order")
    return found[-1]


@csrf_exempt
@require_POST
def control_notify(request: HttpRequest, order_id: str) -> JsonResponse:
    """Send the order's back-end notification once more, now; answer what the service said."""
    txn = _latest(order_id)
    if txn.status == "open":
        return common.no_notification("the order has not completed yet")
    return common.control_answer(request, lambda: _deliver(txn, trigger="control"))


@require_GET
def control_deliveries(request: HttpRequest, order_id: str) -> JsonResponse:
    txn = _latest(order_id)
    with _lock:
        answer = {"queryId": txn.query_id, "deliveries": list(txn.deliveries)}
    return JsonResponse({"orderId": order_id, **answer})


app_name = "unionpay_sandbox"
urlpatterns = [
    path("", index, name="index"),
    path("gateway/api/frontTransReq.do", front_trans, name="front-trans"),
    path("gateway/api/backTransReq.do", back_trans, name="back-trans"),
    path("gateway/api/queryTrans.do", query_trans, name="query-trans"),
    path("gateway/api/fileTransReq.do", file_trans, name="file-trans"),
    path("_control/trades/<str:order_id>/notify", control_notify, name="control-notify"),
    path(
        "_control/trades/<str:order_id>/deliveries", control_deliveries, name="control-deliveries"
    ),
]
