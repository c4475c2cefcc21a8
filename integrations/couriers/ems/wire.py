"""EMS's wire format as pure functions: sealed requests, their answers and track pushes.

Every request is a form POST to the open API with an ``apiCode``, the sender number, the
authorisation code, ``msgType``, a timestamp, ``version`` and the business message
``logitcsInterface``, sealed with SM4 together with the sign key (``sealing``). Answers
come in clear, ``retBody`` a JSON text. A track push is a JSON object whose
``logitcsInterface`` holds one sealed trace. See docs/ems.md.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from core import untrusted
from core.money import BEIJING, yuan_text
from integrations.couriers.base import (
    Address,
    Booking,
    BookingRequest,
    FailureReason,
    PushAck,
    ShipmentStatus,
    TrackingEvent,
)
from integrations.couriers.ems import sealing
from integrations.couriers.ems.codes import (
    FAILURES,
    PUSH_FAILED_CODE,
    REASONS,
    RETRYABLE_CODES,
    STATUSES,
    SUCCESS_CODE,
)
from integrations.couriers.scans import signer_for
from integrations.crypto.errors import CryptoError
from integrations.errors import InvalidPush, ProviderDeclined, ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    import requests

COURIER_CODE = "ems"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MSG_TYPE_JSON = "0"  # msgType: the message is JSON (1 would be XML)
VERSION = "V1.0.0"

_TRACE_FIELDS = ("waybillNo", "opCode", "opName", "opTime", "opOrgName", "opDesc")


# -- times ---------------------------------------------------------------------------------


def beijing_time(moment: datetime) -> str:
    """An aware datetime as EMS writes it: ``2025-06-01 14:30:00`` in Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("EMS times must be timezone-aware")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


# -- requests and answers ------------------------------------------------------------------


def request_form(
    api_code: str,
    message: dict[str, Any],
    *,
    sender_no: str,
    authorization: str,
    sign_key: str,
    now: datetime,
) -> dict[str, str]:
    """The form of one call, its business message sealed followed by the sign key."""
    content = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return {
        "apiCode": api_code,
        "senderNo": sender_no,
        "authorization": authorization,
        "msgType": MSG_TYPE_JSON,
        "timeStamp": beijing_time(now),
        "version": VERSION,
        "logitcsInterface": sealing.seal(content + sign_key, sealing.sm4_key(sign_key)),
    }


def order_data(request: BookingRequest) -> dict[str, Any]:
    """API 020003's message for a booking."""
    order = {
        "logisticsOrderNo": request.order_no,
        "bizProductNo": request.service_level,
        "sender": _party(request.sender),
        "receiver": _party(request.recipient),
        "cargos": [{"cargoName": request.items}],
        "insuranceAmount": yuan_text(request.declared_value),
        "pushUrl": request.notify_url,
    }
    if request.pickup_from and request.pickup_until:
        order["pickupStartTime"] = beijing_time(request.pickup_from)
        order["pickupEndTime"] = beijing_time(request.pickup_until)
    return order


def _party(address: Address) -> dict[str, str]:
    return {
        "name": address.name,
        "mobile": address.phone,
        "prov": address.province,
        "city": address.city,
        "county": address.district,
        "address": address.detail,
        "postCode": address.region_code,
    }


def read_answer(api_code: str, response: requests.Response) -> dict[str, Any]:
    """The retBody object of a successful answer; a refusal raises ProviderDeclined."""
    try:
        answer = response.json()
    except ValueError as exc:
        raise ProviderError(f"EMS {api_code}: unreadable answer") from exc
    code = answer.get("retCode") if isinstance(answer, dict) else None
    if not _is_text(code):
        raise ProviderError(f"EMS {api_code}: HTTP {response.status_code} without a retCode")
    message = str(answer.get("retMsg", ""))
    if code in RETRYABLE_CODES:
        raise ProviderUnavailable(f"EMS {api_code}: {code} {message}")
    if code != SUCCESS_CODE:
        raise ProviderDeclined(f"EMS {api_code} refused: {message}", code=code)
    try:
        body = json.loads(answer.get("retBody"))
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"EMS {api_code}: the retBody is not JSON text") from exc
    if not isinstance(body, dict):
        raise ProviderError(f"EMS {api_code}: the retBody is not an object")
    return body


def booking(request: BookingRequest, body: dict[str, Any]) -> Booking:
    """The Booking in an order create's retBody."""
    waybill_no = body.get("waybillNo")
    if not _is_text(waybill_no) or body.get("logisticsOrderNo") != request.order_no:
        raise ProviderError("order create answered without a waybillNo for the order")
    return Booking(
        order_no=request.order_no, waybill_no=waybill_no, label=str(body.get("labelUrl", ""))
    )


def tracked_traces(body: dict[str, Any]) -> list[TrackingEvent]:
    """The events of a track query's retBody (``responseItems``), oldest first."""
    items = body.get("responseItems")
    if not isinstance(items, list):
        raise ProviderError("track query: the retBody has no responseItems list")
    try:
        return sorted((trace_event(item) for item in items), key=lambda e: e.occurred_at)
    except ValueError as exc:
        raise ProviderError(f"track query: {exc}") from exc


# -- traces --------------------------------------------------------------------------------


def trace_event(trace: object) -> TrackingEvent:
    """One trace of a push or a track answer's item; raises ValueError."""
    if not isinstance(trace, dict) or not all(_is_text(trace.get(n)) for n in _TRACE_FIELDS):
        raise ValueError(f"a trace lacks one of {', '.join(_TRACE_FIELDS)}")
    status = STATUSES.get(trace["opCode"])
    if status is None:
        raise ValueError(f"unknown opCode {trace['opCode']!r}")
    occurred_at = datetime.strptime(trace["opTime"], TIME_FORMAT).replace(tzinfo=BEIJING)
    return TrackingEvent(
        courier=COURIER_CODE,
        waybill_no=trace["waybillNo"],
        event_id=event_id(trace),
        code=trace["opCode"],
        status=status,
        reason=_reason(status, trace["opDesc"]),
        occurred_at=occurred_at,
        location=trace["opOrgName"],
        description=trace["opDesc"],
        # EMS traces carry no proof-of-delivery image (docs/ems.md): proof_ref stays "".
        signer=signer_for(status, trace["opDesc"]),
        raw=dict(trace),
    )


def event_id(trace: dict[str, Any]) -> str:
    """EMS gives a trace no id of its own: a hash of the fields that make it one event.

    Keep the fields and their order: the ids of the events already stored depend on them
    (those stored before pushes were sealed hashed ``traceNo``, the same waybill number)."""
    key = "\x1f".join(str(trace.get(name, "")) for name in (*_TRACE_FIELDS, "opOrgCode"))
    return f"ems-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


def _reason(status: ShipmentStatus, description: str) -> FailureReason | str:
    if status not in FAILURES:
        return ""
    return next((r for word, r in REASONS if word in description), FailureReason.OTHER)


# -- pushes --------------------------------------------------------------------------------


def read_push(body: bytes, *, key: bytes) -> list[TrackingEvent]:
    """The event of a track push whose trace opens with our key; raise InvalidPush.

    Only the sealing tells a push from a forgery: EMS signs nothing else (docs/ems.md)."""
    try:
        untrusted.check_size(body)
        push = untrusted.json_loads(body)
    except ValueError as exc:
        raise InvalidPush(f"the push is not a JSON object: {exc}") from exc
    sealed = push.get("logitcsInterface") if isinstance(push, dict) else None
    if not _is_text(sealed):
        raise InvalidPush("the push has no logitcsInterface")
    try:
        trace = sealing.unseal(sealed, key)
    except CryptoError as exc:
        raise InvalidPush("the push's logitcsInterface does not open with our key") from exc
    try:
        return [trace_event(untrusted.json_loads(trace))]
    except ValueError as exc:
        raise InvalidPush(str(exc)) from exc


def push_ack(accepted: bool, sender_no: str) -> PushAck:
    """What EMS reads from our answer to a push: ``code`` 00000, or S00001 to push again."""
    code, message = (SUCCESS_CODE, "") if accepted else (PUSH_FAILED_CODE, "push not accepted")
    body = {"code": code, "codeMessage": message, "senderNo": sender_no}
    return PushAck(200 if accepted else 400, json.dumps(body).encode(), "application/json")


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
