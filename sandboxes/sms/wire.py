"""Tencent Cloud SMS's answers and callbacks as the gateway writes them. Pure functions.

Every answer is HTTP 200 with ``{"Response": {...}}``: ``SendStatusSet`` (one status per
number: ``SerialNo``, ``PhoneNumber``, ``Fee``, ``SessionContext``, ``Code``, ``Message``,
``IsoCode``) and ``RequestId``; or, when the whole request is refused, ``Error``
``{Code, Message}`` and ``RequestId``. A status callback is a JSON array of reports; a
reply callback one JSON object; the receiver answers ``{"result": 0, "errmsg": "OK"}``.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
REGIONS = frozenset({"ap-guangzhou", "ap-beijing", "ap-nanjing"})
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_NUMBERS = 200
RECEIVE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

OK = "Ok"
SENT = "send success"
# Errors of the whole request (Response.Error).
INVALID_AUTHORIZATION = "AuthFailure.InvalidAuthorization"
SECRET_ID_NOT_FOUND = "AuthFailure.SecretIdNotFound"  # noqa: S105 - an error code
SIGNATURE_EXPIRED = "AuthFailure.SignatureExpire"
SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
INVALID_ACTION = "InvalidAction"
NO_SUCH_VERSION = "NoSuchVersion"
UNSUPPORTED_REGION = "UnsupportedRegion"
MISSING_PARAMETER = "MissingParameter"
INVALID_PARAMETER = "InvalidParameter"
APP_NOT_FOUND = "InvalidParameterValue.SdkAppIdNotExist"
APP_NOT_YOURS = "UnauthorizedOperation.SmsSdkAppIdVerifyFail"
# Errors of one number (SendStatusSet[].Code).
UNAPPROVED_SIGN = "FailedOperation.SignatureIncorrectOrUnapproved"
UNAPPROVED_TEMPLATE = "FailedOperation.TemplateIncorrectOrUnapproved"
PARAMS_NOT_TEMPLATE = "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
PARAM_FORMAT = "InvalidParameterValue.TemplateParameterFormatError"
PARAM_TOO_LONG = "InvalidParameterValue.TemplateParameterLengthLimit"
URL_IN_PARAM = "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter"
INCORRECT_NUMBER = "InvalidParameterValue.IncorrectPhoneNumber"
THIRTY_SECOND_LIMIT = "LimitExceeded.PhoneNumberThirtySecondLimit"
ONE_HOUR_LIMIT = "LimitExceeded.PhoneNumberOneHourLimit"
DAILY_LIMIT = "LimitExceeded.PhoneNumberDailyLimit"

DELIVERED = "SUCCESS"
NOT_DELIVERED = "FAIL"
DELIVERED_CODE = "DELIVRD"
DELIVERED_DESCRIPTION = "用户短信送达成功"

_MAINLAND = re.compile(r"(?:\+86|0086|86)?(1[3-9][0-9]{9})")
_URL = re.compile(r"https?://|www\.|\.(?:cn|com|net|org|gov)(?:/|\b)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def request_id() -> str:
    return str(uuid.uuid4())


def error(code: str, message: str) -> dict[str, Any]:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id()}}


def sent(statuses: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Response": {"SendStatusSet": statuses, "RequestId": request_id()}}


def status(
    number: str, session_context: str, code: str, message: str, *, serial_no: str = ""
) -> dict[str, Any]:
    return {
        "SerialNo": serial_no,
        "PhoneNumber": number,
        "Fee": 1 if code == OK else 0,
        "SessionContext": session_context,
        "Code": code,
        "Message": message,
        "IsoCode": "CN" if code != INCORRECT_NUMBER else "",
    }


def mainland_mobile(number: str) -> str | None:
    """The eleven digits of a mainland mobile number, given in any form the API takes
    (+86, 0086, 86 or none before them); None for anything else."""
    found = _MAINLAND.fullmatch(number)
    return found[1] if found else None


def parameter_problem(value: str, max_length: int | None) -> tuple[str, str] | None:
    """Why the API refuses a template parameter, as (code, message); None if it does not."""
    if not value or _CONTROL.search(value):
        return PARAM_FORMAT, "a template parameter is empty or holds a control character"
    if _URL.search(value):
        return URL_IN_PARAM, "a template parameter may not hold a link"
    if max_length is not None and len(value) > max_length:
        return PARAM_TOO_LONG, f"a template parameter is longer than {max_length} characters"
    return None


def status_report(
    *, sid: str, mobile: str, delivered: bool, code: str, description: str, at: datetime
) -> dict[str, str]:
    return {
        "user_receive_time": at.astimezone(BEIJING).strftime(RECEIVE_TIME_FORMAT),
        "nationcode": "86",
        "mobile": mobile,
        "report_status": DELIVERED if delivered else NOT_DELIVERED,
        "errmsg": code,
        "description": description,
        "sid": sid,
    }


def reply(*, mobile: str, text: str, sign: str, at: datetime) -> dict[str, Any]:
    return {
        "extend": "",
        "mobile": mobile,
        "nationcode": "86",
        "sign": sign,
        "text": text,
        "time": int(at.timestamp()),
    }


def callback_acknowledged(status_code: int | None, answer: str) -> bool:
    """Whether the receiver took a callback: HTTP 200 and ``{"result": 0}``."""
    if status_code != 200:
        return False
    try:
        body = json.loads(answer)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("result") == 0
