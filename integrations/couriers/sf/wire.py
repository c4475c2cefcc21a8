"""SF's wire format as pure functions: signed requests, their answers and route pushes.

Every request is a form POST to one endpoint, signed with msgDigest. SF signs no route
push, so a push is authenticated by the secret token in its URL (checked here) and by
the allowed source addresses (checked by the service).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from core import money, untrusted
from core.money import BEIJING
from integrations.couriers.base import (
    Address,
    Booking,
    BookingRequest,
    FailureReason,
    PushAck,
    ShipmentStatus,
    TrackingEvent,
)
from integrations.couriers.scans import signer_for
from integrations.couriers.sf.codes import (
    EXPIRED_API_CODE,
    REASON_PHRASES,
    REASON_STATUSES,
    RETRYABLE_API_CODES,
    STATUS_BY_OP_CODE,
    UNMAPPED_STATUS,
)
from integrations.errors import InvalidPush, ProviderDeclined, ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    import requests

COURIER_CODE = "sf"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_ROUTES_PER_PUSH = 10

_ROUTE_FIELDS = ("mailno", "acceptTime", "opCode")

ACCEPTED = PushAck(
    200, json.dumps({"return_code": "0000", "return_msg": "成功"}).encode(), "application/json"
)
REFUSED = PushAck(
    400, json.dumps({"return_code": "1000", "return_msg": "失败"}).encode(), "application/json"
)


# -- signatures ----------------------------------------------------------------------------


def msg_digest(msg_data: str, timestamp: str, checkword: str) -> str:
    """Base64(MD5(URLEncoder.encode(msgData + timestamp + checkword, "UTF-8"))).

    Java's URLEncoder leaves only letters, digits and ``.-*_`` alone and writes a
    space as ``+``; Python's quote_plus also leaves ``~`` alone, so it is encoded after.
    """
    encoded = quote_plus(msg_data + timestamp + checkword, safe="*").replace("~", "%7E")
    digest = hashlib.md5(encoded.encode()).digest()  # noqa: S324 - SF signs with MD5
    return base64.b64encode(digest).decode()


# -- requests and answers ------------------------------------------------------------------


def request_form(
    service_code: str,
    msg: dict[str, Any],
    *,
    partner_id: str,
    checkword: str,
    timestamp: str,
    request_id: str,
) -> dict[str, str]:
    """The signed form of one call to the service endpoint."""
    msg_data = json.dumps(msg, ensure_ascii=False, separators=(",", ":"))
    return {
        "partnerID": partner_id,
        "requestID": request_id,
        "serviceCode": service_code,
        "timestamp": timestamp,
        "msgData": msg_data,
        "msgDigest": msg_digest(msg_data, timestamp, checkword),
    }


def bill_params(day: str, *, partner_id: str, checkword: str, timestamp: str) -> dict[str, str]:
    """The signed query of a freight bill download for ``day`` (ISO date)."""
    return {
        "partnerID": partner_id,
        "timestamp": timestamp,
        "msgDigest": msg_digest(day, timestamp, checkword),
    }


def order_data(request: BookingRequest, monthly_card: str) -> dict[str, Any]:
    """EXP_RECE_CREATE_ORDER's msgData for a booking."""
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


def read_answer(service_code: str, response: requests.Response) -> dict[str, Any]:
    """The msgData of a call's answer, or the error it means."""
    try:
        answer = response.json()
    except ValueError as exc:
        raise ProviderError(f"{service_code}: HTTP {response.status_code}, not JSON") from exc
    api_code = answer.get("apiResultCode") if isinstance(answer, dict) else None
    if api_code in RETRYABLE_API_CODES:
        raise ProviderUnavailable(f"{service_code}: {api_code}")
    if api_code == EXPIRED_API_CODE:
        raise ProviderUnavailable(
            f"{service_code}: {api_code} {answer.get('apiErrorMsg', '')}: the request came "
            "late, or our clock and SF's differ"
        )
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


def booking(service_code: str, order_no: str, data: dict[str, Any]) -> Booking:
    """The Booking in a create's or an order search's msgData: its waybillType 1 waybill."""
    waybills = data.get("waybillNoInfoList") or []
    waybill_no = next((w.get("waybillNo") for w in waybills if w.get("waybillType") == 1), "")
    if data.get("orderId") != order_no or not waybill_no:
        raise ProviderError(f"{service_code}: the answer names no waybill for the order")
    return Booking(order_no=order_no, waybill_no=waybill_no, label="")


def tracked_routes(waybill_no: str, data: dict[str, Any]) -> list[TrackingEvent]:
    """The waybill's events in an EXP_RECE_SEARCH_ROUTES msgData, oldest first."""
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


# -- routes --------------------------------------------------------------------------------


def status_for(op_code: str) -> ShipmentStatus:
    return STATUS_BY_OP_CODE.get(op_code, UNMAPPED_STATUS)


def reason_for(status: ShipmentStatus, remark: str) -> FailureReason | str:
    if status not in REASON_STATUSES:
        return ""
    return next(
        (reason for phrase, reason in REASON_PHRASES if phrase in remark), FailureReason.OTHER
    )


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
        courier=COURIER_CODE,
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


# -- pushes --------------------------------------------------------------------------------


def read_push(query: Mapping[str, str], body: bytes, *, push_token: str) -> list[TrackingEvent]:
    """The events of a route push whose URL carries our token; raise InvalidPush."""
    if not hmac.compare_digest(query.get("token", "").encode(), push_token.encode()):
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


def _pushed_route(route: object) -> TrackingEvent:
    if not isinstance(route, dict) or any(not route.get(name) for name in _ROUTE_FIELDS):
        raise InvalidPush(f"a WaybillRoute lacks one of {', '.join(_ROUTE_FIELDS)}")
    try:
        return route_event(str(route["mailno"]), route)
    except ProviderError as exc:
        raise InvalidPush(str(exc)) from exc
