"""Tencent Cloud SMS's API over HTTP, the messages it sent, their status reports, and controls.

``POST /sandbox/sms/`` is the API's root (the sandbox's mount plays the host's ``/``).
A request's credential, timestamp and TC3 signature are checked (tc3), then its action,
version and region, then the SendSms body: the SMS app must be the caller's, and for each
number the signature (签名) and template must be approved for the app, the parameters as
many as the template has and each acceptable, the number a mainland mobile within its
frequency limits (``SANDBOX_SMS["frequency_limits"]``). Each message sent is journalled;
its status report is then posted to the app's status callback URL (its ``{service}`` is
SERVICE_BASE_URL), and posted again until the receiver answers ``{"result": 0}``, on
RETRY_DELAYS sped up by the time scale. Tests and operators use ``_control/``: take the
API down or slow it, list what was sent, set how a number's messages are reported, post
a report again, and post an applicant's reply to the app's reply callback URL.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandboxes import common
from sandboxes.sms import tc3, wire
from sandboxes.state import Store

SETTING = "SANDBOX_SMS"
# Seconds from one callback try to the next, after the first.
RETRY_DELAYS = (5, 30, 120, 600, 1800)
SERVICE_PLACEHOLDER = "{service}"
LIMIT_WINDOWS = (
    ("thirty_seconds", timedelta(seconds=30), wire.THIRTY_SECOND_LIMIT),
    ("one_hour", timedelta(hours=1), wire.ONE_HOUR_LIMIT),
    ("day", None, wire.DAILY_LIMIT),  # the natural day in Beijing
)


class _Refused(Exception):
    """A request refused as a whole: Response.Error."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Message:
    """One message sent to one number, and its status report's tries."""

    sid: str
    app_id: str
    phone: str  # E.164
    template_id: str
    params: list[str]
    sign_name: str
    session_context: str
    sent_at: str  # ISO 8601, Beijing
    report: dict[str, str]  # the status report, as posted
    url: str = ""  # the status callback URL; none configured, no report is posted
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Reply:
    """An applicant's reply, and its tries to the reply callback URL."""

    app_id: str
    body: dict[str, Any]
    url: str = ""
    acknowledged: bool = False
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    schedule: common.Schedule | None = None


@dataclass
class _Mode:
    mode: str = "up"  # up, down (HTTP 503) or slow (sleep delay_ms, then answer)
    delay_ms: int = 0


_lock = threading.Lock()
_messages: Store[_Message] = Store(
    "sms-messages", encode=asdict, decode=lambda record: _Message(**record)
)
_replies: Store[_Reply] = Store("sms-replies", encode=asdict, decode=lambda r: _Reply(**r))
# A number's next status reports: {"delivered": bool, "code": ..., "description": ...}.
_outcomes: Store[dict[str, Any]] = Store("sms-outcomes")
_modes: Store[_Mode] = Store("sms-modes", encode=asdict, decode=lambda r: _Mode(**r))


def _config() -> Mapping[str, Any]:
    return getattr(settings, SETTING)


def _now() -> datetime:
    return datetime.now(wire.BEIJING)


# -- the API ----------------------------------------------------------------------------


@csrf_exempt
@require_POST
def api(request: HttpRequest) -> HttpResponse:
    mode = _modes.get("api", _Mode())
    if mode.mode == "down":
        return _planned_outage()
    if mode.mode == "slow":
        time.sleep(mode.delay_ms / 1000)
    try:
        secret_id = _authenticate(request)
        _check_action(request)
        document = _body(request)
        app_id = _app_of(secret_id, document)
        statuses = _send(app_id, document)
    except _Refused as refusal:
        return _answer(wire.error(refusal.code, refusal.message))
    return _answer(wire.sent(statuses))


def _answer(document: dict[str, Any]) -> JsonResponse:
    # Exactly application/json: Tencent's SDKs read an error only from that content type.
    return JsonResponse(document, json_dumps_params={"ensure_ascii": False})


def _planned_outage() -> HttpResponse:
    """The 503 of an API put "down" through _control/: asked for, so not logged as an error."""
    response = HttpResponse("Service Unavailable", status=503, content_type="text/plain")
    response._has_been_logged = True
    return response


def _authenticate(request: HttpRequest) -> str:
    """The caller's SecretId, once its request's signature checks out."""
    try:
        authorization = tc3.read_authorization(request.headers.get("Authorization", ""))
    except tc3.Unreadable as exc:
        raise _Refused(wire.INVALID_AUTHORIZATION, str(exc)) from exc
    secret_key = _config()["credentials"].get(authorization.secret_id)
    if secret_key is None:
        raise _Refused(wire.SECRET_ID_NOT_FOUND, "The SecretId is not found.")
    stamp = request.headers.get("X-TC-Timestamp", "")
    if not stamp.isdigit() or len(stamp) > 12:
        raise _Refused(wire.MISSING_PARAMETER, "X-TC-Timestamp is missing or not a number.")
    timestamp = int(stamp)
    if abs(_now() - datetime.fromtimestamp(timestamp, wire.BEIJING)) > wire.MAX_CLOCK_SKEW:
        raise _Refused(wire.SIGNATURE_EXPIRED, "The signature expired: check your clock.")
    signed = tc3.signature_matches(
        authorization,
        secret_key=secret_key,
        service=wire.SERVICE,
        timestamp=timestamp,
        method=request.method or "",
        query=request.META.get("QUERY_STRING", ""),
        header=lambda name: request.headers.get(name, ""),
        body=request.body,
    )
    if not signed:
        raise _Refused(wire.SIGNATURE_FAILURE, "The provided credentials could not be validated.")
    return authorization.secret_id


def _check_action(request: HttpRequest) -> None:
    if request.headers.get("X-TC-Action") != wire.ACTION:
        raise _Refused(wire.INVALID_ACTION, "The action is not SendSms.")
    if request.headers.get("X-TC-Version") != wire.VERSION:
        raise _Refused(wire.NO_SUCH_VERSION, f"The version is not {wire.VERSION}.")
    if request.headers.get("X-TC-Region") not in wire.REGIONS:
        raise _Refused(wire.UNSUPPORTED_REGION, "The region is not one SMS is offered in.")


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        document = common.loads_object(request.body)
    except common.MalformedJson as exc:
        raise _Refused(wire.INVALID_PARAMETER, f"The body is not a JSON object: {exc}") from exc
    for name in ("PhoneNumberSet", "SmsSdkAppId", "TemplateId"):
        if name not in document:
            raise _Refused(wire.MISSING_PARAMETER, f"{name} is missing.")
    numbers = document["PhoneNumberSet"]
    params = document.get("TemplateParamSet", [])
    texts = ("SmsSdkAppId", "TemplateId", "SignName", "SessionContext")
    if (
        not isinstance(numbers, list)
        or not 0 < len(numbers) <= wire.MAX_NUMBERS
        or not all(isinstance(number, str) for number in numbers)
        or not isinstance(params, list)
        or not all(isinstance(param, str) for param in params)
        or not all(isinstance(document.get(name, ""), str) for name in texts)
    ):
        raise _Refused(wire.INVALID_PARAMETER, "A parameter has the wrong type or size.")
    return document


def _app_of(secret_id: str, document: Mapping[str, Any]) -> str:
    app = _config()["apps"].get(document["SmsSdkAppId"])
    if app is None:
        raise _Refused(wire.APP_NOT_FOUND, "The SmsSdkAppId does not exist.")
    if app["owner"] != secret_id:
        raise _Refused(wire.APP_NOT_YOURS, "The SmsSdkAppId is not the caller's.")
    return document["SmsSdkAppId"]


def _send(app_id: str, document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each number's status; the messages sent are journalled and their reports posted."""
    app = _config()["apps"][app_id]
    context = document.get("SessionContext", "")
    refusal = _message_problem(app, document)
    statuses, reported = [], []
    with _lock:
        for number in document["PhoneNumberSet"]:
            mobile = wire.mainland_mobile(number)
            problem = refusal or _number_problem(mobile)
            if problem is not None:
                statuses.append(wire.status(number, context, *problem))
                continue
            message = _journal(app_id, app, document, f"+86{mobile}")
            statuses.append(wire.status(number, context, wire.OK, wire.SENT, serial_no=message.sid))
            reported.append(message)
    for message in reported:
        if message.url:
            _notifier.start(message.sid, message, trigger="report")
    return statuses


def _message_problem(app: Mapping[str, Any], document: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why every number of the request is refused (the signature, the template), if so."""
    if document.get("SignName", "") not in app["sign_names"]:
        return wire.UNAPPROVED_SIGN, "The signature is not approved for the app."
    expected = app["templates"].get(document["TemplateId"])
    if expected is None:
        return wire.UNAPPROVED_TEMPLATE, "The template is not approved for the app."
    params = document.get("TemplateParamSet", [])
    if len(params) != expected:
        return wire.PARAMS_NOT_TEMPLATE, f"The template takes {expected} parameters."
    limit = app.get("max_param_length")
    return next(filter(None, (wire.parameter_problem(p, limit) for p in params)), None)


def _number_problem(mobile: str | None) -> tuple[str, str] | None:
    """Why a message to this number is refused now; the lock is held."""
    if mobile is None:
        return wire.INCORRECT_NUMBER, "The number is not a mainland mobile number."
    now = _now()
    sent = [
        datetime.fromisoformat(message.sent_at)
        for message in _messages.values()
        if message.phone == f"+86{mobile}"
    ]
    limits = _config()["frequency_limits"]
    for name, window, code in LIMIT_WINDOWS:
        since = now - window if window else now.replace(hour=0, minute=0, second=0, microsecond=0)
        if sum(moment > since for moment in sent) >= limits[name]:
            return code, f"The number's {name.replace('_', ' ')} frequency limit is reached."
    return None


def _journal(
    app_id: str, app: Mapping[str, Any], document: Mapping[str, Any], phone: str
) -> _Message:
    """Keep a message sent, with the status report it will get; the lock is held."""
    now = _now()
    sid = f"2433:{secrets.randbelow(10**28):028d}"
    outcome = _outcomes.get(phone) or {
        "delivered": True,
        "code": wire.DELIVERED_CODE,
        "description": wire.DELIVERED_DESCRIPTION,
    }
    message = _Message(
        sid=sid,
        app_id=app_id,
        phone=phone,
        template_id=document["TemplateId"],
        params=list(document.get("TemplateParamSet", [])),
        sign_name=document.get("SignName", ""),
        session_context=document.get("SessionContext", ""),
        sent_at=now.isoformat(),
        report=wire.status_report(sid=sid, mobile=phone[3:], at=now, **outcome),
        url=_callback_url(app.get("status_callback_url")),
    )
    _messages[sid] = message
    return message


def _callback_url(template: str | None) -> str:
    if not template:
        return ""
    return template.replace(SERVICE_PLACEHOLDER, settings.SERVICE_BASE_URL.rstrip("/"))


# -- callbacks --------------------------------------------------------------------------


def _post(record: _Message | _Reply, body: object, trigger: str) -> tuple[dict[str, Any], str]:
    """POST a callback once and log the try."""
    status, answer, error = common.post_notification(
        record.url,
        json.dumps(body, ensure_ascii=False).encode("utf-8"),
        {"Content-Type": "application/json"},
    )
    attempt = common.log_delivery(
        _lock,
        record,
        at=_now().isoformat(),
        trigger=trigger,
        status_code=status,
        error=error,
        acknowledged=wire.callback_acknowledged(status, answer),
    )
    return attempt, answer


_notifier = common.Notifier(
    "sms-report",
    _messages,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting=SETTING,
    logs=lambda message: [message],
    send=lambda sid, message, log, trigger: _post(message, [message.report], trigger),
)
_reply_notifier = common.Notifier(
    "sms-reply",
    _replies,
    _lock,
    retry_delays=RETRY_DELAYS,
    time_scale_setting=SETTING,
    logs=lambda reply: [reply],
    send=lambda key, reply, log, trigger: _post(reply, reply.body, trigger),
)


# -- control, for tests and operators ---------------------------------------------------


@csrf_exempt
@require_POST
def control_mode(request: HttpRequest) -> HttpResponse:
    body = common.control_body(request)
    mode, delay_ms = body.get("mode"), body.get("delay_ms", 0)
    if mode not in ("up", "down", "slow") or not isinstance(delay_ms, int) or delay_ms < 0:
        return JsonResponse(
            {"error": 'send {"mode": "up"|"down"|"slow", "delay_ms": N}'}, status=400
        )
    with _lock:
        _modes["api"] = _Mode(mode, delay_ms)
    return JsonResponse({"mode": mode, "delay_ms": delay_ms})


@require_GET
def control_messages(request: HttpRequest) -> HttpResponse:
    """Every message sent, oldest first; ``?phone=`` (any form the API takes) for one number's."""
    wanted = wire.mainland_mobile(request.GET.get("phone", "")) if "phone" in request.GET else None
    with _lock:
        messages = [
            {name: value for name, value in asdict(message).items() if name != "schedule"}
            for message in _messages.values()
            if wanted is None or message.phone == f"+86{wanted}"
        ]
    messages.sort(key=lambda message: message["sent_at"])
    return JsonResponse({"messages": messages}, json_dumps_params={"ensure_ascii": False})


@csrf_exempt
@require_POST
def control_outcome(request: HttpRequest) -> HttpResponse:
    """How a number's next messages are reported: body {"phone", "delivered": bool,
    "code"?, "description"?}; delivered true with no code restores the default."""
    body = common.control_body(request)
    mobile = wire.mainland_mobile(str(body.get("phone", "")))
    delivered = body.get("delivered")
    if mobile is None or not isinstance(delivered, bool):
        return JsonResponse({"error": 'send {"phone", "delivered": bool, "code"?}'}, status=400)
    outcome = {
        "delivered": delivered,
        "code": str(body.get("code") or (wire.DELIVERED_CODE if delivered else "UNDELIV")),
        "description": str(
            body.get("description") or (wire.DELIVERED_DESCRIPTION if delivered else "")
        ),
    }
    with _lock:
        _outcomes[f"+86{mobile}"] = outcome
    return JsonResponse(outcome)


@csrf_exempt
@require_POST
def control_report(request: HttpRequest, sid: str) -> HttpResponse:
    """Post a message's status report once more, now (``?send=false``: render it only)."""
    with _lock:
        message = _messages.get(sid)
    if message is None or not message.url:
        return common.no_notification("no such message, or its app has no status callback URL")
    return common.control_answer(request, lambda: _post(message, [message.report], "control"))


@csrf_exempt
@require_POST
def control_reply(request: HttpRequest) -> HttpResponse:
    """An applicant replies: body {"phone", "text", "app"?, "sign"?}; posted to the app's
    reply callback URL until taken."""
    body = common.control_body(request)
    apps = _config()["apps"]
    app_id = str(body.get("app") or next(iter(apps)))
    mobile = wire.mainland_mobile(str(body.get("phone", "")))
    text = body.get("text")
    if app_id not in apps or mobile is None or not isinstance(text, str):
        return JsonResponse({"error": 'send {"phone", "text", "app"?, "sign"?}'}, status=400)
    app = apps[app_id]
    sign = str(body.get("sign") or app["sign_names"][0])
    reply = _Reply(
        app_id=app_id,
        body=wire.reply(mobile=mobile, text=text, sign=sign, at=_now()),
        url=_callback_url(app.get("reply_callback_url")),
    )
    key = secrets.token_hex(8)
    with _lock:
        _replies[key] = reply
    if reply.url:
        _reply_notifier.start(key, reply, trigger="reply")
    return JsonResponse(
        {"reply": key, "body": reply.body}, json_dumps_params={"ensure_ascii": False}
    )


@require_GET
def control_replies(request: HttpRequest) -> HttpResponse:
    with _lock:
        replies = [
            {"reply": key, "body": reply.body, "deliveries": list(reply.deliveries)}
            for key, reply in _replies.items()
        ]
    return JsonResponse({"replies": replies}, json_dumps_params={"ensure_ascii": False})


app_name = "sms_sandbox"
urlpatterns = [
    path("", api, name="api"),
    path("_control/mode", control_mode, name="control_mode"),
    path("_control/messages", control_messages, name="control_messages"),
    path("_control/messages/<str:sid>/report", control_report, name="control_report"),
    path("_control/outcomes", control_outcome, name="control_outcome"),
    path("_control/reply", control_reply, name="control_reply"),
    path("_control/replies", control_replies, name="control_replies"),
]
