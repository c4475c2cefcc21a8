"""Tencent Cloud SMS's messages as pure functions: the signed SendSms request, its answer,
and the two callbacks, status reports (状态回执) and replies (短信回复). See docs/sms.md.

A request is a JSON POST to the API's root; the action, version, region and timestamp are
``X-TC-*`` headers and ``Authorization`` carries the TC3-HMAC-SHA256 signature. The answer
is ``{"Response": {...}}``: ``SendStatusSet`` with one status per number and a
``RequestId``, or ``Error`` ``{Code, Message}`` when the whole request was refused.
Tencent signs no callback: a callback is ours when its URL carries our secret token.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core import untrusted
from core.money import BEIJING
from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable
from integrations.sms import codes, tc3
from integrations.sms.base import (
    CallbackAck,
    CallbackOutcome,
    InvalidCallback,
    Reply,
    SendThrottled,
    SentSms,
    SmsRequest,
    StatusReport,
)

SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
RECEIVE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAINLAND = "86"
MAX_REPORTS_PER_CALLBACK = 1000

_MAINLAND_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_ANY_NUMBER = re.compile(r"\+?[0-9]{7,}")
_REPORT_FIELDS = (
    "user_receive_time",
    "nationcode",
    "mobile",
    "report_status",
    "errmsg",
    "description",
    "sid",
)
_REPLY_FIELDS = ("mobile", "nationcode", "sign", "text")


# -- the request ---------------------------------------------------------------------------


def e164(phone: str) -> str:
    """A mainland mobile number as E.164 (``+86`` and its eleven digits); E.164 as it is."""
    if _MAINLAND_MOBILE.fullmatch(phone):
        return f"+{MAINLAND}{phone}"
    if _E164.fullmatch(phone):
        return phone
    raise ValueError("not a mobile number")


def send_body(request: SmsRequest, *, sdk_app_id: str, sign_name: str) -> bytes:
    document = {
        "PhoneNumberSet": [e164(request.phone)],
        "SmsSdkAppId": sdk_app_id,
        "TemplateId": request.template_id,
        "SignName": sign_name,
        "TemplateParamSet": list(request.params),
        "SessionContext": request.reference,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_headers(
    *, host: str, region: str, timestamp: int, body: bytes, secret_id: str, secret_key: str
) -> dict[str, str]:
    """The headers of a SendSms POST of ``body`` to ``host``, signed."""
    signed = {"Content-Type": CONTENT_TYPE, "Host": host}
    return {
        **signed,
        "X-TC-Action": ACTION,
        "X-TC-Version": VERSION,
        "X-TC-Region": region,
        "X-TC-Timestamp": str(timestamp),
        "Authorization": tc3.authorization(
            secret_id=secret_id,
            secret_key=secret_key,
            service=SERVICE,
            timestamp=timestamp,
            headers=signed,
            payload=body,
        ),
    }


# -- the answer ----------------------------------------------------------------------------


def read_send_answer(content: bytes, *, request: SmsRequest, now: datetime) -> SentSms:
    """What the answer to ``request`` says of its one number; the error it means otherwise."""
    response = _response(content)
    request_id = str(response.get("RequestId") or "")
    error = response.get("Error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("Code"), str):
            raise ProviderError("the answer's Error has no Code")
        _refuse(error["Code"], str(error.get("Message", "")), request_id, now)
    statuses = response.get("SendStatusSet")
    if not isinstance(statuses, list) or len(statuses) != 1 or not isinstance(statuses[0], dict):
        raise ProviderError("the answer holds no status, or not one, for the one number sent to")
    status = statuses[0]
    expected = (e164(request.phone), request.reference)
    if (status.get("PhoneNumber"), status.get("SessionContext")) != expected:
        raise ProviderError("the answer's status is of another number or message")
    code = status.get("Code")
    if not isinstance(code, str):
        raise ProviderError("the answer's status has no Code")
    if code != codes.OK:
        _refuse(code, str(status.get("Message", "")), request_id, now)
    serial_no, fee = status.get("SerialNo"), status.get("Fee")
    if not isinstance(serial_no, str) or not serial_no or type(fee) is not int or fee < 0:
        raise ProviderError("the answer's status lacks its SerialNo or Fee")
    return SentSms(serial_no=serial_no, fee=fee, request_id=request_id)


def _response(content: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        answer = None
    response = answer.get("Response") if isinstance(answer, dict) else None
    if not isinstance(response, dict):
        raise ProviderError('the answer is not Tencent Cloud\'s {"Response": ...} JSON')
    return response


def _refuse(code: str, message: str, request_id: str, now: datetime) -> None:
    """Raise what a refusal means; its text, which is logged and kept, names no number."""
    text = f"{code}: {_ANY_NUMBER.sub('<number>', message[:200])} (RequestId {request_id})"
    wait = codes.retry_after(code, now)
    if wait is not None:
        raise SendThrottled(text, code=code, retry_after=wait)
    if codes.is_unavailable(code):
        raise ProviderUnavailable(text)
    if code == codes.SIGNATURE_EXPIRED:
        raise ProviderUnavailable(f"{text}: it came late, or our clock and the gateway's differ")
    raise ProviderDeclined(text, code=code)


# -- callbacks -----------------------------------------------------------------------------


def check_token(query: Mapping[str, str], token: str) -> None:
    """A callback is ours when its URL carries our token; InvalidCallback otherwise."""
    given = query.get("token", "")
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise InvalidCallback("the callback URL's token is wrong", forged=True)


def read_status_reports(body: bytes) -> list[StatusReport]:
    """The reports of a status callback: a JSON array of 1 to MAX_REPORTS_PER_CALLBACK."""
    reports = _document(body)
    if not isinstance(reports, list) or not 0 < len(reports) <= MAX_REPORTS_PER_CALLBACK:
        raise InvalidCallback(f"a status callback is an array of 1 to {MAX_REPORTS_PER_CALLBACK}")
    return [_report(report) for report in reports]


def _report(report: object) -> StatusReport:
    fields = _text_fields(report, _REPORT_FIELDS, "status report")
    if fields["report_status"] not in (codes.REPORT_DELIVERED, codes.REPORT_FAILED):
        raise InvalidCallback("a report_status is neither SUCCESS nor FAIL")
    if not fields["sid"]:
        raise InvalidCallback("a status report has no sid")
    return StatusReport(
        serial_no=fields["sid"],
        phone=fields["mobile"],
        delivered=fields["report_status"] == codes.REPORT_DELIVERED,
        code=fields["errmsg"],
        description=fields["description"],
        received_at=_receive_time(fields["user_receive_time"]),
    )


def _receive_time(text: str) -> datetime:
    try:
        return datetime.strptime(text, RECEIVE_TIME_FORMAT).replace(tzinfo=BEIJING)
    except ValueError as exc:
        raise InvalidCallback(f"user_receive_time is not {RECEIVE_TIME_FORMAT}") from exc


def read_reply(body: bytes) -> Reply:
    """An applicant's reply: ``{extend, mobile, nationcode, sign, text, time}``."""
    document = _document(body)
    fields = _text_fields(document, _REPLY_FIELDS, "reply")
    sent = document.get("time")
    if type(sent) is not int or sent < 0:
        raise InvalidCallback("a reply's time is not a Unix timestamp")
    try:
        replied_at = datetime.fromtimestamp(sent, BEIJING)
    except (OverflowError, OSError, ValueError) as exc:
        raise InvalidCallback("a reply's time is out of range") from exc
    return Reply(
        phone=fields["mobile"],
        country_code=fields["nationcode"],
        text=fields["text"],
        sign_name=fields["sign"],
        replied_at=replied_at,
    )


def _document(body: bytes) -> Any:
    try:
        untrusted.check_size(body)
        return untrusted.json_loads(body)
    except untrusted.UntrustedInput as exc:
        raise InvalidCallback(f"refused callback: {exc}") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidCallback("the callback is not JSON") from exc


def _text_fields(document: object, names: tuple[str, ...], what: str) -> dict[str, str]:
    if not isinstance(document, dict):
        raise InvalidCallback(f"a {what} is not an object")
    fields = {name: document.get(name) for name in names}
    if any(not isinstance(value, str) for value in fields.values()):
        raise InvalidCallback(f"a {what} lacks one of {', '.join(names)}, as text")
    return fields


_ANSWERS = {
    CallbackOutcome.ACCEPTED: (200, 0),
    CallbackOutcome.RETRY_LATER: (200, 1),
    CallbackOutcome.MALFORMED: (400, 1),
    CallbackOutcome.FORGED: (403, 1),
}


def callback_answer(outcome: CallbackOutcome, message: str = "") -> CallbackAck:
    """``{"result": 0, "errmsg": "OK"}`` when taken; a non-zero result asks the gateway to
    send the callback again, and a 4xx says it never will be taken."""
    status, result = _ANSWERS[outcome]
    errmsg = "OK" if result == 0 else (message or outcome.value)[:200]
    body = json.dumps({"result": result, "errmsg": errmsg}, ensure_ascii=False).encode("utf-8")
    return CallbackAck(status, body, "application/json")
