"""Alipay's wire format as pure functions: signed requests, verified answers and notifications.

Every gateway request is signed with the app's RSA2 key; every answer that reports
success, and every notification, must carry a valid signature by the Alipay public key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from core import untrusted
from core.money import BEIJING, fen_from_yuan, yuan_text
from integrations.errors import (
    InvalidNotification,
    ProviderDeclined,
    ProviderError,
    ProviderUnavailable,
)
from integrations.payments import signing
from integrations.payments.alipay.codes import (
    RETRYABLE_SUB_CODES,
    SUCCESS_CODE,
    TRADE_STATUSES,
    UNAVAILABLE_CODE,
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

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SIGN_TYPE = "RSA2"
CHARSET = "utf-8"
NOTIFY_TYPE = "trade_status_sync"
PAGE_PAY_METHOD = "alipay.trade.page.pay"
PAGE_PAY_PRODUCT = "FAST_INSTANT_TRADE_PAY"
# The gateway refuses a request whose timestamp is 15 minutes off its clock. A page.pay link
# handed out again is signed afresh once this old, so the payer has 10 minutes to open it.
PAGE_PAY_RENEW_AFTER = timedelta(minutes=5)
# The gateway's refusal of a timestamp too far from its clock: the request came late, or
# the clocks differ. A retry is signed afresh.
INVALID_TIMESTAMP = "isv.invalid-timestamp"
ACCEPTED = NotificationAck(200, b"success", "text/plain; charset=utf-8")
REFUSED = NotificationAck(400, b"fail", "text/plain; charset=utf-8")


# -- requests and answers ------------------------------------------------------------------


def request_params(
    method: str,
    biz: dict[str, Any],
    *,
    app_id: str,
    notify_url: str,
    timestamp: datetime,
    private_key: rsa.RSAPrivateKey,
    return_url: str = "",
) -> dict[str, str]:
    """The signed form fields of one gateway request; empty values are left out."""
    params = {
        "app_id": app_id,
        "method": method,
        "format": "JSON",
        "charset": CHARSET,
        "sign_type": SIGN_TYPE,
        "timestamp": beijing_time(timestamp),
        "version": "1.0",
        "notify_url": notify_url,
        "return_url": return_url,
        "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
    }
    return _signed({key: value for key, value in params.items() if value}, private_key)


def _signed(params: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """``params`` with their ``sign``, in place of any they carried."""
    unsigned = {key: value for key, value in params.items() if key != "sign"}
    return {**unsigned, "sign": sign_content(signed_content(unsigned, exclude=()), private_key)}


def page_pay_biz(request: CreateTrade) -> dict[str, Any]:
    """alipay.trade.page.pay's biz_content (电脑网站支付): the payer's browser opens it."""
    return {
        "out_trade_no": request.out_trade_no,
        "total_amount": yuan(request.amount),
        "subject": request.subject,
        "body": request.payment_code,
        "product_code": PAGE_PAY_PRODUCT,
        "time_expire": beijing_time(request.expires_at),
    }


def page_pay_url(gateway_url: str, params: Mapping[str, str]) -> str:
    """The signed page.pay request as the GET URL the payer's browser is sent to."""
    return f"{gateway_url}?{urlencode(params)}"


def stale_page_pay(pay_url: str, now: datetime) -> dict[str, str] | None:
    """The signed parameters of a page.pay URL (page_pay_url's) signed PAGE_PAY_RENEW_AFTER
    or more before ``now``; None for a fresher one, or any other link (precreate's QR code).
    """
    params = dict(parse_qsl(urlsplit(pay_url).query))
    if params.get("method") != PAGE_PAY_METHOD:
        return None
    try:
        signed_at = parse_beijing_time(params.get("timestamp"))
    except ValueError:
        return params
    return params if abs(now - signed_at) >= PAGE_PAY_RENEW_AFTER else None


def signed_again(
    params: Mapping[str, str], *, timestamp: datetime, private_key: rsa.RSAPrivateKey
) -> dict[str, str]:
    """The same request signed at ``timestamp``: every other parameter as it was sent."""
    return _signed({**params, "timestamp": beijing_time(timestamp)}, private_key)


def read_answer(
    method: str, body: bytes, accept: Collection[str], alipay_key: rsa.RSAPublicKey
) -> tuple[str, dict[str, Any]]:
    """The answer's sub_code ("" on success) and body.

    Signed refusals with a sub_code outside ``accept`` raise ProviderDeclined.
    """
    try:
        raw = top_level_raw_values(body.decode(CHARSET))
        node = next(key for key in (_response_key(method), "error_response") if key in raw)
        answer = signing.loads_object(raw[node])
        signature = json.loads(raw["sign"]) if "sign" in raw else None
    except (UnicodeDecodeError, ValueError, StopIteration) as exc:
        raise ProviderError(f"{method}: unreadable answer") from exc
    code, sub_code = answer.get("code"), answer.get("sub_code", "")
    signed = signature is not None and _verify(raw[node], {"sign": signature}, alipay_key)
    if signature is not None and not signed:
        raise ProviderError(f"{method}: the answer's signature does not verify")
    if code == UNAVAILABLE_CODE or sub_code in RETRYABLE_SUB_CODES:
        raise ProviderUnavailable(f"{method}: {code} {sub_code}")
    if sub_code == INVALID_TIMESTAMP:
        raise ProviderUnavailable(
            f"{method}: {code} {sub_code}: the request came late, or our clock and Alipay's differ"
        )
    if not signed:
        raise ProviderError(f"{method}: unsigned answer {code} {sub_code}")
    if code == SUCCESS_CODE:
        return "", answer
    if sub_code in accept:
        return sub_code, answer
    raise ProviderDeclined(
        f"{method} refused: {code} {sub_code} {answer.get('sub_msg', '')}".strip(),
        code=sub_code or str(code),
    )


def created_trade(request: CreateTrade, answer: Mapping[str, Any]) -> CreatedTrade:
    """The alipay.trade.precreate answer: its qr_code is the payer's pay_url."""
    qr_code = answer.get("qr_code")
    if answer.get("out_trade_no") != request.out_trade_no or not _is_url(qr_code):
        raise ProviderError("alipay.trade.precreate answered without the trade's qr_code")
    return CreatedTrade(out_trade_no=request.out_trade_no, provider_trade_no="", pay_url=qr_code)


def queried_trade(out_trade_no: str, sub_code: str, answer: Mapping[str, Any]) -> TradeResult:
    """The alipay.trade.query answer about ``out_trade_no``."""
    if sub_code == "ACQ.TRADE_NOT_EXIST":
        return TradeResult(out_trade_no=out_trade_no, status=TradeStatus.NOT_FOUND)
    if answer.get("out_trade_no") != out_trade_no:
        raise ProviderError(f"alipay.trade.query: the answer is not about {out_trade_no}")
    try:
        return _trade_result(answer, paid_time_field="send_pay_date")
    except ValueError as exc:
        raise ProviderError(f"alipay.trade.query: {exc}") from exc


def refund_result(request: RefundRequest, answer: dict[str, Any]) -> RefundResult | None:
    """The alipay.trade.refund answer's refund; None when the refund query must tell.

    Only fund_change=Y proves that the call moved money; otherwise (a repeat, or an
    answer Alipay could not settle at once) the refund query says what happened.
    """
    if answer.get("out_trade_no") != request.out_trade_no:
        raise ProviderError(f"alipay.trade.refund: the answer is not about {request.out_trade_no}")
    if answer.get("fund_change") != "Y":
        return None
    return RefundResult(
        out_refund_no=request.out_refund_no,
        status=RefundStatus.SUCCEEDED,
        amount=request.amount,
        out_trade_no=request.out_trade_no,
        provider_refund_no=request.out_refund_no,
        refunded_at=_optional_time(answer.get("gmt_refund_pay")),
        raw=answer,
    )


def queried_refund(
    out_trade_no: str, out_refund_no: str, sub_code: str, answer: dict[str, Any]
) -> RefundResult:
    """The alipay.trade.fastpay.refund.query answer about ``out_refund_no``."""
    method = "alipay.trade.fastpay.refund.query"
    if sub_code == "ACQ.TRADE_NOT_EXIST" or "refund_status" not in answer:
        # Alipay's answer for a refund it never received (or that failed) has no status.
        return RefundResult(
            out_refund_no=out_refund_no,
            status=RefundStatus.NOT_FOUND,
            out_trade_no=out_trade_no,
            raw=answer,
        )
    if answer.get("refund_status") != "REFUND_SUCCESS" or (
        answer.get("out_request_no") != out_refund_no
    ):
        raise ProviderError(f"{method}: unexpected refund_status or out_request_no")
    try:
        amount = fen(answer.get("refund_amount"))
        refunded_at = _optional_time(answer.get("gmt_refund_pay"))
    except ValueError as exc:
        raise ProviderError(f"{method}: {exc}") from exc
    return RefundResult(
        out_refund_no=out_refund_no,
        status=RefundStatus.SUCCEEDED,
        amount=amount,
        out_trade_no=out_trade_no,
        provider_refund_no=out_refund_no,
        refunded_at=refunded_at,
        raw=answer,
    )


def bill_url(answer: Mapping[str, Any]) -> str:
    """The bill_download_url of an alipay.data.dataservice.bill.downloadurl.query answer."""
    url = answer.get("bill_download_url")
    if not _is_url(url):
        raise ProviderError("the bill answer has no bill_download_url")
    return url


def read_notification(body: bytes, *, app_id: str, alipay_key: rsa.RSAPublicKey) -> Notification:
    """A trade_status_sync notification to ``app_id``, its signature verified."""
    fields = _form_fields(body)
    if not _verify(signed_content(fields, exclude=("sign", "sign_type")), fields, alipay_key):
        raise InvalidNotification("the notification's signature does not verify")
    if fields.get("app_id") != app_id:
        raise InvalidNotification("the notification is addressed to another app_id")
    if fields.get("notify_type") != NOTIFY_TYPE or not fields.get("notify_id"):
        raise InvalidNotification("the notification has no notify_id or an unknown type")
    try:
        result = _trade_result(fields, paid_time_field="gmt_payment")
    except ValueError as exc:
        raise InvalidNotification(str(exc)) from exc
    return Notification(notify_id=fields["notify_id"], result=result)


# -- signing ---------------------------------------------------------------------------


def signed_content(params: Mapping[str, str], *, exclude: Collection[str]) -> str:
    """The string to sign: ``k=v`` pairs sorted by key, joined by ``&``, not URL-encoded.

    Requests leave out empty values; notifications are checked over every field they carry.
    """
    return "&".join(f"{key}={params[key]}" for key in sorted(params) if key not in exclude)


def sign_content(content: str, private_key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA over the UTF-8 content, Base64-encoded: the RSA2 ``sign``."""
    signature = private_key.sign(content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_content(content: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature, ValueError):
        return False
    return True


def _verify(content: str, fields: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> bool:
    signature = fields.get("sign")
    if fields.get("sign_type", SIGN_TYPE) != SIGN_TYPE or not _is_text(signature):
        return False
    return verify_content(content, signature, public_key)


def top_level_raw_values(text: str) -> dict[str, str]:
    """Each top-level member of a JSON object as its exact source text.

    Alipay signs the ``<method>_response`` object as it appears on the wire, so the
    signature is checked over that text, never over a re-serialisation.
    """
    decoder = json.JSONDecoder()
    index = _skip_space(text, 0)
    if text[index : index + 1] != "{":
        raise ValueError("the answer is not a JSON object")
    members: dict[str, str] = {}
    index = _skip_space(text, index + 1)
    while text[index : index + 1] != "}":
        key, index = decoder.raw_decode(text, index)
        index = _skip_space(text, index)
        if not isinstance(key, str) or text[index : index + 1] != ":" or key in members:
            raise ValueError("the answer is not a JSON object with unique keys")
        start = _skip_space(text, index + 1)
        _, index = decoder.raw_decode(text, start)
        members[key] = text[start:index]
        index = _skip_space(text, index)
        if text[index : index + 1] == ",":
            index = _skip_space(text, index + 1)
        elif text[index : index + 1] != "}":
            raise ValueError("the answer is not a JSON object")
    if text[index + 1 :].strip():
        raise ValueError("the answer has text after its JSON object")
    return members


def _skip_space(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _response_key(method: str) -> str:
    return method.replace(".", "_") + "_response"


# -- fields ----------------------------------------------------------------------------


def yuan(amount: int) -> str:
    """Fen as Alipay's yuan amount with two decimals: 3000 -> "30.00"."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValueError("an amount is a whole, non-negative number of fen")
    return yuan_text(amount)


def fen(value: object) -> int:
    """Alipay's yuan amount ("12.30", "12.3", "12") in fen; more than 2 decimals is refused."""
    return fen_from_yuan(value)


def beijing_time(moment: datetime) -> str:
    """An aware datetime as Alipay writes times: ``2025-06-01 14:30:00``, Beijing time."""
    if moment.tzinfo is None:
        raise ValueError("Alipay's times must come from timezone-aware datetimes")
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing_time(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is missing")
    try:
        return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a yyyy-MM-dd HH:mm:ss time") from exc


def _optional_time(value: object) -> datetime | None:
    return parse_beijing_time(value) if value else None


def _form_fields(body: bytes) -> dict[str, str]:
    try:
        untrusted.check_size(body)
        pairs = parse_qsl(body.decode(CHARSET), keep_blank_values=True, strict_parsing=True)
        fields = dict(pairs)
        untrusted.check_structure(fields)
    except untrusted.UntrustedInput as exc:
        raise InvalidNotification(f"refused notification: {exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidNotification("the notification is not a UTF-8 form") from exc
    if len(fields) != len(pairs):
        raise InvalidNotification("the notification repeats a field")
    return fields


def _trade_result(fields: Mapping[str, Any], *, paid_time_field: str) -> TradeResult:
    """The trade fields of a query answer or a notification; raises ValueError.

    TRADE_CLOSED also names a paid trade refunded in full: a payment time tells it apart
    from a trade closed unpaid, and such a trade is reported as paid.
    """
    status = TRADE_STATUSES.get(fields.get("trade_status"))
    if status is None:
        raise ValueError(f"unknown trade_status {fields.get('trade_status')!r}")
    if not (_is_text(fields.get("out_trade_no")) and _is_text(fields.get("trade_no"))):
        raise ValueError("out_trade_no or trade_no is missing")
    paid_at = _optional_time(fields.get(paid_time_field))
    if status is TradeStatus.CLOSED and paid_at is not None:
        status = TradeStatus.SUCCEEDED
    if status is TradeStatus.SUCCEEDED and paid_at is None:
        raise ValueError(f"a paid trade has no {paid_time_field}")
    return TradeResult(
        out_trade_no=fields["out_trade_no"],
        status=status,
        amount=fen(fields.get("total_amount")),
        provider_trade_no=fields["trade_no"],
        paid_at=paid_at,
        raw=dict(fields),
    )


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value != ""


def _is_url(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and re.fullmatch(r"https?://\S+", value) is not None
