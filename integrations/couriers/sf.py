"""SF Express open platform (顺丰开放平台, 丰桥): bookings, route queries and route pushes.

The wire protocol is described in docs/sf.md; this module is the only code that knows it.
Every request is a form POST to one endpoint, signed with msgDigest. SF signs no route
push, so a push is authenticated by the secret token in its URL (checked here) and by the
allowed source addresses (checked by the service).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
import time
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote_plus

import requests

from core import money, untrusted
from core.money import BEIJING
from integrations.couriers.base import (
    Address,
    Booking,
    BookingRequest,
    FailureReason,
    FreightLine,
    InvalidPush,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
    PushAck,
    ShipmentStatus,
    TrackingEvent,
)
from integrations.payments import http

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_ROUTES_PER_PUSH = 10

CREATE_ORDER = "EXP_RECE_CREATE_ORDER"
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"
SEARCH_ROUTES = "EXP_RECE_SEARCH_ROUTES"
SEARCH_ORDER = "EXP_RECE_SEARCH_ORDER_RESP"  # 订单结果查询: the outcome of a create by orderId
CANCEL = 2  # EXP_RECE_UPDATE_ORDER's dealType: 1 confirm, 2 cancel
FORWARD_ORDER = "1"  # EXP_RECE_SEARCH_ORDER_RESP's searchType: 1 forward, 2 return order
# SF's errorCode for an orderId it already holds (重复下单): an earlier try got through.
DUPLICATE_ORDER = "8016"

# SF's opCodes, each with the normalised status it means.
STATUS_BY_OP_CODE: dict[str, ShipmentStatus] = {
    **dict.fromkeys(("50", "54", "607"), ShipmentStatus.PICKED_UP),
    **dict.fromkeys(
        ("30", "31", "36", "3036", "10", "11", "105", "106", "302", "304", "123"),
        ShipmentStatus.IN_TRANSIT,
    ),
    **dict.fromkeys(("44", "204"), ShipmentStatus.OUT_FOR_DELIVERY),
    **dict.fromkeys(("125", "678"), ShipmentStatus.READY_FOR_PICKUP),
    **dict.fromkeys(("70", "33"), ShipmentStatus.DELIVERY_FAILED),
    **dict.fromkeys(("77", "66", "15", "17", "18", "72"), ShipmentStatus.ON_HOLD),
    **dict.fromkeys(("80", "8000", "679", "128"), ShipmentStatus.DELIVERED),
    **dict.fromkeys(("99", "648", "631"), ShipmentStatus.RETURNING),
}
# SF has about 150 opCodes; one outside the table is a scan on the way.
UNMAPPED_STATUS = ShipmentStatus.IN_TRANSIT
_REASON_STATUSES = (ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD)
# SF's remarks name the cause of a failed delivery; the first matching phrase wins.
_REASON_PHRASES = (
    ("拒收", FailureReason.REFUSED),
    ("地址", FailureReason.BAD_ADDRESS),
    ("联系不上", FailureReason.UNREACHABLE),
    ("电话", FailureReason.UNREACHABLE),
    ("不在", FailureReason.NOT_HOME),
    ("无人", FailureReason.NOT_HOME),
)
# Who signed for a delivered parcel, as SF's remark names it: "快件已签收，签收人：张三" or
# "签收人是：张三"; a plain "已签收,感谢使用顺丰,期待再次为您服务" names nobody.
_SIGNER = re.compile(r"签收人是?\s*[:：]\s*([^\s,，.。;；!！、【】]+)")
# apiResultCode values after which the call's outcome is unknown and worth retrying.
_RETRYABLE_API_CODES = frozenset({"A1005", "A1099"})
_ROUTE_FIELDS = ("mailno", "acceptTime", "opCode")
# The sandbox's freight bill: a CSV with this header, amounts in yuan.
BILL_COLUMNS = ("waybill_no", "order_no", "date", "weight_kg", "amount_yuan")

_ACCEPTED = PushAck(
    200, json.dumps({"return_code": "0000", "return_msg": "成功"}).encode(), "application/json"
)
_REFUSED = PushAck(
    400, json.dumps({"return_code": "1000", "return_msg": "失败"}).encode(), "application/json"
)


def msg_digest(msg_data: str, timestamp: str, checkword: str) -> str:
    """Base64(MD5(URLEncoder.encode(msgData + timestamp + checkword, "UTF-8"))).

    Java's URLEncoder leaves only letters, digits and ``.-*_`` alone and writes a
    space as ``+``; Python's quote_plus also leaves ``~`` alone, so it is encoded after.
    """
    encoded = quote_plus(msg_data + timestamp + checkword, safe="*").replace("~", "%7E")
    digest = hashlib.md5(encoded.encode()).digest()  # noqa: S324 - SF signs with MD5
    return base64.b64encode(digest).decode()


def status_for(op_code: str) -> ShipmentStatus:
    return STATUS_BY_OP_CODE.get(op_code, UNMAPPED_STATUS)


def reason_for(status: ShipmentStatus, remark: str) -> FailureReason | str:
    if status not in _REASON_STATUSES:
        return ""
    return next(
        (reason for phrase, reason in _REASON_PHRASES if phrase in remark), FailureReason.OTHER
    )


def signer_for(status: ShipmentStatus, remark: str) -> str:
    """Who signed, read from a delivered scan's remark; "" for any other scan or no name."""
    if status is not ShipmentStatus.DELIVERED:
        return ""
    match = _SIGNER.search(remark)
    return match[1] if match else ""


def fen_from_yuan(text: str) -> int:
    """Yuan with up to two decimals as integer fen, without floats: "23.5" -> 2350."""
    try:
        return money.fen_from_yuan(text.strip())
    except ValueError:
        raise ProviderError(f"not an amount in yuan: {text!r}") from None


def route_event(waybill_no: str, route: Mapping[str, Any]) -> TrackingEvent:
    """One SF route (a push's WaybillRoute or a query's routes item) as a tracking event.

    The event id hashes the scan's own fields, so a push and a route query of the same
    scan give the same id (route queries carry no route id).
    """
    op_code = str(route["opCode"])
    remark = str(route.get("remark") or "")
    location = str(route.get("acceptAddress") or "")
    accept_time = str(route["acceptTime"])
    try:
        occurred_at = datetime.strptime(accept_time, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise ProviderError(f"acceptTime {accept_time!r} is not {TIME_FORMAT}") from exc
    fingerprint = "\x1f".join((waybill_no, op_code, accept_time, location, remark))
    status = status_for(op_code)
    return TrackingEvent(
        courier=SfExpressCourier.code,
        waybill_no=waybill_no,
        event_id="sf-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:32],
        code=op_code,
        status=status,
        reason=reason_for(status, remark),
        occurred_at=occurred_at,
        location=location,
        description=remark,
        # SF's routes carry no proof-of-delivery image (docs/sf.md): proof_ref stays "".
        signer=signer_for(status, remark),
        raw=dict(route),
    )


class SfExpressCourier:
    code = "sf"

    def __init__(
        self,
        *,
        base_url: str,
        partner_id: str,
        checkword: str,
        push_token: str,
        monthly_card: str = "",
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.partner_id = partner_id
        self.checkword = checkword
        self.push_token = push_token
        self.monthly_card = monthly_card
        self.timeout = timeout
        self.session = session or requests.Session()

    # -- calls --------------------------------------------------------------------------

    def book(self, request: BookingRequest) -> Booking:
        """Create the order; idempotent by orderId, so safe to retry after an unknown outcome.

        SF refuses a second create of an orderId with 8016, meaning an earlier try got
        through (perhaps unanswered): the existing booking is then fetched and returned.
        """
        try:
            data = self._call(CREATE_ORDER, _order(request, self.monthly_card))
        except ProviderDeclined as declined:
            if declined.code != DUPLICATE_ORDER:
                raise
            return self.find_booking(request.order_no)
        return _booking(CREATE_ORDER, request.order_no, data)

    def find_booking(self, order_no: str) -> Booking:
        """The booking already made for ``order_no`` (EXP_RECE_SEARCH_ORDER_RESP).

        ProviderDeclined (SF's errorCode as code) when SF holds no such order.
        """
        data = self._call(
            SEARCH_ORDER, {"orderId": order_no, "searchType": FORWARD_ORDER, "language": "zh-CN"}
        )
        return _booking(SEARCH_ORDER, order_no, data)

    def cancel(self, order_no: str, waybill_no: str) -> None:
        self._call(
            UPDATE_ORDER,
            {
                "orderId": order_no,
                "dealType": CANCEL,
                "waybillNoInfoList": [{"waybillType": 1, "waybillNo": waybill_no}],
            },
        )

    def track(self, waybill_no: str) -> list[TrackingEvent]:
        data = self._call(
            SEARCH_ROUTES,
            {
                "language": "0",
                "trackingType": "1",
                "methodType": "1",
                "trackingNumber": [waybill_no],
            },
        )
        routes = next(
            (
                r.get("routes") or []
                for r in data.get("routeResps") or []
                if r.get("mailNo") == waybill_no
            ),
            [],
        )
        events = [route_event(waybill_no, route) for route in routes]
        return sorted(events, key=lambda event: event.occurred_at)

    def fetch_freight_bill(self, bill_date: date) -> bytes:
        timestamp = _timestamp()
        day = bill_date.isoformat()
        params = {
            "partnerID": self.partner_id,
            "timestamp": timestamp,
            "msgDigest": msg_digest(day, timestamp, self.checkword),
        }
        url = f"{self.base_url}/bills/{day}"
        response = http.send_answered(
            "freight bill",
            lambda: self.session.get(url, params=params, timeout=self.timeout),
        )
        if response.status_code != 200:
            raise ProviderError(f"freight bill: HTTP {response.status_code}")
        return response.content

    # -- pushes and bills ---------------------------------------------------------------

    def parse_push(
        self, headers: dict[str, str], body: bytes, query: dict[str, str]
    ) -> list[TrackingEvent]:
        if not hmac.compare_digest(query.get("token", "").encode(), self.push_token.encode()):
            raise InvalidPush("the push URL's token is wrong")
        try:
            untrusted.check_size(body)
            routes = untrusted.json_loads(body)["Body"]["WaybillRoute"]
        except untrusted.UntrustedInput as exc:
            raise InvalidPush(f"refused push: {exc}") from exc
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidPush("the push is not an SF route push") from exc
        if not isinstance(routes, list) or not 0 < len(routes) <= MAX_ROUTES_PER_PUSH:
            raise InvalidPush(f"a push carries 1 to {MAX_ROUTES_PER_PUSH} routes")
        return [_pushed_route(route) for route in routes]

    def acknowledge(self, accepted: bool) -> PushAck:
        return _ACCEPTED if accepted else _REFUSED

    def parse_freight_bill(self, content: bytes) -> list[FreightLine]:
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        if not rows or tuple(rows[0]) != BILL_COLUMNS:
            raise ProviderError("the freight bill does not start with its header")
        return [_freight_line(row) for row in rows[1:] if row]

    # -- the wire -----------------------------------------------------------------------

    def _call(self, service_code: str, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one signed request; the answer's msgData, or the error it means."""
        msg_data = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
        timestamp = _timestamp()
        form = {
            "partnerID": self.partner_id,
            "requestID": str(uuid.uuid4()),
            "serviceCode": service_code,
            "timestamp": timestamp,
            "msgData": msg_data,
            "msgDigest": msg_digest(msg_data, timestamp, self.checkword),
        }
        url = f"{self.base_url}/std/service"
        response = http.send_answered(
            service_code, lambda: self.session.post(url, data=form, timeout=self.timeout)
        )
        return _result(service_code, response)


def _timestamp() -> str:
    return str(int(time.time() * 1000))


def _contact(contact_type: int, address: Address) -> dict[str, Any]:
    return {
        "contactType": contact_type,  # 1 sender, 2 recipient
        "contact": address.name,
        "mobile": address.phone,
        "country": "CN",
        "province": address.province,
        "city": address.city,
        "county": address.district,
        "address": address.detail,
    }


def _order(request: BookingRequest, monthly_card: str) -> dict[str, Any]:
    order: dict[str, Any] = {
        "language": "zh-CN",
        "orderId": request.order_no,
        "cargoDetails": [{"name": request.items, "count": 1}],
        "contactInfoList": [_contact(1, request.sender), _contact(2, request.recipient)],
        "expressTypeId": int(request.service_level) if request.service_level.isdigit() else 1,
        "payMethod": 1,
        "isReturnRoutelabel": 1,
    }
    if monthly_card:
        order["monthlyCard"] = monthly_card
    if request.declared_value:
        fen = request.declared_value
        order["serviceList"] = [{"name": "INSURE", "value": money.yuan_text(fen)}]
    if request.pickup_from:
        order["sendStartTm"] = request.pickup_from.astimezone(BEIJING).strftime(TIME_FORMAT)
    return order


def _booking(service_code: str, order_no: str, data: dict[str, Any]) -> Booking:
    """The Booking in a create's or an order search's msgData: its waybillType 1 waybill."""
    waybills = data.get("waybillNoInfoList") or []
    waybill_no = next((w.get("waybillNo") for w in waybills if w.get("waybillType") == 1), "")
    if data.get("orderId") != order_no or not waybill_no:
        raise ProviderError(f"{service_code}: the answer names no waybill for the order")
    return Booking(order_no=order_no, waybill_no=waybill_no, label="")


def _result(service_code: str, response: requests.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError as exc:
        raise ProviderError(f"{service_code}: HTTP {response.status_code}, not JSON") from exc
    api_code = answer.get("apiResultCode") if isinstance(answer, dict) else None
    if api_code in _RETRYABLE_API_CODES:
        raise ProviderUnavailable(f"{service_code}: {api_code}")
    if api_code != "A1000":
        raise ProviderError(f"{service_code}: {api_code} {answer.get('apiErrorMsg', '')}")
    try:
        result = json.loads(answer["apiResultData"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"{service_code}: apiResultData is not JSON") from exc
    if not result.get("success"):
        code = str(result.get("errorCode") or "")
        raise ProviderDeclined(f"{service_code}: {code} {result.get('errorMsg')}", code=code)
    return result.get("msgData") or {}


def _pushed_route(route: object) -> TrackingEvent:
    if not isinstance(route, dict) or any(not route.get(name) for name in _ROUTE_FIELDS):
        raise InvalidPush(f"a WaybillRoute lacks one of {', '.join(_ROUTE_FIELDS)}")
    try:
        return route_event(str(route["mailno"]), route)
    except ProviderError as exc:
        raise InvalidPush(str(exc)) from exc


def _freight_line(row: list[str]) -> FreightLine:
    if len(row) != len(BILL_COLUMNS):
        raise ProviderError("a freight bill line has the wrong number of cells")
    waybill_no, order_no, day, _weight, amount = row
    try:
        bill_date = date.fromisoformat(day)
    except ValueError as exc:
        raise ProviderError(f"a freight bill line's date is {day!r}") from exc
    return FreightLine(
        waybill_no=waybill_no, order_no=order_no, amount=fen_from_yuan(amount), date=bill_date
    )
