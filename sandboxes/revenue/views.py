"""A sandbox revenue-collection system: the receiver's side of docs/revenue_push.md.

Mounted once per system code at ``/sandbox/revenue/<code>/``. It verifies each request's
signature (wire.py) with the secret in ``SANDBOX_REVENUE["systems"][code]`` and the
system's method, ``SANDBOX_REVENUE["signature_methods"][code]`` (HMAC-SHA256 when the
system is not named there; a request signed with another method is refused), keeps
records by record id (a repeated push answers the first receipt), and serves the daily
record file. Its records, modes and recent nonces are sandboxes.state stores. Tests and
operators drive it through ``_control/``.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from sandboxes import faults
from sandboxes.revenue import wire
from sandboxes.state import Store

BEIJING = timezone(timedelta(hours=8))
MAX_CLOCK_SKEW = 300  # seconds
REQUIRED_FIELDS = ("record_id", "kind", "sequence", "payment_code", "department_code")


@dataclass
class _Record:
    system_code: str
    document: dict[str, Any]
    received_at: datetime
    receipt_no: str = ""
    push_count: int = 1

    def encode(self) -> dict[str, Any]:
        return {**asdict(self), "received_at": self.received_at.isoformat()}

    @classmethod
    def decode(cls, record: dict[str, Any]) -> _Record:
        return cls(**{**record, "received_at": datetime.fromisoformat(record["received_at"])})


@dataclass
class _Mode:
    mode: str = "up"  # up, down (HTTP 503) or slow (sleep delay_ms, then answer)
    delay_ms: int = 0
    deferred_receipts: bool = False  # answer without receipt_no; issue it on the first query


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_lock = threading.Lock()
_modes: Store[_Mode] = Store("revenue-modes", encode=asdict, decode=lambda r: _Mode(**r))
# "<system code>/<record_id>" -> the record, in arrival order.
_records: Store[_Record] = Store("revenue-records", encode=_Record.encode, decode=_Record.decode)
_nonces: Store[float] = Store("revenue-nonces")  # "<system code>/<nonce>" -> when to forget it


def _known(code: str) -> None:
    if code not in settings.SANDBOX_REVENUE["systems"]:
        raise _Refused(404, "404", f"no revenue system {code!r} in this sandbox")


def _answer(status: int, code: str, message: str, **data: Any) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message, **data},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _serve(
    request: HttpRequest, system_code: str, handler: Callable[[str], HttpResponse]
) -> HttpResponse:
    """Apply the system's mode, check the signature, then run ``handler`` under the lock."""
    try:
        _known(system_code)
        mode = _modes.get(system_code, _Mode())
        if mode.mode == "down":
            return _planned_outage()
        if mode.mode == "slow":
            time.sleep(mode.delay_ms / 1000)
        _authenticate(request, system_code)
        with _lock:
            return handler(system_code)
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
    app_key, signature = headers.get(wire.APP_KEY, ""), headers.get(wire.SIGNATURE, "")
    timestamp, nonce = headers.get(wire.TIMESTAMP, ""), headers.get(wire.NONCE, "")
    method = headers.get(wire.METHOD, "")
    if not (method and app_key and signature):
        raise _Refused(401, "1002", "missing app key, signature or signature method")
    agreed = settings.SANDBOX_REVENUE.get("signature_methods", {}).get(
        system_code, wire.SIGNATURE_METHOD
    )
    if method != agreed:
        raise _Refused(401, "1007", f"this system takes signature method {agreed}, not {method}")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
        raise _Refused(401, "1003", "timestamp is missing or more than 5 minutes off")
    if not 16 <= len(nonce) <= 64:
        raise _Refused(401, "1004", "nonce must be 16-64 characters")
    text = wire.string_to_sign(
        http_method=request.method or "",
        path=request.path,
        query=[(key, value) for key, values in request.GET.lists() for value in values],
        app_key=app_key,
        timestamp=timestamp,
        nonce=nonce,
        body=request.body,
        method=agreed,
    )
    secret = settings.SANDBOX_REVENUE["systems"][system_code]
    if not wire.signature_matches(secret, text, signature, agreed):
        raise _Refused(401, "1001", "the signature does not verify")
    now, used = time.time(), f"{system_code}/{nonce}"
    with _lock:
        for key in [key for key, until in _nonces.items() if until < now]:
            del _nonces[key]
        if used in _nonces:
            raise _Refused(401, "1005", "this nonce was already used")
        _nonces[used] = now + 2 * MAX_CLOCK_SKEW


def _system_records(system_code: str) -> list[_Record]:
    """The system's records in arrival order; call with the lock held."""
    return [record for record in _records.values() if record.system_code == system_code]


# -- the protocol -----------------------------------------------------------------------


@csrf_exempt
@require_POST
def push(request: HttpRequest, system_code: str) -> HttpResponse:
    def store(system_code: str) -> HttpResponse:
        document = _document(request.body)
        key = f"{system_code}/{document['record_id']}"
        record = _records.get(key)
        if record is None:
            record = _Record(system_code, document, datetime.now(BEIJING))
            deferred = _modes.get(system_code, _Mode()).deferred_receipts
            record.receipt_no = "" if deferred else _receipt_no()
        elif record.document != document:
            raise _Refused(409, "1009", "record_id was used with other content")
        else:
            record.push_count += 1
        _records[key] = record
        return _record_answer(record)

    return _serve(request, system_code, store)


@require_GET
def record_status(request: HttpRequest, system_code: str, record_id: str) -> HttpResponse:
    def look_up(system_code: str) -> HttpResponse:
        key = f"{system_code}/{record_id}"
        record = _records.get(key)
        if record is None:
            return _answer(404, "404", "no such record")
        if not record.receipt_no:
            record.receipt_no = _receipt_no()
            _records[key] = record
        return _record_answer(record)

    return _serve(request, system_code, look_up)


@require_GET
def daily_records(request: HttpRequest, system_code: str) -> HttpResponse:
    try:
        day = date.fromisoformat(request.GET.get("date", ""))
    except ValueError:
        return _answer(400, "1006", "date must be YYYY-MM-DD")

    def daily_file(system_code: str) -> HttpResponse:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(wire.DAILY_COLUMNS)
        for record in _system_records(system_code):
            if record.received_at.date() == day:
                document = record.document
                writer.writerow(
                    (
                        document["record_id"],
                        document["payment_code"],
                        document["department_code"],
                        document["total_fen"],
                        document["kind"],
                        record.received_at.isoformat(timespec="seconds"),
                    )
                )
        content = faults.damage_file("revenue", out.getvalue().encode())
        return HttpResponse(content, content_type="text/csv; charset=utf-8")

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
        _known(system_code)
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    with _lock:
        deferred = _modes.get(system_code, _Mode()).deferred_receipts
        deferred = bool(body.get("deferred_receipts", deferred))
        _modes[system_code] = _Mode(mode, delay_ms, deferred)
    return _answer(200, "0", "ok", mode=mode, delay_ms=delay_ms)


@require_GET
def control_records(request: HttpRequest, system_code: str) -> HttpResponse:
    """Every stored record in arrival order, with how many times it was pushed."""
    try:
        _known(system_code)
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    with _lock:
        records = [
            {**record.document, "receipt_no": record.receipt_no, "push_count": record.push_count}
            for record in _system_records(system_code)
        ]
    return _answer(200, "0", "ok", records=records)


app_name = "revenue_sandbox"
urlpatterns = [
    path("records", push, name="push"),
    path("records/<str:record_id>", record_status, name="record"),
    path("daily-records", daily_records, name="daily_records"),
    path("_control/mode", control_mode, name="control_mode"),
    path("_control/records", control_records, name="control_records"),
]
