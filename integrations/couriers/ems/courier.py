"""EmsCourier: the EMS open platform over HTTP, each answer read by the wire functions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import requests

from core.money import BEIJING
from integrations import http
from integrations.couriers.base import (
    Booking,
    BookingRequest,
    FreightLine,
    PushAck,
    TrackingEvent,
)
from integrations.couriers.ems import sealing
from integrations.couriers.ems.bill import parse_freight_bill
from integrations.couriers.ems.codes import (
    API_FREIGHT_BILL,
    API_ORDER_CANCEL,
    API_ORDER_CREATE,
    API_TRACK_QUERY,
)
from integrations.couriers.ems.wire import (
    COURIER_CODE,
    booking,
    order_data,
    push_ack,
    read_answer,
    read_push,
    request_form,
    tracked_traces,
)
from integrations.crypto.errors import InvalidKey
from integrations.errors import ConfigurationError, ProviderError


class EmsCourier:
    code = COURIER_CODE

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
        self.secret = secret  # EMS's sign key (签名钥匙): 16 bytes in Base64
        try:
            self.key = sealing.sm4_key(secret)
        except InvalidKey as exc:
            raise ConfigurationError(f"EMS secret: {exc}") from exc
        self.timeout = timeout
        self.session = session or requests.Session()

    def book(self, request: BookingRequest) -> Booking:
        return booking(request, self._call(API_ORDER_CREATE, order_data(request)))

    def cancel(self, order_no: str, waybill_no: str) -> None:
        self._call(
            API_ORDER_CANCEL,
            {"logisticsOrderNo": order_no, "waybillNo": waybill_no, "cancelReason": "客户取消"},
        )

    def track(self, waybill_no: str) -> list[TrackingEvent]:
        return tracked_traces(self._call(API_TRACK_QUERY, {"waybillNo": waybill_no}))

    def parse_push(
        self, headers: dict[str, str], body: bytes, query: dict[str, str]
    ) -> list[TrackingEvent]:
        return read_push(body, key=self.key)

    def acknowledge(self, accepted: bool) -> PushAck:
        return push_ack(accepted, self.sender_no)

    def fetch_freight_bill(self, bill_date: date) -> bytes:
        response = self._post(API_FREIGHT_BILL, {"billDate": bill_date.isoformat()})
        if not response.headers.get("Content-Type", "").startswith("text/csv"):
            read_answer(API_FREIGHT_BILL, response)  # a refusal comes as JSON
            raise ProviderError("freight bill: the answer is not a CSV file")
        return response.content

    def parse_freight_bill(self, content: bytes) -> list[FreightLine]:
        return parse_freight_bill(content)

    def _call(self, api_code: str, message: dict[str, Any]) -> dict[str, Any]:
        return read_answer(api_code, self._post(api_code, message))

    def _post(self, api_code: str, message: dict[str, Any]) -> requests.Response:
        form = request_form(
            api_code,
            message,
            sender_no=self.sender_no,
            authorization=self.authorization,
            sign_key=self.secret,
            now=datetime.now(BEIJING),
        )
        url = f"{self.base_url}/api/open"
        return http.send_answered(
            f"EMS {api_code}",
            lambda: self.session.post(url, data=form, timeout=self.timeout, allow_redirects=False),
        )
