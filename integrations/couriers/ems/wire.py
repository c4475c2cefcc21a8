"""EMS's wire format as pure functions: signed requests, their answers and track pushes.

Every request is a form POST to the open API with an ``apiCode``, the sender number,
the authorisation code, a timestamp and the business message ``logitcsInterface``,
signed with ``dataDigest`` = Base64(MD5(logitcsInterface + secret)). Track pushes carry
``logistics_interface`` and ``data_digest`` signed the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

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
from integrations.couriers.ems.codes import (
    FAILURES,
    REASONS,
    RETRYABLE_CODES,
    STATUSES,
    SUCCESS_CODE,
)
from integrations.couriers.scans import signer_for
from integrations.errors import InvalidPush, ProviderDeclined, ProviderError, ProviderUnavailable

if TYPE_CHECKING:
    import requests

COURIER_CODE = "ems"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_TRACE_FIELDS = ("traceNo", "opCode", "opName", "opTime", "opOrgName", "opDesc")

ACCEPTED = PushAck(200, b'{"success":"true","failmailnums":[],"remark":""}', "application/json")
REFUSED = PushAck(400, b'{"success":"false","remark":"push not accepted"}', "application/json")


# -- signatures and times ------------------------------------------------------------------


def digest(content: str, secret: str) -> str:
    """``data_digest``: Base64 of the MD5 of the message followed by the secret (UTF-8)."""
    md5 = hashlib.md5((content + secret).encode("utf-8"), usedforsecurity=False)
    return base64.b64encode(md5.digest()).decode()


def verify_digest(content: str, secret: str, given: str) -> bool:
    return hmac.compare_digest(digest(content, secret).encode(), given.encode())


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
    secret: str,
    now: datetime,
) -> dict[str, str]:
    """The signed form of one call carrying the business message ``message``."""
    content = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return {
        "apiCode": api_code,
        "senderNo": sender_no,
        "authorization": authorization,
        "timeStamp": beijing_time(now),
        "logitcsInterface": content,
        "dataDigest": digest(content, secret),
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
    """The retBody of a successful answer; a refusal raises ProviderDeclined."""
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
    body = answer.get("retBody")
    if not isinstance(body, dict):
        raise ProviderError(f"EMS {api_code}: the answer has no retBody")
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
    """The events of a track query's retBody, oldest first."""
    try:
        return sorted((trace_event(trace) for trace in _traces(body)), key=lambda e: e.occurred_at)
    except ValueError as exc:
        raise ProviderError(f"track query: {exc}") from exc


# -- traces --------------------------------------------------------------------------------


def trace_event(trace: object) -> TrackingEvent:
    """One trace of a push or a track answer; raises ValueError."""
    if not isinstance(trace, dict) or not all(_is_text(trace.get(n)) for n in _TRACE_FIELDS):
        raise ValueError(f"a trace lacks one of {', '.join(_TRACE_FIELDS)}")
    status = STATUSES.get(trace["opCode"])
    if status is None:
        raise ValueError(f"unknown opCode {trace['opCode']!r}")
    occurred_at = datetime.strptime(trace["opTime"], TIME_FORMAT).replace(tzinfo=BEIJING)
    return TrackingEvent(
        courier=COURIER_CODE,
        waybill_no=trace["traceNo"],
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
    """EMS gives a trace no id of its own: a hash of the fields that make it one event."""
    key = "\x1f".join(str(trace.get(name, "")) for name in (*_TRACE_FIELDS, "opOrgCode"))
    return f"ems-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


def _traces(message: object) -> list[object]:
    traces = message.get("traces") if isinstance(message, dict) else None
    if not isinstance(traces, list):
        raise ValueError("the message has no traces list")
    return traces


def _reason(status: ShipmentStatus, description: str) -> FailureReason | str:
    if status not in FAILURES:
        return ""
    return next((r for word, r in REASONS if word in description), FailureReason.OTHER)


# -- pushes --------------------------------------------------------------------------------


def read_push(body: bytes, *, secret: str) -> list[TrackingEvent]:
    """The events of a track push whose data_digest verifies; raise InvalidPush."""
    try:
        untrusted.check_size(body)
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
    except untrusted.UntrustedInput as exc:
        raise InvalidPush(f"refused push: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidPush("the push is not a UTF-8 form") from exc
    content, given = _single(form, "logistics_interface"), _single(form, "data_digest")
    if content is None or given is None:
        raise InvalidPush("the push lacks logistics_interface or data_digest")
    if not verify_digest(content, secret, given):
        raise InvalidPush("the push's data_digest does not verify")
    try:
        return [trace_event(trace) for trace in _traces(untrusted.json_loads(content))]
    except ValueError as exc:
        raise InvalidPush(str(exc)) from exc


def _single(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values and len(values) == 1 else None


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
