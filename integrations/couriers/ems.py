"""China Post EMS (中国邮政速递物流, 新一代寄递平台): bookings, tracks and track pushes.

The wire protocol is described in docs/ems.md; this module is the only code that knows
it. Every request is a form POST to the open API with an ``apiCode``, the sender number,
the authorisation code, a timestamp and the business message ``logitcsInterface``,
signed with ``dataDigest`` = Base64(MD5(logitcsInterface + secret)). Track pushes carry
``logistics_interface`` and ``data_digest`` signed the same way.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import re
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

import requests

from core import untrusted
from core.money import BEIJING, fen_from_yuan, yuan_text
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

API_ORDER_CREATE = "020003"  # 下单取号
API_ORDER_CANCEL = "020006"  # 订单取消
API_TRACK_QUERY = "040001"  # 运单轨迹信息获取
API_FREIGHT_BILL = "060002"  # 账单
SUCCESS_CODE = "00000"
# The platform could not decide now; whether the call took effect is unknown.
_RETRYABLE_CODES = frozenset({"S00001"})

# EMS operation codes (opCode) to the normalised vocabulary: see docs/ems.md.
STATUSES: dict[str, ShipmentStatus] = {
    "203": ShipmentStatus.PICKED_UP,  # 收寄 (collected)
    "306": ShipmentStatus.IN_TRANSIT,  # 封发 (dispatched from a centre)
    "389": ShipmentStatus.IN_TRANSIT,  # 解车 (unloaded at a centre)
    "912": ShipmentStatus.IN_TRANSIT,  # 转运 (handed over for onward carriage)
    "954": ShipmentStatus.IN_TRANSIT,  # 到达处理中心 (arrived at a centre)
    "702": ShipmentStatus.OUT_FOR_DELIVERY,  # 投递 (with the courier for delivery)
    "703": ShipmentStatus.READY_FOR_PICKUP,  # 待自提 (at a pickup point)
    "704": ShipmentStatus.DELIVERED,  # 妥投
    "705": ShipmentStatus.DELIVERY_FAILED,  # 未妥投
    "706": ShipmentStatus.ON_HOLD,  # 滞留
    "711": ShipmentStatus.RETURNING,  # 退回
    "712": ShipmentStatus.RETURNED,  # 退回妥投 (back with the sender)
    "713": ShipmentStatus.LOST_DAMAGED,  # 丢失/损毁
}
# Words of opDesc that tell why a delivery failed or a parcel is held.
_REASONS: tuple[tuple[str, FailureReason], ...] = (
    ("拒收", FailureReason.REFUSED),
    ("地址", FailureReason.BAD_ADDRESS),
    ("无人", FailureReason.NOT_HOME),
    ("电话", FailureReason.UNREACHABLE),
)
# Who signed for a delivered item, as opDesc names it: "已妥投，签收人：张三",
# "他人收，签收人：门卫"; "已妥投，本人签收" names nobody.
_SIGNER = re.compile(r"签收人是?\s*[:：]\s*([^\s,，.。;；!！、【】]+)")
_FAILURES = frozenset({ShipmentStatus.DELIVERY_FAILED, ShipmentStatus.ON_HOLD})
_TRACE_FIELDS = ("traceNo", "opCode", "opName", "opTime", "opOrgName", "opDesc")
BILL_COLUMNS = ("waybillNo", "logisticsOrderNo", "billDate", "freight")

_ACCEPTED = PushAck(200, b'{"success":"true","failmailnums":[],"remark":""}', "application/json")
_REFUSED = PushAck(400, b'{"success":"false","remark":"push not accepted"}', "application/json")


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


class EmsCourier:
    code = "ems"

    def __init__(
        self,
        *,
        base_url: str,
        sender_no: str,
        authorization: str,
        secret: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.sender_no = sender_no
        self.authorization = authorization
        self.secret = secret
        self.timeout = timeout
        self.session = session or requests.Session()

    def book(self, request: BookingRequest) -> Booking:
        body = self._call(API_ORDER_CREATE, _order(request))
        waybill_no = body.get("waybillNo")
        if not _is_text(waybill_no) or body.get("logisticsOrderNo") != request.order_no:
            raise ProviderError("order create answered without a waybillNo for the order")
        return Booking(
            order_no=request.order_no, waybill_no=waybill_no, label=str(body.get("labelUrl", ""))
        )

    def cancel(self, order_no: str, waybill_no: str) -> None:
        self._call(
            API_ORDER_CANCEL,
            {"logisticsOrderNo": order_no, "waybillNo": waybill_no, "cancelReason": "客户取消"},
        )

    def track(self, waybill_no: str) -> list[TrackingEvent]:
        body = self._call(API_TRACK_QUERY, {"waybillNo": waybill_no})
        try:
            return sorted(
                (self._event(trace) for trace in _traces(body)), key=lambda e: e.occurred_at
            )
        except ValueError as exc:
            raise ProviderError(f"track query: {exc}") from exc

    def parse_push(
        self, headers: dict[str, str], body: bytes, query: dict[str, str]
    ) -> list[TrackingEvent]:
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
        if not verify_digest(content, self.secret, given):
            raise InvalidPush("the push's data_digest does not verify")
        try:
            return [self._event(trace) for trace in _traces(untrusted.json_loads(content))]
        except ValueError as exc:
            raise InvalidPush(str(exc)) from exc

    def acknowledge(self, accepted: bool) -> PushAck:
        return _ACCEPTED if accepted else _REFUSED

    def fetch_freight_bill(self, bill_date: date) -> bytes:
        response = self._post(API_FREIGHT_BILL, {"billDate": bill_date.isoformat()})
        if not response.headers.get("Content-Type", "").startswith("text/csv"):
            self._answer(API_FREIGHT_BILL, response)  # a refusal comes as JSON
            raise ProviderError("freight bill: the answer is not a CSV file")
        return response.content

    def parse_freight_bill(self, content: bytes) -> list[FreightLine]:
        rows = csv.DictReader(io.StringIO(content.decode("utf-8-sig")))
        if tuple(rows.fieldnames or ()) != BILL_COLUMNS:
            raise ProviderError("freight bill: unexpected columns")
        try:
            return [
                FreightLine(
                    waybill_no=row["waybillNo"],
                    order_no=row["logisticsOrderNo"],
                    amount=fen_from_yuan(row["freight"].strip()),
                    date=date.fromisoformat(row["billDate"]),
                )
                for row in rows
            ]
        except ValueError as exc:
            raise ProviderError(f"freight bill: {exc}") from exc

    def _event(self, trace: object) -> TrackingEvent:
        """One trace of a push or a track answer; raises ValueError."""
        if not isinstance(trace, dict) or not all(_is_text(trace.get(n)) for n in _TRACE_FIELDS):
            raise ValueError(f"a trace lacks one of {', '.join(_TRACE_FIELDS)}")
        status = STATUSES.get(trace["opCode"])
        if status is None:
            raise ValueError(f"unknown opCode {trace['opCode']!r}")
        occurred_at = datetime.strptime(trace["opTime"], TIME_FORMAT).replace(tzinfo=BEIJING)
        return TrackingEvent(
            courier=self.code,
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

    def _call(self, api_code: str, message: dict[str, Any]) -> dict[str, Any]:
        return self._answer(api_code, self._post(api_code, message))

    def _post(self, api_code: str, message: dict[str, Any]) -> requests.Response:
        content = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        form = {
            "apiCode": api_code,
            "senderNo": self.sender_no,
            "authorization": self.authorization,
            "timeStamp": beijing_time(datetime.now(BEIJING)),
            "logitcsInterface": content,
            "dataDigest": digest(content, self.secret),
        }
        url = f"{self.base_url}/api/open"
        return http.send_answered(
            f"EMS {api_code}",
            lambda: self.session.post(url, data=form, timeout=self.timeout, allow_redirects=False),
        )

    def _answer(self, api_code: str, response: requests.Response) -> dict[str, Any]:
        """The retBody of a successful answer; a refusal raises ProviderDeclined."""
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderError(f"EMS {api_code}: unreadable answer") from exc
        code = answer.get("retCode") if isinstance(answer, dict) else None
        if not _is_text(code):
            raise ProviderError(f"EMS {api_code}: HTTP {response.status_code} without a retCode")
        message = str(answer.get("retMsg", ""))
        if code in _RETRYABLE_CODES:
            raise ProviderUnavailable(f"EMS {api_code}: {code} {message}")
        if code != SUCCESS_CODE:
            raise ProviderDeclined(f"EMS {api_code} refused: {message}", code=code)
        body = answer.get("retBody")
        if not isinstance(body, dict):
            raise ProviderError(f"EMS {api_code}: the answer has no retBody")
        return body


def event_id(trace: dict[str, Any]) -> str:
    """EMS gives a trace no id of its own: a hash of the fields that make it one event."""
    key = "\x1f".join(str(trace.get(name, "")) for name in (*_TRACE_FIELDS, "opOrgCode"))
    return f"ems-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}"


def _order(request: BookingRequest) -> dict[str, Any]:
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


def _traces(message: object) -> list[object]:
    traces = message.get("traces") if isinstance(message, dict) else None
    if not isinstance(traces, list):
        raise ValueError("the message has no traces list")
    return traces


def _reason(status: ShipmentStatus, description: str) -> FailureReason | str:
    if status not in _FAILURES:
        return ""
    return next((r for word, r in _REASONS if word in description), FailureReason.OTHER)


def signer_for(status: ShipmentStatus, description: str) -> str:
    """Who signed, read from a delivered trace's opDesc; "" for any other trace or no name."""
    if status is not ShipmentStatus.DELIVERED:
        return ""
    match = _SIGNER.search(description)
    return match[1] if match else ""


def _single(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values and len(values) == 1 else None


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
