"""UnionPayChannel: UnionPay's gateway over HTTP, each answer read by the wire functions."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import replace
from datetime import date, datetime
from urllib.parse import urlencode

import pandas as pd
import requests

from core.money import BEIJING
from integrations import http
from integrations.errors import (
    NoStatement,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
)
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    Notification,
    NotificationAck,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeResult,
    TradeStatus,
)
from integrations.payments.signing import load_private_key
from integrations.payments.unionpay.bill import parse_bill
from integrations.payments.unionpay.codes import (
    DUPLICATE_CODE,
    NO_FILE_CODE,
    NOT_FOUND_CODE,
    SYSTEM_BUSY_CODE,
    TXN_CONSUME,
    TXN_REFUND,
    UNKNOWN_CODES,
)
from integrations.payments.unionpay.wire import (
    ACCEPTED,
    REFUSED,
    SIGN_METHOD,
    VERSION,
    load_certificate,
    order_id,
    parse_answer,
    read_notification,
    refund_result,
    signed,
    signed_by_unionpay,
    trade_result,
    txn_time,
)

FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"
FILE_PATH = "/gateway/api/fileTransReq.do"


class UnionPayChannel:
    """UnionPay's gateway as a payment channel, holding no state between calls.

    UnionPay names a transaction by merId + orderId + txnTime; every call passes that time
    (the trade's ``opened_at``, the refund's ``requested_at``), so any process can make it.
    """

    code = "unionpay"

    def __init__(
        self,
        *,
        base_url: str,
        mer_id: str,
        private_key_pem: str,
        certificate_pem: str,
        unionpay_certificate_pem: str,
        file_transfer_url: str = "",
        timeout: tuple[float, float] = (3.0, 10.0),
        session: requests.Session | http.SessionPerThread | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.file_transfer_url = file_transfer_url or f"{self.base_url}{FILE_PATH}"
        self.mer_id = mer_id
        self.timeout = timeout
        self.session = session or http.SessionPerThread()
        self._private_key = load_private_key(private_key_pem)
        self._certificate = load_certificate(certificate_pem)
        self._unionpay_certificate = load_certificate(unionpay_certificate_pem)

    # -- trades

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        """Sign the consume (txnType 01) form; the payer's browser takes it to the gateway."""
        if request.amount <= 0:
            raise ProviderDeclined("txnAmt must be at least 1 fen", code="INVALID_AMOUNT")
        unionpay_order_id = self._order_id(request.out_trade_no)
        fields = {
            **self._common(TXN_CONSUME, "01", "000201"),
            "orderId": unionpay_order_id,
            "txnTime": txn_time(request.opened_at),
            "txnAmt": str(request.amount),
            "currencyCode": "156",
            "backUrl": request.notify_url,
            "frontUrl": request.return_url,
            "payTimeout": txn_time(request.expires_at),
        }
        form = self._signed(fields)
        return CreatedTrade(
            out_trade_no=request.out_trade_no,
            provider_trade_no=unionpay_order_id,
            pay_url=f"{self.base_url}{FRONT_PATH}?{urlencode(form)}",
        )

    def query_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        answer = self._query(self._order_id(out_trade_no), opened_at)
        if answer is None:
            return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
        try:
            return trade_result(answer, answer["origRespCode"], answer.get("origRespMsg", ""))
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"queryTrans: {exc}") from exc

    def close_trade(self, out_trade_no: str, *, opened_at: datetime) -> TradeResult:
        """UnionPay cannot close an unpaid gateway trade: it lapses at its payTimeout.

        A trade the gateway never saw answers NOT_FOUND, a settled one its result; an
        open one is declined (``CLOSE_NOT_SUPPORTED``) and stays payable until payTimeout.
        """
        result = self.query_trade(out_trade_no, opened_at=opened_at)
        if result.status == TradeStatus.PENDING:
            raise ProviderDeclined(
                "UnionPay has no close for an open gateway trade; it lapses at payTimeout",
                code="CLOSE_NOT_SUPPORTED",
            )
        return result

    # -- refunds

    def refund(self, request: RefundRequest) -> RefundResult:
        """Send a refund (退货, txnType 04) of the paid trade; the result comes later."""
        paid = self.query_trade(request.out_trade_no, opened_at=request.opened_at)
        if paid.status != TradeStatus.SUCCEEDED:
            raise ProviderDeclined(f"the trade is {paid.status}, not paid", code="NOT_PAID")
        refund_order_id = self._order_id(request.out_refund_no)
        fields = {
            **self._common(TXN_REFUND, "00", "000201"),
            "orderId": refund_order_id,
            "txnTime": txn_time(request.requested_at),
            "txnAmt": str(request.amount),
            "origQryId": paid.provider_trade_no,
            "backUrl": request.notify_url,
        }
        answer = self._call("backTransReq", f"{self.base_url}{BACK_PATH}", fields)
        if answer["respCode"] == DUPLICATE_CODE:
            return self.query_refund(
                out_trade_no=request.out_trade_no,
                out_refund_no=request.out_refund_no,
                requested_at=request.requested_at,
            )
        self._raise_unless_success("backTransReq", answer)
        return RefundResult(
            out_refund_no=request.out_refund_no,
            status=RefundStatus.PENDING,
            amount=request.amount,
            out_trade_no=request.out_trade_no,
            provider_refund_no=answer.get("queryId", ""),
            raw=answer,
        )

    def query_refund(
        self, *, out_trade_no: str, out_refund_no: str, requested_at: datetime
    ) -> RefundResult:
        answer = self._query(self._order_id(out_refund_no), requested_at)
        if answer is None:
            return RefundResult(out_refund_no=out_refund_no, status=RefundStatus.NOT_FOUND)
        try:
            refund = refund_result(answer, answer["origRespCode"], answer.get("origRespMsg", ""))
        except (KeyError, ValueError) as exc:
            raise ProviderError(f"queryTrans: {exc}") from exc
        return replace(refund, out_trade_no=out_trade_no)

    # -- the bill

    def fetch_statement(self, business_date: date) -> bytes:
        """The settlement date's reconciliation zip (fileType 00), as UnionPay serves it."""
        fields = {
            **self._common("76", "01", "000000"),
            "txnTime": txn_time(_now()),
            "settleDate": business_date.strftime("%m%d"),
            "fileType": "00",
        }
        answer = self._call("fileTransReq", self.file_transfer_url, fields)
        if answer["respCode"] == NO_FILE_CODE:
            message = f"fileTransReq refused: {NO_FILE_CODE} {answer.get('respMsg', '')}"
            raise NoStatement(message, code=NO_FILE_CODE)
        self._raise_unless_success("fileTransReq", answer)
        try:
            return zlib.decompress(base64.b64decode(answer["fileContent"], validate=True))
        except (KeyError, binascii.Error, zlib.error) as exc:
            raise ProviderError("fileTransReq: fileContent is not Base64 of DEFLATE") from exc

    def parse_statement(self, content: bytes) -> pd.DataFrame:
        """The zip fetch_statement returns as TRANSACTION_COLUMNS (see parse_bill)."""
        return parse_bill(content)

    # -- notifications

    def parse_notification(self, headers: dict[str, str], body: bytes) -> Notification:
        return read_notification(
            body, mer_id=self.mer_id, unionpay_certificate=self._unionpay_certificate
        )

    def acknowledge(self, *, accepted: bool) -> NotificationAck:
        return ACCEPTED if accepted else REFUSED

    # -- the wire

    def _order_id(self, our: str) -> str:
        try:
            return order_id(our)
        except ValueError as exc:
            raise ProviderDeclined(str(exc), code="INVALID_ORDER_ID") from exc

    def _common(self, txn_type: str, txn_sub_type: str, biz_type: str) -> dict[str, str]:
        return {
            "version": VERSION,
            "encoding": "UTF-8",
            "signMethod": SIGN_METHOD,
            "txnType": txn_type,
            "txnSubType": txn_sub_type,
            "bizType": biz_type,
            "channelType": "07",
            "accessType": "0",
            "merId": self.mer_id,
        }

    def _signed(self, fields: dict[str, str]) -> dict[str, str]:
        present = {name: value for name, value in fields.items() if value != ""}
        return signed(present, self._private_key, self._certificate)

    def _query(self, unionpay_order_id: str, sent_at: datetime) -> dict[str, str] | None:
        """The queryTrans (txnType 00) answer about an order we sent at ``sent_at``.

        None if UnionPay has no transaction with that orderId and txnTime.
        """
        fields = {
            **self._common("00", "00", "000000"),
            "orderId": unionpay_order_id,
            "txnTime": txn_time(sent_at),
        }
        answer = self._call("queryTrans", f"{self.base_url}{QUERY_PATH}", fields)
        if answer["respCode"] == NOT_FOUND_CODE:
            return None
        self._raise_unless_success("queryTrans", answer)
        if answer.get("orderId") != unionpay_order_id:
            raise ProviderError(f"queryTrans: the answer is not about {unionpay_order_id}")
        return answer

    def _call(self, name: str, url: str, fields: dict[str, str]) -> dict[str, str]:
        """POST one signed form; return the verified answer (any respCode)."""
        response = http.send_answered(
            name,
            lambda: self.session.post(
                url,
                data=self._signed(fields),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
                timeout=self.timeout,
                allow_redirects=False,
            ),
        )
        if response.status_code != 200:
            raise ProviderError(f"{name}: unexpected HTTP {response.status_code}")
        try:
            answer = parse_answer(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ProviderError(f"{name}: unreadable answer: {exc}") from exc
        if not signed_by_unionpay(answer, self._unionpay_certificate):
            raise ProviderError(f"{name}: the answer's signature does not verify")
        if not answer.get("respCode"):
            raise ProviderError(f"{name}: the answer has no respCode")
        return answer

    def _raise_unless_success(self, name: str, answer: dict[str, str]) -> None:
        code, message = answer["respCode"], answer.get("respMsg", "")
        if code in UNKNOWN_CODES or code == SYSTEM_BUSY_CODE:
            raise ProviderUnavailable(f"{name}: outcome unknown, query later ({code} {message})")
        if code != "00":
            raise ProviderDeclined(f"{name} refused: {code} {message}", code=code)


def _now() -> datetime:
    return datetime.now(BEIJING)
