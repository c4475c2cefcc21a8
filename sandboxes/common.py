"""What every payment-channel sandbox does the same way.

Reading a JSON object body strictly; the cashier (its page, and the payer's choice: pay
or fail, notify or not), sending a notification on a retry schedule that a restart
resumes and logging each try, the ``_control/`` notify answer, the front page that lists
trades, fen shown as yuan and a sandbox's time scale; for the daily bills, the fee
charged and given back, and the pieces every render_statement builds its file from,
column by column. Each provider's wire format, signing and status vocabulary stay in its
own module.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol, TypedDict
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html, format_html_join

from sandboxes import faults
from sandboxes.state import Record, Store, journalled

NOTIFY_TIMEOUT = (3.0, 10.0)  # seconds to connect, to read the receiver's answer
# The columns of a bill line as every render_statement takes them, in this order.
BILL_LINE_COLUMNS = ("kind", "ref", "provider_ref", "amount", "fee", "occurred_at")


def time_scale(setting: str) -> float:
    """How many times faster than real time the sandbox named by ``setting`` runs."""
    return float(getattr(settings, setting)["time_scale"])


def yuan(fen: int) -> str:
    """Fen shown as yuan with two decimals: 1234 -> "12.34"."""
    return f"{fen // 100}.{fen % 100:02d}"


# -- JSON bodies ------------------------------------------------------------------------


class MalformedJson(ValueError):
    """Bytes that are not one JSON object of the strict kind signed messages use."""


def loads_object(body: bytes | str) -> dict[str, Any]:
    """One JSON object, read strictly: UTF-8, integers only (no fractions, exponents, NaN
    or Infinity) and no key twice in an object, so that what a signature covers and what
    is read cannot differ. Raises MalformedJson for anything else."""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        parsed = json.loads(
            text,
            parse_float=_not_an_integer,
            parse_constant=_not_an_integer,
            object_pairs_hook=_distinct_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MalformedJson("the JSON document is not an object")
    return parsed


def _not_an_integer(text: str) -> Any:
    raise MalformedJson(f"the number {text!r} is not an integer")


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = {name for name, _ in pairs}
    if len(names) != len(pairs):
        raise MalformedJson("an object has the same key twice")
    return dict(pairs)


# -- the cashier ------------------------------------------------------------------------


def control_body(request: HttpRequest) -> dict[str, Any]:
    """A control endpoint's JSON object body; anything else reads as no options."""
    try:
        body = loads_object(request.body or b"{}")
    except MalformedJson:
        return {}
    return body


def cashier_choice(
    request: HttpRequest, wants_json: bool, form_result: str | None
) -> tuple[str, bool] | None:
    """The payer's ``(result, notify)``, or None when the POST does not say it properly.

    JSON bodies are ``{"result": "success" | "failed", "notify": bool}`` (notify defaults
    to true); the page's form sends only ``result`` and always notifies.
    """
    if wants_json:
        try:
            body = loads_object(request.body)
        except MalformedJson:
            return None
        result, notify = body.get("result"), body.get("notify", True)
    else:
        result, notify = form_result, True
    if result not in ("success", "failed") or not isinstance(notify, bool):
        return None
    return result, notify


def pay_form(action: str, *, pay: str = "支付", hidden: str = "") -> str:
    """The cashier's buttons: pay, or make the payment fail; ``hidden`` is ready HTML."""
    return format_html(
        '<form method="post" action="{}">{}<button name="result" value="success">{}</button> '
        '<button name="result" value="failed">模拟支付失败</button></form>',
        action,
        hidden,
        pay,
    )


def cashier_page(title: str, details: Iterable[tuple[str, str]], actions: str) -> str:
    """The payer's page: the trade's details as a list of (term, value), then the actions."""
    return format_html(
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>{title}</title></head><body><h1>{title}</h1><dl>{details}</dl>"
        "{actions}</body></html>",
        title=title,
        details=format_html_join("", "<dt>{}</dt><dd>{}</dd>", details),
        actions=actions,
    )


def trades_page(
    title: str, headings: Sequence[str], rows: Iterable[Sequence[Any]], *, empty: str
) -> HttpResponse:
    """A sandbox's front page: a table of trades, one cell per heading, then a cashier link.

    Each row holds a value per heading followed by the URL of the trade's cashier.
    """
    cells = "<td>{}</td>" * len(headings)
    body = format_html_join("", f'<tr>{cells}<td><a href="{{}}">收银台</a></td></tr>', rows)
    header = "".join(f"<th>{heading}</th>" for heading in headings)
    return HttpResponse(
        format_html(
            '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
            f"</head><body><h1>{{title}}</h1><table><tr>{header}<th></th></tr>"
            "{rows}</table></body></html>",
            title=title,
            rows=body or format_html("<tr><td colspan={}>{}</td></tr>", len(headings) + 1, empty),
        )
    )


# -- notifications ----------------------------------------------------------------------


class Schedule(TypedDict):
    """How far a notification's retry schedule has gone: the trigger its tries are logged
    with, the tries made so far, and when the next one is due (ISO 8601, UTC)."""

    trigger: str
    tries: int
    next_at: str


class DeliveryLog(Protocol):
    """Where a notification's tries are kept: each try, whether one was acknowledged, and
    its schedule while the provider still retries it (None before and after)."""

    acknowledged: bool
    deliveries: list[dict[str, Any]]
    schedule: Schedule | None


_notifiers: list[Notifier[Any]] = []


class Notifier(Generic[Record]):
    """Sends a sandbox's notifications now and again after each of its provider's retry
    delays (sped up by the sandbox's time scale), each until one try is acknowledged.

    Each notification's schedule is kept in its delivery log, which is part of a record of
    ``store`` and journalled with it, so a restarted sandbox resumes the schedule
    (``resume_notifications``). ``logs(record)`` lists the delivery logs a record holds;
    ``send(key, record, log, trigger)`` tries one notification once, rebuilt from the
    record, and logs the try in ``log`` (``log_delivery``); it is called without ``lock``,
    the one the sandbox holds across a read-modify-store of its records.

    ``name`` is ``<party>-<what>``, the party's code with ``-`` for ``_``
    (``public-platform-notify``): each notification started meets that party's
    notification faults (sandboxes.faults).
    """

    def __init__(
        self,
        name: str,
        store: Store[Record],
        lock: AbstractContextManager[Any],
        *,
        retry_delays: Sequence[float],
        time_scale_setting: str,
        logs: Callable[[Record], Iterable[DeliveryLog]],
        send: Callable[[str, Record, DeliveryLog, str], object],
    ) -> None:
        self.name, self.store, self.lock = name, store, lock
        self.retry_delays, self.time_scale_setting = retry_delays, time_scale_setting
        self.logs, self.send = logs, send
        self.party = name.rsplit("-", 1)[0].replace("-", "_")
        _notifiers.append(self)

    def start(self, key: str, log: DeliveryLog, *, trigger: str = "schedule") -> None:
        """Send the notification whose tries ``log`` (of the record at ``key``) keeps: now,
        then on the schedule, in the background; unless the party's faults drop it, send
        its first try twice or hold it back."""
        with self.lock:
            record = self.store.get(key)
            if record is None:
                return
            fault, delay = faults.notification_fault(self.party) or ("", 0)
            if fault == "drop":
                return
            first = _utc_now() + timedelta(seconds=delay)
            log.schedule = {"trigger": trigger, "tries": 0, "next_at": first.isoformat()}
            self.store[key] = record
        self._follow_in_background(key, record, log, twice=fault == "duplicate")

    def resume(self) -> None:
        """Go on with every notification still on its schedule, from its next try."""
        with self.lock:
            pending = [
                (key, record, log)
                for key, record in self.store.items()
                for log in self.logs(record)
                if log.schedule is not None and not log.acknowledged
            ]
        for key, record, log in pending:
            self._follow_in_background(key, record, log)

    def _follow_in_background(
        self, key: str, record: Record, log: DeliveryLog, *, twice: bool = False
    ) -> None:
        threading.Thread(
            target=self._follow,
            args=(key, record, log, twice),
            name=f"{self.name}-{key}",
            daemon=True,
        ).start()

    def _follow(self, key: str, record: Record, log: DeliveryLog, twice: bool) -> None:
        """Each try when due; with ``twice``, the first try is sent twice."""
        while (schedule := self._ongoing(key, record, log)) is not None:
            due = datetime.fromisoformat(schedule["next_at"])
            time.sleep(max((due - _utc_now()).total_seconds(), 0.0))
            if self._ongoing(key, record, log) is None:
                return
            for _ in range(2 if twice else 1):
                self.send(key, record, log, schedule["trigger"])
            twice = False
            self._count_try(key, record, log)

    def _ongoing(self, key: str, record: Record, log: DeliveryLog) -> Schedule | None:
        """The schedule while it goes on; None once a try (this schedule's or another's) was
        acknowledged, or once the record is no longer the one stored: forgotten by a reset,
        or read again from the journal by a restart, which resumes it from there."""
        with self.lock:
            if self.store.get(key) is not record:
                return None
            if log.acknowledged and log.schedule is not None:
                log.schedule = None
                self.store[key] = record
            return log.schedule

    def _count_try(self, key: str, record: Record, log: DeliveryLog) -> None:
        """Journal a try made: the next one's time, or the schedule's end."""
        with self.lock:
            if log.schedule is None or self.store.get(key) is not record:
                return
            tries = log.schedule["tries"] + 1
            if log.acknowledged or tries > len(self.retry_delays):
                log.schedule = None
            else:
                delay = self.retry_delays[tries - 1] / time_scale(self.time_scale_setting)
                next_at = _utc_now() + timedelta(seconds=delay)
                log.schedule = {**log.schedule, "tries": tries, "next_at": next_at.isoformat()}
            self.store[key] = record


def resume_notifications() -> None:
    """Every sandbox goes on with the notifications it was retrying when its process
    stopped. Only journalled stores outlive the process; without them there are none."""
    if not journalled():
        return
    for notifier in _notifiers:
        notifier.resume()


def _utc_now() -> datetime:
    return datetime.now(UTC)


# While a control renders a notification (``control_answer``), what would be posted lands
# here instead, and no delivery is logged.
_rendered: ContextVar[list[dict[str, Any]] | None] = ContextVar("rendered", default=None)


def post_notification(
    url: str, data: bytes | Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[int | None, str, str]:
    """POST a notification once, without following redirects.

    Returns the receiver's status code (None without an answer), the first 2000
    characters of its answer, and the exception's class name when there was none.
    """
    if (rendered := _rendered.get()) is not None:
        body = data if isinstance(data, bytes) else urlencode(data).encode()
        encoded = base64.b64encode(body).decode()
        rendered.append({"url": url, "headers": dict(headers), "body_base64": encoded})
        return None, "", "rendered"
    try:
        response = requests.post(
            url, data=data, headers=headers, timeout=NOTIFY_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        return None, "", type(exc).__name__
    return response.status_code, response.text[:2000], ""


def log_delivery(
    lock: AbstractContextManager[Any],
    log: DeliveryLog,
    *,
    at: str,
    trigger: str,
    status_code: int | None,
    error: str,
    acknowledged: bool,
) -> dict[str, Any]:
    """Record one try in the log and return it."""
    attempt = {
        "time": at,
        "trigger": trigger,
        "status_code": status_code,
        "error": error,
        "acknowledged": acknowledged,
    }
    if _rendered.get() is not None:  # not sent: nothing to log
        return attempt
    with lock:
        log.deliveries.append(attempt)
        log.acknowledged = log.acknowledged or acknowledged
    return attempt


# -- controls for tests and operators ---------------------------------------------------


def no_notification(message: str) -> JsonResponse:
    """The control notify answer while there is nothing to notify yet."""
    return JsonResponse({"code": "NO_NOTIFICATION", "message": message}, status=409)


def control_answer(
    request: HttpRequest, deliver: Callable[[], tuple[dict[str, Any], str]]
) -> JsonResponse:
    """The control notify answer: ``deliver()`` posts the notification once and this says
    what the receiver answered. With ``?send=false`` nothing is posted nor logged: the
    answer is the notification as it would have been posted (url, headers and the body in
    base64), signed, for a client that sends it itself (bench/notifications.py)."""
    if request.GET.get("send") != "false":
        attempt, body = deliver()
        return JsonResponse(
            {"status_code": attempt["status_code"], "body": body, "error": attempt["error"]}
        )
    rendered: list[dict[str, Any]] = []
    token = _rendered.set(rendered)
    try:
        deliver()
    finally:
        _rendered.reset(token)
    return JsonResponse(rendered[0])


# -- daily bills ------------------------------------------------------------------------


def fee(amount: int, rate_bps: int) -> int:
    """A processor's fee on an amount in fen: ``rate_bps`` of it, rounded half up to the fen."""
    return (amount * rate_bps + 5000) // 10000


def fees_given_back(paid: int, refunded: Iterable[int], rate_bps: int) -> list[int]:
    """The fee each refund of a payment gives back, the refunds in time order: the fee on
    its amount, never more than what earlier refunds left of the payment's fee."""
    left, given = fee(paid, rate_bps), []
    for amount in refunded:
        given.append(min(fee(amount, rate_bps), left))
        left -= given[-1]
    return given


def bill_frame(
    records: list[dict[str, Any]],
    extra: Sequence[str],
    *,
    times: Sequence[str] = ("occurred_at",),
    order: Sequence[str] = ("occurred_at",),
) -> pd.DataFrame:
    """A sandbox's bill records as its render_statement takes them: BILL_LINE_COLUMNS,
    then ``extra``; ``times`` made aware UTC times; sorted (stably) by ``order``."""
    columns = [*BILL_LINE_COLUMNS, *extra]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in times:
        frame[name] = pd.to_datetime(frame[name], utc=True)
    return frame.sort_values(list(order), kind="stable", ignore_index=True)


@dataclass(frozen=True)
class BillLines:
    """A frame of bill lines' kinds and money, checked, for writing a bill."""

    amount: np.ndarray  # fen, above zero
    fee: np.ndarray  # fen
    is_refund: np.ndarray  # bool
    refund: pa.Array  # is_refund, for Arrow

    def either(self, for_refund: object, for_payment: object) -> pa.Array:
        """Per line, ``for_refund`` on a refund's and ``for_payment`` on a payment's."""
        return pc.if_else(self.refund, for_refund, for_payment)


def bill_lines(rows: pd.DataFrame) -> BillLines:
    """The rows' kinds and money; raises ValueError for a kind or an amount a bill cannot hold."""
    kind = rows["kind"].astype("string")
    if not kind.isin(["payment", "refund"]).all():
        raise ValueError("a row's kind is neither payment nor refund")
    amount = rows["amount"].to_numpy(dtype=np.int64)
    fees = rows["fee"].to_numpy(dtype=np.int64)
    if (amount <= 0).any():
        raise ValueError("amounts are positive fen")
    is_refund = (kind == "refund").to_numpy(dtype=bool)
    return BillLines(amount, fees, is_refund, pa.array(is_refund))


def text_column(rows: pd.DataFrame, name: str, default: pa.Array | str = "") -> pa.Array | str:
    """A text column as Arrow strings, a missing value as ``default``; ``default`` itself
    when the frame has no such column."""
    if name not in rows:
        return default
    values = pa.array(rows[name].astype("string").array, type=pa.string(), from_pandas=True)
    return pc.coalesce(values, default)


def csv_field(values: pa.Array | str) -> pa.Array | str:
    """Text as CSV fields: quoted as RFC 4180 says when it holds a comma, a quote or a line
    break."""
    if isinstance(values, str):
        return values
    quote = pc.match_substring_regex(values, '[,"\r\n]')
    if pc.any(quote).as_py():
        values = pc.if_else(
            quote, joined('"', pc.replace_substring(values, '"', '""'), '"'), values
        )
    return values


def yuan_text(fen: np.ndarray, *, places: int = 2) -> pa.Array:
    """Fen as yuan text with ``places`` decimals (2 or more), ``-`` before a negative amount."""
    magnitude = np.abs(fen)
    whole = pc.cast(pa.array(magnitude // 100), pa.string())
    cents = pc.utf8_lpad(pc.cast(pa.array(magnitude % 100), pa.string()), 2, "0")
    sign = pc.if_else(pa.array(fen < 0), "-", "")
    return joined(sign, whole, ".", cents, "0" * (places - 2))


def beijing_seconds(moments: pd.Series) -> np.ndarray:
    """Aware times as Beijing wall times (datetime64[s]), to the second."""
    utc = pd.to_datetime(moments, utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    return (utc + np.timedelta64(8, "h")).astype("datetime64[s]")


def beijing_text(moments: pd.Series) -> pa.Array:
    """Aware times as Beijing ``yyyy-MM-dd HH:mm:ss`` text, to the second."""
    return pa.array(beijing_seconds(moments), pa.timestamp("s")).cast(pa.string())


def joined(*pieces: pa.Array | str) -> pa.Array:
    """Each row's pieces joined; runs of constant pieces are joined once, beforehand."""
    merged: list[pa.Array | str] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return pc.binary_join_element_wise(*merged, "")


def lines_of(
    fields: Sequence[pa.Array | str], separator: str, *, start: str = "", end: str
) -> memoryview:
    """The UTF-8 text of a file's lines, one per row: each row's fields with ``separator``
    between them, after ``start`` and before ``end`` (the line end). Built column by
    column, never line by line."""
    pieces: list[pa.Array | str] = [start]
    for value in fields:
        pieces += [separator, value] if len(pieces) > 1 else [value]
    lines = joined(*pieces, end)
    if not len(lines):
        return memoryview(b"")
    lines = lines.cast(pa.large_string())
    _, offsets, data = lines.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)
    return memoryview(data)[ends[lines.offset] : ends[lines.offset + len(lines)]]
