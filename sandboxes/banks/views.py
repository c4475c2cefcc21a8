"""A sandbox bank: the statements of its accounts, and credit transfers from them, as the
service's HTTP interface serves them.

It keeps each account's credits and debits (sandboxes.state stores). Tests and operators
post entries through ``_control/``; ``GET statements/<account>/<date>`` answers the
entries booked that day as camt.053 (camt053.py), or as ``?format=mt940``
(``mt940:<encoding>``, mt940.py) or ``csv:<layout>`` (csv_layouts.py), with the opening
balance of everything booked before. ``POST payments`` takes a pain.001 (pain.py), books
each transfer's debit on its account for its requested execution date (today when that
has passed) and answers a pain.002; the same message sent again gets the same answer.
A date whose day has not ended in Beijing has no statement yet (404
``statement_not_ready``) unless ``SANDBOX_BANKS["hold_until_day_ends"]`` is false or
``_control/days/<date>/end`` ended that day early, as a bank's early cut-off does. The
interface is described in docs/banks.md.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pandas as pd
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from sandboxes import faults
from sandboxes.banks import camt053, csv_layouts, mt940, pain
from sandboxes.state import Store

BEIJING = timezone(timedelta(hours=8))
NOT_READY = "statement_not_ready"
# The longest texts an entry may carry: what every format the bank writes can hold.
LIMITS = {
    "counterparty_account": camt053.MAX_ACCOUNT,
    "counterparty_name": 70,
    "bank_ref": mt940.MAX_REFERENCE,
    "description": camt053.MAX_REMITTANCE,
}
ENTRY_COLUMNS = ["account", "amount", "value_date", "booking_date", *LIMITS, "currency"]

_lock = threading.Lock()
# Every entry in arrival order, by its number ("1", "2", ...); a reset starts again at 1.
_entries: Store[dict[str, Any]] = Store("bank-entries")
_ended_early: Store[bool] = Store("bank-days-ended")  # ISO dates served before they end
# Every pain.001 answered, by its MsgId: the SHA-256 of its bytes and the pain.002 given.
_payments: Store[dict[str, Any]] = Store("bank-payments")
MAX_PAYMENT_BYTES = 1024 * 1024


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


def _account_entries(account: str) -> list[dict[str, Any]]:
    """The account's entries in arrival order; call with the lock held."""
    return [entry for entry in _entries.values() if entry["account"] == account]


def _known(account: str, entries: list[dict[str, Any]]) -> bool:
    """Whether the bank keeps the account: configured, or opened by an entry posted to it."""
    return bool(entries) or account in _config().get("accounts", ())


# -- the statement interface ------------------------------------------------------------


def _format(name: str) -> tuple[str, str]:
    """The kind and option of a format name: camt053, mt940[:<encoding>], csv:<layout>."""
    kind, _, option = name.partition(":")
    if kind == "camt053" and not option:
        return kind, option
    if kind == "mt940":
        try:
            "".encode(option or "utf-8")  # a text encoding, not just any codec
        except LookupError:
            raise _Refused(400, "invalid_format", f"no encoding {option!r}") from None
        return kind, option or "utf-8"
    if kind == "csv" and option in csv_layouts.LAYOUTS:
        return kind, option
    if kind == "csv":
        layouts = ", ".join(csv_layouts.LAYOUTS)
        raise _Refused(400, "invalid_format", f"no CSV layout {option!r}: {layouts}")
    raise _Refused(400, "invalid_format", f"no format {name!r}: camt053, mt940 or csv:<layout>")


@require_GET
def statement(request: HttpRequest, account: str, day: str) -> HttpResponse:
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        return _answer(400, "invalid_date", "the date is YYYY-MM-DD")
    try:
        kind, option = _format(request.GET.get("format", "camt053"))
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    if not _day_ended(business_date):
        return _answer(
            404, NOT_READY, f"the statement for {business_date} is made after the day ends"
        )
    with _lock:
        kept = _account_entries(account)
        if not _known(account, kept):
            return _answer(404, "no_such_account", f"no account {account} at this bank")
    entries = pd.DataFrame(kept, columns=ENTRY_COLUMNS)
    booked = pd.to_datetime(entries["booking_date"])
    opening = int(entries.loc[booked < pd.Timestamp(business_date), "amount"].sum())
    todays = entries[booked == pd.Timestamp(business_date)].reset_index(drop=True)
    if kind == "camt053":
        body = camt053.render_camt053(todays, account, business_date, opening_balance=opening)
        content_type = "application/xml; charset=utf-8"
    elif kind == "mt940":
        text = mt940.render_mt940(todays, account, business_date, opening_balance=opening)
        body = text.decode("utf-8").encode(option, errors="replace")
        content_type = f"text/plain; charset={option}"
    else:
        body = csv_layouts.render_csv(todays, account, business_date, option)
        content_type = f"text/csv; charset={csv_layouts.LAYOUTS[option].encoding}"
    return HttpResponse(faults.damage_file("banks", body), content_type=content_type)


def _day_ended(business_date: date) -> bool:
    if not _config().get("hold_until_day_ends", True):
        return True
    if business_date.isoformat() in _ended_early:
        return True
    return business_date < datetime.now(BEIJING).date()


# -- credit transfers -------------------------------------------------------------------


@csrf_exempt
@require_POST
def payments(request: HttpRequest) -> HttpResponse:
    """A pain.001: each transfer booked as a debit of its account, answered by a pain.002.

    A body that is no pain.001.001.09 is a 400 (there is no message to report on); a
    MsgId seen before with other bytes is refused (``DU01``); an account the bank does not
    keep is refused (``AC01``), and so is an EndToEndId the account has already paid
    (``AM05``). Accounts may go overdrawn: the sandbox checks no balance.
    """
    content = request.body
    if len(content) > MAX_PAYMENT_BYTES:
        return _answer(413, "too_large", f"a pain.001 is at most {MAX_PAYMENT_BYTES} bytes")
    try:
        message_id = pain.message_id_of(content)
    except pain.NotPain001 as exc:
        return _answer(400, "invalid_document", str(exc))
    sha256 = hashlib.sha256(content).hexdigest()
    with _lock:
        seen = _payments.get(message_id)
        if seen is not None and seen["sha256"] == sha256:
            report = seen["report"]
        elif seen is not None:
            report = _refusal(message_id, "DU01", "the MsgId was used for another message")
        else:
            report = _execute(message_id, content)
            _payments[message_id] = {"sha256": sha256, "report": report}
    return HttpResponse(report.encode("utf-8"), content_type="application/xml; charset=utf-8")


def _execute(message_id: str, content: bytes) -> str:
    """Check the message, book its transfers and write the answer; call with the lock held."""
    try:
        message = pain.read_pain001(content)
    except pain.Refused as refusal:
        return _refusal(message_id, refusal.reason, refusal.detail)
    paid = {
        (entry["account"], entry.get("end_to_end_id"))
        for entry in _entries.values()
        if entry.get("end_to_end_id")
    }
    for transfer in message.transfers:
        if not _known(transfer.debtor_account, _account_entries(transfer.debtor_account)):
            return _refusal(message_id, "AC01", f"no account {transfer.debtor_account} here")
        if (transfer.debtor_account, transfer.end_to_end_id) in paid:
            return _refusal(message_id, "AM05", f"{transfer.end_to_end_id} is paid already")
    today = datetime.now(BEIJING).date()
    entries = [
        {
            "account": transfer.debtor_account,
            "amount": -transfer.fen,
            "value_date": max(transfer.execution_date, today).isoformat(),
            "booking_date": max(transfer.execution_date, today).isoformat(),
            "counterparty_account": transfer.creditor_account,
            "counterparty_name": transfer.creditor_name[: LIMITS["counterparty_name"]],
            "bank_ref": "",
            "description": transfer.remittance[: LIMITS["description"]],
            "currency": transfer.currency,
            "end_to_end_id": transfer.end_to_end_id,
        }
        for transfer in message.transfers
    ]
    _book(entries)
    answers = [
        pain.TransactionAnswer(
            payment_information_id=transfer.payment_information_id,
            end_to_end_id=transfer.end_to_end_id,
            status="ACSP" if transfer.execution_date > today else "ACSC",
            bank_ref=entry["bank_ref"],
        )
        for transfer, entry in zip(message.transfers, entries, strict=True)
    ]
    return _report(message_id, "ACCP", answers, control_sum=message.control_sum)


def _refusal(message_id: str, reason: str, detail: str) -> str:
    return _report(message_id, "RJCT", [], reason=reason, detail=detail)


def _report(message_id: str, status: str, answers: list, **more: str) -> str:
    return pain.render_pain002(
        report_id=f"STS{len(_payments) + 1:013d}",
        created=datetime.now(BEIJING),
        original_message_id=message_id,
        group_status=status,
        transactions=answers,
        **more,
    ).decode("utf-8")


# -- control, for tests and operators ---------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def control_entries(request: HttpRequest, account: str) -> HttpResponse:
    """POST an entry (or {"entries": [...]}) to the account; GET lists its entries."""
    if request.method == "GET":
        with _lock:
            kept = _account_entries(account)
            if not _known(account, kept):
                return _answer(404, "no_such_account", f"no account {account} at this bank")
        return _answer(200, "0", "ok", entries=[_shown(entry) for entry in kept])
    try:
        body = json.loads(request.body or b"{}")
        documents = body["entries"] if isinstance(body, dict) and "entries" in body else [body]
        if not isinstance(documents, list):
            raise _Refused(400, "invalid_entry", "entries is a list")
        entries = [_entry(account, document) for document in documents]
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "invalid_entry", "the body is not JSON")
    except _Refused as refusal:
        return _answer(refusal.status, refusal.code, refusal.message)
    with _lock:
        _book(entries)
    return _answer(201, "0", "booked", entries=[_shown(entry) for entry in entries])


def _book(entries: list[dict[str, Any]]) -> None:
    """Keep the entries, each with the bank's reference when it has none; call with the
    lock held."""
    for entry in entries:
        number = len(_entries) + 1
        entry["bank_ref"] = entry["bank_ref"] or f"SBX{number:013d}"
        _entries[str(number)] = entry


def _shown(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as the control answers show it (the account is in the path)."""
    return {name: value for name, value in entry.items() if name != "account"}


@csrf_exempt
@require_POST
def control_reset(request: HttpRequest) -> HttpResponse:
    """Forget every entry and early day end (the configured accounts stay, empty)."""
    with _lock:
        _entries.reset()
        _ended_early.reset()
        _payments.reset()
    return _answer(200, "0", "reset")


@csrf_exempt
@require_POST
def control_end_day(request: HttpRequest, day: str) -> HttpResponse:
    """End a banking day early: its statements are served from now on, whatever the time."""
    try:
        business_date = date.fromisoformat(day)
    except ValueError:
        return _answer(400, "invalid_date", "the date is YYYY-MM-DD")
    _ended_early[business_date.isoformat()] = True
    return _answer(200, "0", "ended", date=business_date.isoformat())


def _entry(account: str, document: Any) -> dict[str, Any]:
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
    if not isinstance(counterparty, dict):
        raise _Refused(400, "invalid_entry", "counterparty is {account, name}")
    texts = {
        "counterparty_account": counterparty.get("account", ""),
        "counterparty_name": counterparty.get("name", ""),
        "bank_ref": document.get("reference", ""),
        "description": document.get("description", ""),
        "currency": document.get("currency", "CNY"),
    }
    wrong = [name for name, text in texts.items() if not isinstance(text, str)]
    if wrong:
        raise _Refused(400, "invalid_entry", f"not text: {', '.join(wrong)}")
    too_long = [name for name, limit in LIMITS.items() if len(texts[name]) > limit]
    if too_long or len(texts["currency"]) != 3:
        raise _Refused(400, "invalid_entry", f"too long: {', '.join(too_long) or 'currency'}")
    return {
        "account": account,
        "amount": amount,
        "value_date": value_date.isoformat(),
        "booking_date": booking_date.isoformat(),
        **texts,
    }
