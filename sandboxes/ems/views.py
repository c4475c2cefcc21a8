"""A sandbox of the EMS open platform: the platform's side of its protocol (wire.py).

It checks each request's sender, authorisation code and SM4 sealing as the platform
does, keeps bookings (sandboxes.state stores), and serves tracks and a freight bill per
date. Tests and operators drive a waybill through its life with ``_control/`` scans; each
scan is pushed to the booking's pushUrl, sealed, until acknowledged (retries
sped up by ``SANDBOX_EMS["time_scale"]``), and ``_control/.../push`` pushes a waybill's
traces again, duplicated and out of order on request. See docs/ems.md.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import re
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandboxes import common, faults
from sandboxes.ems import wire
from sandboxes.state import Store

RETRY_DELAYS = (15, 60, 300, 1800)  # seconds between push retries, in real time
FREIGHT_FEN = 1800  # the standard parcel rate; insurance adds 1% of the declared value
_ORDER_FIELDS = ("logisticsOrderNo", "bizProductNo", "sender", "receiver", "pushUrl")
_YUAN = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?")
# The operations a scan can record: opCode -> (opName, the opDesc EMS writes by default).
_OP_NAMES = {
    "203": ("收寄", "已收寄"),
    "303": ("揽投配发", "已完成分拣，准备发出"),
    "305": ("揽投发运/封车", "已离开揽投部，发往处理中心"),
    "306": ("封发", "已封发，发往下一站"),
    "389": ("解车", "已到达，正在处理"),
    "912": ("转运", "已交运输，转运中"),
    "954": ("到达处理中心", "已到达处理中心"),
    "989": ("离开处理中心", "已离开处理中心，发往下一站"),
    "702": ("投递", "正在投递，投递员电话已提供"),
    "703": ("待自提", "已到达自提点，请凭取件码领取"),
    "704": ("妥投", "已妥投，本人签收"),
    "705": ("未妥投", "未妥投：收件人无人在家"),
    "706": ("滞留", "滞留：待与收件人联系"),
    "711": ("退回", "已退回寄件人"),
    "712": ("退回妥投", "退件已妥投，寄件人签收"),
    "713": ("丢失/损毁", "邮件丢失或损毁，已启动赔偿"),
}
_HANDED_OVER = "704"  # 妥投: the only scan that names who signed
# Where scans happen: (opOrgName, opOrgProvName, opOrgCity).
_ORGS = (
    ("北京市邮区中心局", "北京市", "北京市"),
    ("北京航空邮件处理中心", "北京市", "北京市"),
    ("上海市邮区中心局", "上海市", "上海市"),
    ("上海浦东揽投部", "上海市", "上海市"),
)


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Outbox:
    """One push: the trace it carries and its tries (a common.DeliveryLog)."""

    trace: dict[str, str] = field(default_factory=dict)
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Shipment:
    sender_no: str
    order: dict[str, Any]
    waybill_no: str
    booked_on: date
    cancelled: bool = False
    traces: list[dict[str, str]] = field(default_factory=list)
    pushes: list[_Outbox] = field(default_factory=list)

    def billed(self, sender_no: str, bill_date: date) -> bool:
        """Whether the sender's bill of the date charges this booking."""
        return self.sender_no == sender_no and self.booked_on == bill_date and not self.cancelled

    def freight(self) -> int:
        return FREIGHT_FEN + _fen(str(self.order.get("insuranceAmount") or "0")) // 100

    def encode(self) -> dict[str, Any]:
        return {**asdict(self), "booked_on": self.booked_on.isoformat()}

    @classmethod
    def decode(cls, record: dict[str, Any]) -> _Shipment:
        return cls(
            **{
                **record,
                "booked_on": date.fromisoformat(record["booked_on"]),
                "pushes": [_Outbox(**outbox) for outbox in record["pushes"]],
            }
        )


_lock = threading.Lock()
_shipments: Store[_Shipment] = Store(  # by waybill number
    "ems-shipments", encode=_Shipment.encode, decode=_Shipment.decode
)
_waybills: Store[str] = Store("ems-waybills")  # "<senderNo>:<logisticsOrderNo>" -> waybill


def _fen(yuan: str) -> int:
    """Yuan with at most two decimals ("123.4") as fen; ValueError for anything else."""
    match = _YUAN.fullmatch(yuan)
    if match is None:
        raise ValueError(f"not an amount in yuan: {yuan!r}")
    return int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))


def _config() -> dict[str, Any]:
    return settings.SANDBOX_EMS


def _now() -> datetime:
    return datetime.now(wire.BEIJING)


def _answer(body: Any) -> JsonResponse:
    return JsonResponse(wire.answer(body))


def _refusal(code: str, message: str) -> JsonResponse:
    return JsonResponse(wire.refusal(code, message))


# -- the open API -----------------------------------------------------------------------


@csrf_exempt
@require_POST
def api_open(request: HttpRequest) -> HttpResponse:
    """One call of the open API: check the caller and the message, then run the apiCode."""
    form = request.POST
    sender = _config()["senders"].get(form.get("senderNo", ""))
    given = form.get("authorization", "")
    if sender is None or not hmac.compare_digest(given.encode(), sender["authorization"].encode()):
        return _refusal("B00001", "senderNo or authorization is not valid")
    try:
        content = wire.open_request(form.get("logitcsInterface", ""), sender["secret"])
    except wire.Unsealed as exc:
        return _refusal("B00002", str(exc))
    handler = _HANDLERS.get(form.get("apiCode", ""))
    if handler is None:
        return _refusal("B00003", "unknown apiCode")
    try:
        message = json.loads(content)
        if not isinstance(message, dict):
            raise _Refused("B00004", "logitcsInterface is not a JSON object")
        return handler(request, form["senderNo"], message)
    except ValueError:
        return _refusal("B00004", "logitcsInterface is not JSON")
    except _Refused as refused:
        return _refusal(refused.code, refused.message)


def _order_create(request: HttpRequest, sender_no: str, order: dict[str, Any]) -> JsonResponse:
    missing = [name for name in _ORDER_FIELDS if not order.get(name)]
    if missing:
        raise _Refused("B00004", f"missing: {', '.join(missing)}")
    try:
        _fen(str(order.get("insuranceAmount") or "0"))
    except ValueError as exc:
        raise _Refused("B00004", "insuranceAmount is yuan with at most two decimals") from exc
    key = f"{sender_no}:{order['logisticsOrderNo']}"
    with _lock:
        waybill_no = _waybills.get(key)
        if waybill_no is None:
            waybill_no = f"11{secrets.randbelow(10**11):011d}"
            _shipments[waybill_no] = _Shipment(sender_no, order, waybill_no, _now().date())
            _waybills[key] = waybill_no
    label = request.build_absolute_uri(f"labels/{waybill_no}")
    return _answer(
        {
            "logisticsOrderNo": order["logisticsOrderNo"],
            "waybillNo": waybill_no,
            "labelUrl": label,
        }
    )


def _order_cancel(request: HttpRequest, sender_no: str, message: dict[str, Any]) -> JsonResponse:
    with _lock:
        shipment = _sender_shipment(sender_no, message.get("waybillNo"))
        if shipment.order["logisticsOrderNo"] != message.get("logisticsOrderNo"):
            raise _Refused("B00005", "the waybill belongs to another order")
        if shipment.traces:
            raise _Refused("B00011", "邮件已收寄，不能取消")
        shipment.cancelled = True
        _shipments[shipment.waybill_no] = shipment
    return _answer({"logisticsOrderNo": message["logisticsOrderNo"], "cancelled": True})


def _track_query(request: HttpRequest, sender_no: str, message: dict[str, Any]) -> JsonResponse:
    with _lock:
        shipment = _sender_shipment(sender_no, message.get("waybillNo"))
        items = [{"traceNo": shipment.waybill_no, **trace} for trace in shipment.traces]
        return _answer({"responseItems": items})


def _freight_bill(request: HttpRequest, sender_no: str, message: dict[str, Any]) -> HttpResponse:
    try:
        bill_date = date.fromisoformat(str(message.get("billDate")))
    except ValueError as exc:
        raise _Refused("B00004", "billDate must be yyyy-MM-dd") from exc
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(wire.BILL_COLUMNS)
    with _lock:
        for shipment in _shipments.values():
            if shipment.billed(sender_no, bill_date):
                order_no = shipment.order["logisticsOrderNo"]
                freight = common.yuan(shipment.freight())
                writer.writerow((shipment.waybill_no, order_no, bill_date, freight))
    content = faults.damage_file("ems", text.getvalue().encode("utf-8"))
    return HttpResponse(content, content_type="text/csv; charset=utf-8")


_HANDLERS = {
    wire.ORDER_CREATE: _order_create,
    wire.ORDER_CANCEL: _order_cancel,
    wire.TRACK_QUERY: _track_query,
    wire.FREIGHT_BILL: _freight_bill,
}


def _sender_shipment(sender_no: str, waybill_no: object) -> _Shipment:
    """The sender's shipment of that waybill; call with the lock held."""
    shipment = _shipments.get(waybill_no) if isinstance(waybill_no, str) else None
    if shipment is None or shipment.sender_no != sender_no:
        raise _Refused("B00006", "no such waybill")
    return shipment


@require_GET
def label(request: HttpRequest, waybill_no: str) -> HttpResponse:
    """A plain-text stand-in for the waybill's label: its number, nothing personal."""
    if waybill_no not in _shipments:
        raise Http404("no such waybill")
    return HttpResponse(f"EMS {waybill_no}\n", content_type="text/plain; charset=utf-8")


# -- pushes -----------------------------------------------------------------------------


def _deliver(shipment: _Shipment, outbox: _Outbox, trigger: str) -> dict:
    """POST the outbox's trace once, sealed with the sender's key, and log the try."""
    key = _config()["senders"][shipment.sender_no]["secret"]
    trace = {**outbox.trace, "orderNo": shipment.order["logisticsOrderNo"]}
    body = wire.trace_push(trace, shipment.sender_no, key)
    status_code, answer, error = common.post_notification(
        shipment.order["pushUrl"], body, {"Content-Type": "application/json;charset=UTF-8"}
    )
    return common.log_delivery(
        _lock,
        outbox,
        at=_now().isoformat(timespec="milliseconds"),
        trigger=trigger,
        status_code=status_code,
        error=error,
        acknowledged=status_code == 200 and wire.push_acknowledged(answer),
    )


_notifier = common.Notifier(
    "ems-push",
    _shipments,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting="SANDBOX_EMS",
    logs=lambda shipment: shipment.pushes,
    send=lambda waybill_no, shipment, outbox, trigger: _deliver(shipment, outbox, trigger),
)


# -- controls for tests and operators ---------------------------------------------------


def _shipment_or_404(waybill_no: str) -> _Shipment:
    shipment = _shipments.get(waybill_no)
    if shipment is None:
        raise Http404("no such waybill")
    return shipment


@csrf_exempt
@require_POST
def control_scan(request: HttpRequest, waybill_no: str) -> JsonResponse:
    """Scan the waybill: ``{"opCode": "203", "opDesc": optional}``; the trace is pushed.

    ``"signer"``, on a 704 (妥投) scan only, is written into opDesc as EMS does:
    "已妥投，签收人：张三" (after the given opDesc, when there is one).
    """
    body = common.control_body(request)
    op_code = body.get("opCode")
    if op_code not in _OP_NAMES:
        return JsonResponse({"error": f"opCode must be one of {', '.join(_OP_NAMES)}"}, status=400)
    op_name, op_desc = _OP_NAMES[op_code]
    op_desc = str(body.get("opDesc") or op_desc)
    signer = body.get("signer")
    if signer is not None:
        if not isinstance(signer, str) or not signer:
            return JsonResponse({"error": "signer is a non-empty string"}, status=400)
        if op_code != _HANDED_OVER:
            return JsonResponse({"error": "signer only on a delivered (704) scan"}, status=400)
        op_desc = f"{body.get('opDesc') or '已妥投'}，签收人：{signer}"
    with _lock:
        shipment = _shipment_or_404(waybill_no)
        if shipment.cancelled:
            return JsonResponse({"error": "the booking is cancelled"}, status=409)
        org = len(shipment.traces) % len(_ORGS)
        org_name, province, city = _ORGS[org]
        trace = {
            "waybillNo": waybill_no,
            "opCode": op_code,
            "opName": op_name,
            "opTime": _now().strftime(wire.TIME_FORMAT),
            "opOrgCode": f"1000{org:02d}",
            "opOrgName": org_name,
            "opOrgProvName": province,
            "opOrgCity": city,
            "opDesc": op_desc,
        }
        shipment.traces.append(trace)
        outbox = _Outbox(trace)
        shipment.pushes.append(outbox)
        _shipments[waybill_no] = shipment
    _notifier.start(waybill_no, outbox)
    return JsonResponse(trace)


@csrf_exempt
@require_POST
def control_push(request: HttpRequest, waybill_no: str) -> JsonResponse:
    """Push every trace again now, ``copies`` times each, newest first if ``reverse``."""
    body = common.control_body(request)
    copies, reverse = body.get("copies", 1), body.get("reverse", False)
    if not isinstance(copies, int) or not 1 <= copies <= 5 or not isinstance(reverse, bool):
        return JsonResponse({"error": "copies is 1 to 5, reverse is a boolean"}, status=400)
    with _lock:
        shipment = _shipment_or_404(waybill_no)
        traces = list(reversed(shipment.traces) if reverse else shipment.traces)
    tries = [
        _deliver(shipment, _Outbox(trace), "control") for trace in traces for _ in range(copies)
    ]
    return JsonResponse({"waybillNo": waybill_no, "deliveries": tries})


@require_GET
def control_deliveries(request: HttpRequest, waybill_no: str) -> JsonResponse:
    with _lock:
        shipment = _shipment_or_404(waybill_no)
        tries = [attempt for outbox in shipment.pushes for attempt in outbox.deliveries]
    return JsonResponse({"waybillNo": waybill_no, "deliveries": tries})


app_name = "ems_sandbox"
urlpatterns = [
    path("api/open", api_open, name="api"),
    path("api/labels/<str:waybill_no>", label, name="label"),
    path("_control/waybills/<str:waybill_no>/scan", control_scan, name="control-scan"),
    path("_control/waybills/<str:waybill_no>/push", control_push, name="control-push"),
    path(
        "_control/waybills/<str:waybill_no>/deliveries",
        control_deliveries,
        name="control-deliveries",
    ),
]
