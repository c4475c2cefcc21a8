"""A sandbox revenue-collection system: the receiver's side of docs/revenue_push.md.

Mounted once per system code at ``/sandbox/revenue/<code>/``. It verifies each request's
signature with the secret in ``SANDBOX_REVENUE["systems"][code]``, keeps records in
memory by record id (a repeated push answers the first receipt), and serves the daily
record file. Tests and operators drive it through ``_control/``.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from integrations.revenue import signing
from integrations.revenue.http_json import DAILY_COLUMNS

BEIJING = timezone(timedelta(hours=8))
MAX_CLOCK_SKEW = 300  # seconds
REQUIRED_FIELDS = ("record_id", "kind", "sequence", "payment_code", "department_code")


@dataclass
class _Record:
    document: dict[str, Any]
    received_at: datetime
    receipt_no: str = ""
    push_count: int = 1


@dataclass
class _System:
    mode: str = "up"  # up, down (HTTP 503) or slow (sleep delay_ms, then answer)
    delay_ms: int = 0
    deferred_receipts: bool = False  # answer without receipt_no; issue it on the first query
    records: dict[str, _Record] = field(default_factory=dict)  # in arrival order
    nonces: dict[str, float] = field(default_factory=dict)  # nonce -> when it may be forgotten


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_lock = threading.Lock()
_systems: dict[str, _System] = {}


def _system(code: str) -> _System:
    """The sandbox state of a configured system; call with the lock held."""
    if code not in settings.SANDBOX_REVENUE["systems"]:
        raise _Refused(404, "404", f"no revenue system {code!r} in this sandbox")
    return _systems.setdefault(code, _System())


def _answer(status: int, code: str, message: str, **data: Any) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message, **data},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _serve(request: HttpRequest, system_code: str, handler) -> HttpResponse:
    """Apply the system's mode, check the signature, then run ``handler`` under the lock."""
    try:
        with _lock:
            state = _system(system_code)
            mode, delay_ms = state.mode, state.delay_ms
        if mode == "down":
            return _planned_outage()
        if mode == "slow":
            time.sleep(delay_ms / 1000)
        _authenticate(request, system_code)
        with _lock:
            return handler(_system(system_code))
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)


def _planned_outage() -> JsonResponse:
    """The 503 of a system put "down" through _control/: asked for, so not a server error.

    Django's `django.request` logger logs every 5xx at ERROR, and an outage played for a
    test or a demo filled the log with them. Its log_response() skips a response already
    marked as logged, as Django marks those it logged with their exception; the access line
    (core.request_context) still records the 503, at INFO.
    """
    response = _answer(503, "503", "the revenue system is unavailable")
    response._has_been_logged = True
    return response


def _authenticate(request: HttpRequest, system_code: str) -> None:
    headers = request.headers
    app_key = headers.get(signing.APP_KEY_HEADER, "")
    timestamp, nonce = (
        headers.get(signing.TIMESTAMP_HEADER, ""),
        headers.get(signing.NONCE_HEADER, ""),
    )
    signature = headers.get(signing.SIGNATURE_HEADER, "")
    if headers.get(signing.METHOD_HEADER) != signing.METHOD or not (app_key and signature):
        raise _Refused(401, "1002", "missing app key, signature or signature method")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        raise _Refused(401, "1003", "timestamp is missing or more than 5 minutes off")
    if not 16 <= len(nonce) <= 64:
        raise _Refused(401, "1004", "nonce must be 16-64 characters")
    text = signing.string_to_sign(
        http_method=request.method or "",
        path=request.path,
        query={key: request.GET[key] for key in request.GET},
        app_key=app_key,
        timestamp=timestamp,
        nonce=nonce,
        body=request.body,
    )
    if not signing.matches(settings.SANDBOX_REVENUE["systems"][system_code], text, signature):
        raise _Refused(401, "1001", "the signature does not verify")
    now = time.time()
    with _lock:
        nonces = _system(system_code).nonces
        for used in [used for used, until in nonces.items() if until < now]:
            del nonces[used]
        if nonce in nonces:
            raise _Refused(401, "1005", "this nonce was already used")
        nonces[nonce] = now + 2 * MAX_CLOCK_SKEW


# -- the protocol -----------------------------------------------------------------------


@csrf_exempt
@require_POST
def push(request: HttpRequest, system_code: str) -> HttpResponse:
    def store(state: _System) -> HttpResponse:
        document = _document(request.body)
        record = state.records.get(document["record_id"])
        if record is None:
            record = _Record(document=document, received_at=datetime.now(BEIJING))
            record.receipt_no = "" if state.deferred_receipts else _receipt_no()
            state.records[document["record_id"]] = record
        elif record.document != document:
            raise _Refused(409, "1009", "record_id was used with other content")
        else:
            record.push_count += 1
        return _record_answer(record)

    return _serve(request, system_code, store)


@require_GET
def record_status(request: HttpRequest, system_code: str, record_id: str) -> HttpResponse:
    def look_up(state: _System) -> HttpResponse:
        record = state.records.get(record_id)
        if record is None:
            return _answer(404, "404", "no such record")
        record.receipt_no = record.receipt_no or _receipt_no()
        return _record_answer(record)

    return _serve(request, system_code, look_up)


@require_GET
def daily_records(request: HttpRequest, system_code: str) -> HttpResponse:
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return _answer(400, "1006", "date must be YYYY-MM-DD")

    def daily_file(state: _System) -> HttpResponse:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(DAILY_COLUMNS)
        for record_id, record in state.records.items():
            if record.received_at.date() == day:
                document = record.document
                writer.writerow(
                    (
                        record_id,
                        document["payment_code"],
                        document["department_code"],
                        document["total_fen"],
                        document["kind"],
                        record.received_at.isoformat(timespec="seconds"),
                    )
                )
        return HttpResponse(out.getvalue().encode(), content_type="text/csv; charset=utf-8")

    return _serve(request, system_code, daily_file)


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Refused(400, "1006", "the body is not JSON") from exc
    if not isinstance(document, dict):
        raise _Refused(400, "1006", "the body is not a JSON object")
    missing = [name for name in REQUIRED_FIELDS if not document.get(name)]
    total = document.get("total_fen")
    if type(total) is not int or total <= 0:
        missing.append("total_fen")
    if (
        document.get("kind") not in ("payment", "refund")
        or type(document.get("sequence")) is not int
    ):
        missing.append("kind/sequence")
    if missing:
        raise _Refused(400, "1006", f"missing or invalid: {', '.join(missing)}")
    return document


def _record_answer(record: _Record) -> JsonResponse:
    data = {
        "record_id": record.document["record_id"],
        "received_time": record.received_at.isoformat(timespec="seconds"),
    }
    if record.receipt_no:
        data["receipt_no"] = record.receipt_no
    return _answer(200, "0", "accepted", **data)


def _receipt_no() -> str:
    return f"{datetime.now(BEIJING):%Y%m%d}{secrets.randbelow(10**12):012d}"


# -- control, for tests and operators ---------------------------------------------------


@csrf_exempt
@require_POST
def control_mode(request: HttpRequest, system_code: str) -> HttpResponse:
    try:
        body = json.loads(request.body or b"{}")
        mode, delay_ms = body["mode"], int(body.get("delay_ms", 0))
    except (ValueError, KeyError, TypeError):
        return _answer(400, "1006", 'send {"mode": "up"|"down"|"slow", "delay_ms": N}')
    if mode not in ("up", "down", "slow") or delay_ms < 0:
        return _answer(400, "1006", "mode is up, down or slow; delay_ms is not negative")
    try:
        with _lock:
            state = _system(system_code)
            state.mode, state.delay_ms = mode, delay_ms
            state.deferred_receipts = bool(body.get("deferred_receipts", state.deferred_receipts))
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    return _answer(200, "0", "ok", mode=mode, delay_ms=delay_ms)


@require_GET
def control_records(request: HttpRequest, system_code: str) -> HttpResponse:
    """Every stored record in arrival order, with how many times it was pushed."""
    try:
        with _lock:
            records = [
                {
                    **record.document,
                    "receipt_no": record.receipt_no,
                    "push_count": record.push_count,
                }
                for record in _system(system_code).records.values()
            ]
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    return _answer(200, "0", "ok", records=records)


app_name = "revenue_sandbox"
urlpatterns = [
    path("records", push, name="push"),
    path("records/<str:record_id>", record_status, name="record"),
    path("daily-records", daily_records, name="daily_records"),
    path("_control/mode", control_mode, name="control_mode"),
    path("_control/records", control_records, name="control_records"),
]
