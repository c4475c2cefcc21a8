"""AlipayChannel: Alipay's gateway over HTTP, each answer read by the wire functions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

import pandas as pd
import requests

from core.money import BEIJING
from integrations import http
from integrations.errors import ProviderError
from integrations.payments import signing
from integrations.payments.alipay.bill import parse_bill
from integrations.payments.alipay.wire import (
    ACCEPTED,
    CHARSET,
    PAGE_PAY_METHOD,
    REFUSED,
    beijing_time,
    bill_url,
    created_trade,
    page_pay_biz,
    page_pay_url,
    queried_refund,
    queried_trade,
    read_answer,
    read_notification,
    refund_result,
    request_params,
    signed_again,
    stale_page_pay,
    yuan,
)
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    Notification,
    NotificationAck,
    RefundRequest,
    RefundResult,
    TradeResult,
    TradeStatus,
)


class AlipayChannel:
    code = "alipay"

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        private_key_pem: str,
        alipay_public_key_pem: str,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | http.SessionPerThread | None = None,
    ) -> None:
        self.base_url = base_url
        self.app_id = app_id
        self.timeout = timeout
        self.session = session or http.SessionPerThread()
        self._private_key = signing.load_private_key(private_key_pem)
        self._alipay_key = signing.load_public_key(alipay_public_key_pem)

    # -- trades ---------------------------------------------------------------------

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        """alipay.trade.precreate: the QR code is the payer's pay_url; with a return_url,
        alipay.trade.page.pay, whose cashier sends the payer back (当面付 has no return).

        Alipay assigns the trade_no only when the payer scans the code or opens the page,
        so the created trade has no provider_trade_no yet.
        """
        if request.return_url:
            return self._page_pay(request)
        _, answer = self._call(
            "alipay.trade.precreate",
            {
                "out_trade_no": request.out_trade_no,
                "total_amount": yuan(request.amount),
                "subject": request.subject,
                "body": request.payment_code,
                "time_expire": beijing_time(request.expires_at),
            },
            notify_url=request.notify_url,
        )
        return created_trade(request, answer)

    def _page_pay(self, request: CreateTrade) -> CreatedTrade:
        """The signed alipay.trade.page.pay URL: no call, the payer's browser makes it."""
        params = request_params(
            PAGE_PAY_METHOD,
            page_pay_biz(request),
            app_id=self.app_id,
            notify_url=request.notify_url,
            return_url=request.return_url,
            timestamp=datetime.now(BEIJING),
            private_key=self._private_key,
        )
        return CreatedTrade(
            out_trade_no=request.out_trade_no,
            provider_trade_no="",
            pay_url=page_pay_url(self.base_url, params),
        )

    def renew_pay_url(self, pay_url: str) -> str:
        """A page.pay URL signed again once PAGE_PAY_RENEW_AFTER old, with its first
        parameters (return_url included): Alipay keeps one trade per out_trade_no and refuses
        the same out_trade_no with other parameters. A QR code does not age."""
        now = datetime.now(BEIJING)
        params = stale_page_pay(pay_url, now)
        if params is None:
            return pay_url
        return page_pay_url(
            self.base_url, signed_again(params, timestamp=now, private_key=self._private_key)
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        sub_code, answer = self._call(
            "alipay.trade.query", {"out_trade_no": out_trade_no}, accept={"ACQ.TRADE_NOT_EXIST"}
        )
        return queried_trade(out_trade_no, sub_code, answer)

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        sub_code, _ = self._call(
            "alipay.trade.close",
            {"out_trade_no": out_trade_no},
            accept={"ACQ.TRADE_NOT_EXIST", "ACQ.TRADE_STATUS_ERROR"},
        )
        if sub_code == "ACQ.TRADE_NOT_EXIST":
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        return self.query_trade(out_trade_no, opened_at=opened_at)

    # -- refunds --------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        """alipay.trade.refund, synchronous; out_request_no makes a repeat harmless."""
        _, answer = self._call(
            "alipay.trade.refund",
            {
                "out_trade_no": request.out_trade_no,
                "refund_amount": yuan(request.amount),
                "out_request_no": request.out_refund_no,
                "refund_reason": request.reason,
            },
        )
        result = refund_result(request, answer)
        if result is None:
            return self.query_refund(
                out_trade_no=request.out_trade_no,
                out_refund_no=request.out_refund_no,
                requested_at=request.requested_at,
            )
        return result

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        sub_code, answer = self._call(
            "alipay.trade.fastpay.refund.query",
            {
                "out_trade_no": out_trade_no,
                "out_request_no": out_refund_no,
                "query_options": ["gmt_refund_pay"],
            },
            accept={"ACQ.TRADE_NOT_EXIST"},
        )
        return queried_refund(out_trade_no, out_refund_no, sub_code, answer)

    # -- bills ----------------------------------------------------------------------

    def fetch_statement(self, business_date: date) -> bytes:
        """The trade bill (业务明细) of a date: a zip of GBK CSV files, as downloaded."""
        _, answer = self._call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": business_date.isoformat()},
        )
        url = bill_url(answer)
        response = http.send_answered(
            "bill download", lambda: self.session.get(url, **self._options())
        )
        if response.status_code != 200:
            raise ProviderError(f"bill download: unexpected HTTP {response.status_code}")
        return response.content

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The bill fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications --------------------------------------------------------------

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        return read_notification(body, app_id=self.app_id, alipay_key=self._alipay_key)

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return ACCEPTED if accepted else REFUSED

    # -- the gateway ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        biz: dict[str, Any],
        *,
        notify_url: str = "",
        accept: Collection[str] = (),
    ) -> tuple[str, dict[str, Any]]:
        """POST one signed request; return the answer's sub_code ("" on success) and body.

        Signed refusals with a sub_code outside ``accept`` raise ProviderDeclined.
        """
        params = request_params(
            method,
            biz,
            app_id=self.app_id,
            notify_url=notify_url,
            timestamp=datetime.now(BEIJING),
            private_key=self._private_key,
        )
        response = http.send_answered(
            method,
            lambda: self.session.post(
                self.base_url,
                data={key: value.encode(CHARSET) for key, value in params.items()},
                headers={"Content-Type": f"application/x-www-form-urlencoded; charset={CHARSET}"},
                **self._options(),
            ),
        )
        if response.status_code != 200:
            raise ProviderError(f"{method}: unexpected HTTP {response.status_code}")
        return read_answer(method, response.content, accept, self._alipay_key)

    def _options(self) -> dict[str, Any]:
        return {"timeout": self.timeout, "allow_redirects": False}
