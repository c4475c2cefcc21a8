"""A sandbox bank: the statements of its accounts, as the service's HTTP interface serves them.

It keeps each account's credits and debits in memory. Tests and operators post entries
through ``_control/``; ``GET statements/<account>/<date>`` answers the entries booked
that day as camt.053, or as ``?format=mt940`` (``mt940:<encoding>``) or ``csv:<layout>``
(a built-in example layout), with the opening balance of everything booked before. A
date whose day has not ended in Beijing has no statement yet (404
``statement_not_ready``) unless ``SANDBOX_BANKS["hold_until_day_ends"]`` is false or
``_control/days/<date>/end`` ended that day early, as a bank's early cut-off does.
"""

from __future__ import annotations

import itertools
import json
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.banks.base import BankStatementFormat
from integrations.banks.camt053 import MAX_REMITTANCE, render_camt053
from integrations.banks.csv_layout import LAYOUTS, render_csv
from integrations.banks.http import NOT_READY
from integrations.banks.mt940 import render_mt940

BEIJING = timezone(timedelta(hours=8))
MAX_TEXT = 70  # characters of a counterparty's account or name

_lock = threading.Lock()
_entries: dict[str, list[dict[str, Any]]] = {}  # account -> entries in arrival order
_ended_early: set[date] = set()  # days whose statements are served before the day ends
_references = itertools.count(1)


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _answer(status: int, code: str, message: str, **data: Any) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message, **data},
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def _config() -> dict:
    return getattr(settings, "SANDBOX_BANKS", {})


def _known(account: str) -> bool:
    """Whether the bank keeps the account; call with the lock held."""
    return account in _entries or account in _config().get("accounts", ())


# -- the statement interface ------------------------------------------------------------


@require_GET
def statement(request: HttpRequest, account: str, day: str) -> HttpResponse:
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        return _answer(400, "invalid_date", "the date is YYYY-MM-DD")
    fmt = request.GET.get("format", BankStatementFormat.CAMT053.value)
    try:
        kind, option = BankStatementFormat.of(fmt)
    except ValueError:
        return _answer(400, "invalid_format", f"no format {fmt!r}: camt053, mt940 or csv:<layout>")
    if kind is BankStatementFormat.CSV and option not in LAYOUTS:
        return _answer(400, "invalid_format", f"no CSV layout {option!r}: {', '.join(LAYOUTS)}")
    if not _day_ended(business_date):
        return _answer(
            404, NOT_READY, f"the statement for {business_date} is made after the day ends"
        )
    with _lock:
        if not _known(account):
            return _answer(404, "no_such_account", f"no account {account} at this bank")
        kept = list(_entries.get(account, ()))
    entries = pd.DataFrame(
        kept,
        columns=[
            "amount",
            "value_date",
            "booking_date",
            "bank_ref",
            "counterparty_account",
            "counterparty_name",
            "description",
            "currency",
        ],
    )
    entries["booking_date"] = pd.to_datetime(entries["booking_date"])
    entries["value_date"] = pd.to_datetime(entries["value_date"])
    day_start = pd.Timestamp(business_date)
    opening = int(entries.loc[entries["booking_date"] < day_start, "amount"].sum())
    todays = entries[entries["booking_date"] == day_start]
    if kind is BankStatementFormat.CAMT053:
        body = render_camt053(todays, account, business_date, opening_balance=opening)
        return HttpResponse(body, content_type="application/xml; charset=utf-8")
    if kind is BankStatementFormat.MT940:
        text = render_mt940(todays, account, business_date, opening_balance=opening).decode("utf-8")
        encoding = option or "utf-8"
        try:
            body = text.encode(encoding, errors="replace")
        except LookupError:
            return _answer(400, "invalid_format", f"no encoding {encoding!r}")
        return HttpResponse(body, content_type=f"text/plain; charset={encoding}")
    layout = LAYOUTS[option]
    return HttpResponse(
        render_csv(todays, account, business_date, layout),
        content_type=f"text/csv; charset={layout.encoding}",
    )


def _day_ended(business_date: date) -> bool:
    if not _config().get("hold_until_day_ends", True):
        return True
    with _lock:
        if business_date in _ended_early:
            return True
    return business_date < datetime.now(BEIJING).date()


# -- control, for tests and operators ---------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def control_entries(request: HttpRequest, account: str) -> HttpResponse:
    """POST an entry (or {"entries": [...]}) to the account; GET lists its entries."""
    if request.method == "GET":
        with _lock:
            if not _known(account):
                return _answer(404, "no_such_account", f"no account {account} at this bank")
            return _answer(200, "0", "ok", entries=list(_entries.get(account, ())))
    try:
        body = json.loads(request.body or b"{}")
        documents = body["entries"] if isinstance(body, dict) and "entries" in body else [body]
        if not isinstance(documents, list):
            raise _Refused(400, "invalid_entry", "entries is a list")
        entries = [_entry(document) for document in documents]
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "invalid_entry", "the body is not JSON")
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    with _lock:
        for entry in entries:
            entry["bank_ref"] = entry["bank_ref"] or f"SBX{next(_references):013d}"
        _entries.setdefault(account, []).extend(entries)
    return _answer(201, "0", "booked", entries=entries)


@csrf_exempt
@require_POST
def control_reset(request: HttpRequest) -> HttpResponse:
    """Forget every entry and early day end (the configured accounts stay, empty)."""
    with _lock:
        _entries.clear()
        _ended_early.clear()
    return _answer(200, "0", "reset")


@csrf_exempt
@require_POST
def control_end_day(request: HttpRequest, day: str) -> HttpResponse:
    """End a banking day early: its statements are served from now on, whatever the time."""
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        return _answer(400, "invalid_date", "the date is YYYY-MM-DD")
    with _lock:
        _ended_early.add(business_date)
    return _answer(200, "0", "ended", date=business_date.isoformat())


def _entry(document: Any) -> dict[str, Any]:
    """A posted entry, checked: amount (fen, credits positive), value_date, and optionally
    booking_date, counterparty {account, name}, reference, description, currency."""
    if not isinstance(document, dict):
        raise _Refused(400, "invalid_entry", "an entry is a JSON object")
    amount = document.get("amount")
    if type(amount) is not int or amount == 0:
        raise _Refused(400, "invalid_entry", "amount is a non-zero whole number of fen")
    try:
        value_date = date.fromisoformat(str(document.get("value_date", "")))
        booking_date = date.fromisoformat(str(document.get("booking_date") or value_date))
    except ValueError:
        raise _Refused(400, "invalid_entry", "value_date and booking_date are YYYY-MM-DD") from None
    counterparty = document.get("counterparty") or {}
    texts = {
        "counterparty_account": counterparty.get("account", "")
        if isinstance(counterparty, dict)
        else None,
        "counterparty_name": counterparty.get("name", "")
        if isinstance(counterparty, dict)
        else None,
        "bank_ref": document.get("reference", ""),
        "description": document.get("description", ""),
        "currency": document.get("currency", "CNY"),
    }
    wrong = [name for name, text in texts.items() if not isinstance(text, str)]
    if wrong:
        raise _Refused(400, "invalid_entry", f"not text: {', '.join(wrong)}")
    too_long = [
        name
        for name, limit in (
            ("counterparty_account", MAX_TEXT),
            ("counterparty_name", MAX_TEXT),
            ("bank_ref", 35),
            ("description", MAX_REMITTANCE),
        )
        if len(texts[name]) > limit
    ]
    if too_long or len(texts["currency"]) != 3:
        raise _Refused(400, "invalid_entry", f"too long: {', '.join(too_long) or 'currency'}")
    return {
        "amount": amount,
        "value_date": value_date.isoformat(),
        "booking_date": booking_date.isoformat(),
        **texts,
    }
