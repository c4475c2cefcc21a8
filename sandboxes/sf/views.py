"""A sandbox of the SF Express open platform: SF's side of the protocol (wire.py).

It checks each request's partner, timestamp and msgDigest as SF does, keeps orders and
their routes (sandboxes.state stores), answers order create / cancel / result queries and
route queries, and serves a freight bill per date. Tests and operators drive a waybill
through its life with the ``_control/`` endpoints: each scan is pushed to the partner's
push URL (the one registered through ``_control/``, else the default of
``SANDBOX_SF_EXPRESS["push_urls"]``) as an SF route push, retried until acknowledged
(sped up by ``SANDBOX_SF_EXPRESS["time_scale"]``); a replay pushes the routes so far
again, duplicated and out of order when told to. See docs/sf.md.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandboxes import common, faults
from sandboxes.sf import wire
from sandboxes.state import Store

SETTING = "SANDBOX_SF_EXPRESS"
MAX_CLOCK_SKEW = timedelta(minutes=10)
# Seconds between one push try and the next, after the first try.
RETRY_DELAYS = (60, 300, 900, 1800, 3600)
FREIGHT_FEN = 2300  # first kilogram, standard express
WEIGHT_KG = "1.0"
# The sandbox's business error codes (errorCode in apiResultData).
DUPLICATE_ORDER = "8016"
NO_SUCH_ORDER = "8024"
ALREADY_PICKED_UP = "8037"
BAD_REQUEST = "1010"
OUT_OF_AREA = "8040"
# In a default push URL (SANDBOX_SF_EXPRESS["push_urls"]), replaced by SERVICE_BASE_URL.
SERVICE_PLACEHOLDER = "{service}"


@dataclass
class _Push:
    """One route push: where it goes (none without a push URL), the routes it carries, its
    tries so far and whether one was acknowledged."""

    url: str = ""
    routes: list[dict[str, str]] = field(default_factory=list)
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Order:
    partner_id: str
    order_id: str
    waybill_no: str
    booked_on: date
    routes: list[dict[str, str]] = field(default_factory=list)
    cancelled: bool = False

    @property
    def picked_up(self) -> bool:
        """Any scan at all means SF holds the parcel."""
        return bool(self.routes)

    def encode(self) -> dict[str, Any]:
        return {**asdict(self), "booked_on": self.booked_on.isoformat()}

    @classmethod
    def decode(cls, record: dict[str, Any]) -> _Order:
        return cls(**{**record, "booked_on": date.fromisoformat(record["booked_on"])})


_lock = threading.Lock()
_orders: Store[_Order] = Store("sf-orders", encode=_Order.encode, decode=_Order.decode)
_push_urls: Store[str] = Store("sf-push-urls")  # partnerID -> its registered push address
_refusals: Store[int] = Store("sf-refusals")  # partnerID -> how many next orders are refused
_pushes: Store[list[_Push]] = Store(  # waybill -> its pushes
    "sf-pushes",
    encode=lambda pushes: [asdict(push) for push in pushes],
    decode=lambda records: [_Push(**record) for record in records],
)


class _Refused(Exception):
    """A request refused at the API level (apiResultCode) or the business level."""

    def __init__(self, code: str, message: str, *, api_code: str = wire.API_OK) -> None:
        super().__init__(message)
        self.code, self.message, self.api_code = code, message, api_code


def _now() -> datetime:
    return datetime.now(wire.BEIJING)


def _check_word(partner_id: str) -> str | None:
    return getattr(settings, SETTING)["partners"].get(partner_id)


def _authenticate(partner_id: str, signed: str, timestamp: str, digest: str) -> None:
    check_word = _check_word(partner_id)
    if check_word is None:
        raise _Refused("", "无对应服务权限", api_code=wire.API_NO_PERMISSION)
    if not timestamp.isdigit():
        raise _Refused("", "必传参数不可为空", api_code=wire.API_MISSING)
    sent = datetime.fromtimestamp(int(timestamp) / 1000, wire.BEIJING)
    if abs(_now() - sent) > MAX_CLOCK_SKEW:
        raise _Refused("", "请求时效已过期", api_code=wire.API_EXPIRED)
    expected = wire.msg_digest(signed, timestamp, check_word)
    if not hmac.compare_digest(expected.encode(), digest.encode()):
        raise _Refused("", "数字签名无效", api_code=wire.API_BAD_DIGEST)


# -- the API ----------------------------------------------------------------------------


@csrf_exempt
@require_POST
def service(request: HttpRequest) -> JsonResponse:
    form = request.POST
    request_id = form.get("requestID", "")
    handler = _HANDLERS.get(form.get("serviceCode", ""))
    try:
        if not request_id or handler is None:
            raise _Refused("", "必传参数不可为空", api_code=wire.API_MISSING)
        partner_id, msg_data = form.get("partnerID", ""), form.get("msgData", "")
        _authenticate(partner_id, msg_data, form.get("timestamp", ""), form.get("msgDigest", ""))
        msg = json.loads(msg_data)
        if not isinstance(msg, dict):
            raise _Refused(BAD_REQUEST, "msgData 不是 JSON 对象")
        result = wire.succeeded(handler(partner_id, msg))
    except ValueError:
        result = wire.failed(BAD_REQUEST, "msgData 不是 JSON")
    except _Refused as refused:
        if refused.api_code != wire.API_OK:
            return _answer(wire.api_answer(request_id, refused.api_code, refused.message, None))
        result = wire.failed(refused.code, refused.message)
    return _answer(wire.api_answer(request_id, wire.API_OK, "", result))


def _answer(body: dict[str, Any]) -> JsonResponse:
    return JsonResponse(body, json_dumps_params={"ensure_ascii": False})


def _create(partner_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    order_id = msg.get("orderId")
    contacts = msg.get("contactInfoList")
    if not isinstance(order_id, str) or not order_id or not isinstance(contacts, list):
        raise _Refused(BAD_REQUEST, "orderId 与 contactInfoList 必填")
    with _lock:
        if order_id in _orders:
            raise _Refused(DUPLICATE_ORDER, "重复下单")
        if _refusals.get(partner_id):
            _refusals[partner_id] -= 1
            raise _Refused(OUT_OF_AREA, "收件地址不在顺丰收派范围内")
        waybill_no = "SF" + "".join(secrets.choice("0123456789") for _ in range(13))
        _orders[order_id] = _Order(partner_id, order_id, waybill_no, _now().date())
    return _order_result(order_id, waybill_no)


def _order_result(order_id: str, waybill_no: str) -> dict[str, Any]:
    """The msgData of an order create and of an order result query."""
    return {
        "orderId": order_id,
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": waybill_no}],
        "filterResult": 2,  # 2: within SF's delivery area
    }


def _update(partner_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    if msg.get("dealType") != wire.CANCEL:
        raise _Refused(BAD_REQUEST, "仅支持 dealType=2 (取消)")
    with _lock:
        order = _partner_order(partner_id, str(msg.get("orderId", "")))
        if order.picked_up:
            raise _Refused(ALREADY_PICKED_UP, "订单已揽收，不可取消")
        order.cancelled = True
        _orders[order.order_id] = order
    return {"orderId": order.order_id, "resStatus": 2}


def _search_order(partner_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    if str(msg.get("searchType", wire.FORWARD_ORDER)) != wire.FORWARD_ORDER:
        raise _Refused(BAD_REQUEST, "仅支持 searchType=1 (正向单)")
    with _lock:
        order = _partner_order(partner_id, str(msg.get("orderId", "")))
        return _order_result(order.order_id, order.waybill_no)


def _search(partner_id: str, msg: dict[str, Any]) -> dict[str, Any]:
    numbers = msg.get("trackingNumber")
    if not isinstance(numbers, list):
        raise _Refused(BAD_REQUEST, "trackingNumber 必填")
    with _lock:
        by_waybill = {o.waybill_no: o for o in _orders.values() if o.partner_id == partner_id}
        return {
            "routeResps": [
                {"mailNo": number, "routes": _query_routes(by_waybill[number])}
                for number in numbers
                if number in by_waybill
            ]
        }


def _query_routes(order: _Order) -> list[dict[str, str]]:
    keys = ("acceptAddress", "acceptTime", "remark", "opCode")
    return [{key: route[key] for key in keys} for route in order.routes]


def _partner_order(partner_id: str, order_id: str) -> _Order:
    """The partner's order of that orderId; call with the lock held."""
    order = _orders.get(order_id)
    if order is None or order.partner_id != partner_id:
        raise _Refused(NO_SUCH_ORDER, "订单不存在")
    return order


_HANDLERS: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
    wire.CREATE_ORDER: _create,
    wire.UPDATE_ORDER: _update,
    wire.SEARCH_ROUTES: _search,
    wire.SEARCH_ORDER: _search_order,
}


# -- the freight bill -------------------------------------------------------------------


@require_GET
def bill(request: HttpRequest, day: str) -> HttpResponse:
    try:
        bill_date = date.fromisoformat(day)
        partner_id = request.GET.get("partnerID", "")
        digest = request.GET.get("msgDigest", "")
        _authenticate(partner_id, day, request.GET.get("timestamp", ""), digest)
    except (ValueError, _Refused):
        return HttpResponse(status=403)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(wire.BILL_COLUMNS)
    with _lock:
        for order in _orders.values():
            billed = order.partner_id == partner_id and order.booked_on == bill_date
            if billed and not order.cancelled:
                row = (order.waybill_no, order.order_id, day, WEIGHT_KG)
                writer.writerow((*row, common.yuan(FREIGHT_FEN)))
    content = faults.damage_file("sf", out.getvalue().encode())
    return HttpResponse(content, content_type="text/csv; charset=utf-8")


# -- driving a waybill and pushing its routes -------------------------------------------


def _waybill_order(waybill_no: str) -> _Order:
    """The order of that waybill; call with the lock held."""
    order = next((o for o in _orders.values() if o.waybill_no == waybill_no), None)
    if order is None:
        raise Http404("no such waybill")
    return order


def _next_accept_time(order: _Order) -> str:
    """Now, or a second after the last scan: a waybill's scans never share a time."""
    moment = _now().replace(microsecond=0, tzinfo=None)
    if order.routes:
        last = datetime.strptime(order.routes[-1]["acceptTime"], wire.TIME_FORMAT)
        moment = max(moment, last + timedelta(seconds=1))
    return moment.strftime(wire.TIME_FORMAT)


@csrf_exempt
@require_POST
def control_push_url(request: HttpRequest, partner_id: str) -> JsonResponse:
    """Register the partner's route push address, as SF's console does."""
    url = common.control_body(request).get("url")
    if _check_word(partner_id) is None or not isinstance(url, str):
        return JsonResponse({"code": "BAD_REQUEST"}, status=400)
    with _lock:
        _push_urls[partner_id] = url
    return JsonResponse({"url": url})


@csrf_exempt
@require_POST
def control_refuse_next_order(request: HttpRequest, partner_id: str) -> JsonResponse:
    """Refuse the partner's next new order as outside SF's delivery area."""
    if _check_word(partner_id) is None:
        return JsonResponse({"code": "BAD_REQUEST"}, status=400)
    with _lock:
        waiting = _refusals[partner_id] = _refusals.get(partner_id, 0) + 1
    return JsonResponse({"refused_orders_to_come": waiting})


@csrf_exempt
@require_POST
def control_scan(request: HttpRequest, waybill_no: str) -> JsonResponse:
    """Scan the waybill: body {"opCode", "remark"?, "acceptAddress"?, "reasonCode"?, "signer"?}.

    ``signer``, on a scan that hands the parcel over only, is written into the remark as
    SF does: "已签收，签收人：张三" (after the given remark, when there is one).
    """
    body = common.control_body(request)
    op_code = str(body.get("opCode", ""))
    if not op_code.isdigit():
        return JsonResponse({"code": "BAD_REQUEST", "message": "opCode"}, status=400)
    remark, signer = str(body.get("remark", "")), body.get("signer")
    if signer is not None:
        if not isinstance(signer, str) or not signer:
            return JsonResponse({"code": "BAD_REQUEST", "message": "signer"}, status=400)
        if op_code not in wire.SIGNED_FOR:
            message = "signer only on a delivered scan"
            return JsonResponse({"code": "BAD_REQUEST", "message": message}, status=400)
        remark = f"{remark or '已签收'}，签收人：{signer}"
    with _lock:
        order = _waybill_order(waybill_no)
        route = {
            "mailno": waybill_no,
            "orderid": order.order_id,
            "id": str(len(order.routes) + 1) + secrets.token_hex(4),
            "acceptTime": _next_accept_time(order),
            "acceptAddress": str(body.get("acceptAddress", "深圳市")),
            "remark": remark,
            "opCode": op_code,
        }
        if body.get("reasonCode"):
            route["reasonCode"] = str(body["reasonCode"])
        order.routes.append(route)
        _orders[order.order_id] = order
    _push_later(order.partner_id, waybill_no, [route])
    return JsonResponse({"route": route})


@csrf_exempt
@require_POST
def control_replay(request: HttpRequest, waybill_no: str) -> JsonResponse:
    """Push the routes so far again; body {"duplicate": bool, "reverse": bool}."""
    body = common.control_body(request)
    with _lock:
        order = _waybill_order(waybill_no)
        routes = list(order.routes)
    if body.get("reverse"):
        routes.reverse()
    if body.get("duplicate"):
        routes = [route for route in routes for _ in range(2)]
    size = wire.MAX_ROUTES_PER_PUSH
    for start in range(0, len(routes), size):
        _push_later(order.partner_id, waybill_no, routes[start : start + size])
    return JsonResponse({"routes": len(routes)})


@require_GET
def control_deliveries(request: HttpRequest, waybill_no: str) -> JsonResponse:
    with _lock:
        pushes = _pushes.get(waybill_no, [])
        return JsonResponse({"pushes": [list(push.deliveries) for push in pushes]})


def _push_url(partner_id: str) -> str | None:
    """The partner's registered push URL, else its default from the settings, else None.

    A default's ``{service}`` becomes SERVICE_BASE_URL as it is now (tests change it).
    """
    registered = _push_urls.get(partner_id)
    if registered is not None:
        return registered
    template = getattr(settings, SETTING).get("push_urls", {}).get(partner_id)
    if not template:
        return None
    return template.replace(SERVICE_PLACEHOLDER, settings.SERVICE_BASE_URL.rstrip("/"))


def _push_later(partner_id: str, waybill_no: str, routes: list[dict[str, str]]) -> None:
    push = _Push(url=_push_url(partner_id) or "", routes=routes)
    with _lock:
        pushes = _pushes.get(waybill_no, [])
        pushes.append(push)
        _pushes[waybill_no] = pushes
    if push.url:
        _notifier.start(waybill_no, push, trigger="route")


def _send(push: _Push, trigger: str) -> None:
    """POST the push once and log the try."""
    status, answer, error = common.post_notification(
        push.url, wire.route_push(push.routes), {"Content-Type": "application/json;charset=UTF-8"}
    )
    common.log_delivery(
        _lock,
        push,
        at=_now().isoformat(),
        trigger=trigger,
        status_code=status,
        error=error,
        acknowledged=status == 200 and wire.push_acknowledged(answer),
    )


_notifier = common.Notifier(
    "sf-push",
    _pushes,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting=SETTING,
    logs=lambda pushes: pushes,
    send=lambda waybill_no, pushes, push, trigger: _send(push, trigger),
)


urlpatterns = [
    path("std/service", service),
    path("bills/<str:day>", bill),
    path("_control/partners/<str:partner_id>/push_url", control_push_url),
    path("_control/partners/<str:partner_id>/refuse_next_order", control_refuse_next_order),
    path("_control/waybills/<str:waybill_no>/scan", control_scan),
    path("_control/waybills/<str:waybill_no>/replay", control_replay),
    path("_control/waybills/<str:waybill_no>/deliveries", control_deliveries),
]
