"""SfExpressCourier: SF's open platform over HTTP, each answer read by the wire functions."""

from __future__ import annotations

import time
import uuid
from datetime import date
from typing import Any

import requests

from integrations import http
from integrations.couriers.base import (
    Booking,
    BookingRequest,
    FreightLine,
    PushAck,
    TrackingEvent,
)
from integrations.couriers.sf.bill import parse_freight_bill
from integrations.couriers.sf.codes import (
    CANCEL,
    CREATE_ORDER,
    DUPLICATE_ORDER,
    FORWARD_ORDER,
    SEARCH_ORDER,
    SEARCH_ROUTES,
    UPDATE_ORDER,
)
from integrations.couriers.sf.wire import (
    ACCEPTED,
    COURIER_CODE,
    REFUSED,
    bill_params,
    booking,
    order_data,
    read_answer,
    read_push,
    request_form,
    tracked_routes,
)
from integrations.errors import ProviderDeclined, ProviderError


class SfExpressCourier:
    code = COURIER_CODE

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
            data = self._call(CREATE_ORDER, order_data(request, self.monthly_card))
        except ProviderDeclined as declined:
            if declined.code != DUPLICATE_ORDER:
                raise
            return self.find_booking(request.order_no)
        return booking(CREATE_ORDER, request.order_no, data)

    def find_booking(self, order_no: str) -> Booking:
        """The booking already made for ``order_no`` (EXP_RECE_SEARCH_ORDER_RESP).

        ProviderDeclined (SF's errorCode as code) when SF holds no such order.
        """
        data = self._call(
            SEARCH_ORDER, {"orderId": order_no, "searchType": FORWARD_ORDER, "language": "zh-CN"}
        )
        return booking(SEARCH_ORDER, order_no, data)

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
        return tracked_routes(waybill_no, data)

    def fetch_freight_bill(self, bill_date: date) -> bytes:
        day = bill_date.isoformat()
        params = bill_params(
            day, partner_id=self.partner_id, checkword=self.checkword, timestamp=_timestamp()
        )
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
        return read_push(query, body, push_token=self.push_token)

    def acknowledge(self, accepted: bool) -> PushAck:
        return ACCEPTED if accepted else REFUSED

    def parse_freight_bill(self, content: bytes) -> list[FreightLine]:
        return parse_freight_bill(content)

    # -- the wire -----------------------------------------------------------------------

    def _call(self, service_code: str, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one signed request; the answer's msgData, or the error it means."""
        form = request_form(
            service_code,
            msg,
            partner_id=self.partner_id,
            checkword=self.checkword,
            timestamp=_timestamp(),
            request_id=str(uuid.uuid4()),
        )
        url = f"{self.base_url}/std/service"
        response = http.send_answered(
            service_code, lambda: self.session.post(url, data=form, timeout=self.timeout)
        )
        return read_answer(service_code, response)


def _timestamp() -> str:
    return str(int(time.time() * 1000))
