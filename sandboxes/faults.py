"""Faults of the outside world, put into any sandbox through one control (docs/sandbox-faults.md).

``POST /sandbox/_control/faults/<party>`` (a sandbox's code: ``alipay``, ``sf``, ``banks``…)
with a JSON object changes that party's faults, ``GET`` reads them and ``DELETE`` clears
them; ``/sandbox/_control/faults`` reads or clears every party's. The global reset clears
them too. They are kept in a ``sandboxes.state`` store, so a restarted sandbox server goes
on with an outage.

- ``"down": true``: the party's protocol endpoints answer 503 with an empty body, as a
  gateway in front of a provider that is down does. Its ``_control/`` endpoints and the
  pages people use (the cashier, the front page) stay up, so a payer can still pay.
- ``"slow_seconds": x``: those endpoints answer x seconds late (before a 503, when down).
- ``"notifications": {"drop": n, "duplicate": n, "delay": n, "delay_seconds": s}``: the
  party's next notifications (payment notifications, courier pushes, SMS reports), in that
  order, are dropped (never sent, never retried), sent twice, or held back s seconds, so
  later ones overtake them. ``delay`` is 1 when only ``delay_seconds`` is given. A POST
  with ``notifications`` replaces the whole plan. A ``_control/`` notify is not affected.
- ``"malformed_next_file": true``: the next statement or bill file the party serves is cut
  short in the middle of a line (an archive in the middle), once.
- ``"leave_out_of_bill": [numbers]``: the payment channels leave every bill line whose
  number (the out-trade or refund number as the channel knows it) is listed out of their
  bills, until cleared.

Protocol endpoints learn their party's faults through ``include``, notifications through
``notification_fault`` (sandboxes.common.Notifier), file views through ``damage_file``.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from numbers import Real
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.urls import include as include_urls
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from sandboxes.state import Store

MAX_SECONDS = 3600
# The URL names of the pages a person opens, which stay up when their party is down.
PAGES_FOR_PEOPLE = frozenset({"index", "cashier", "front-trans"})
NOTIFICATION_FAULTS = ("drop", "duplicate", "delay")
_NOT_ASCII = bytes(range(0x80, 0x100))
HEALTHY: dict[str, Any] = {
    "down": False,
    "slow_seconds": 0,
    "notifications": {"drop": 0, "duplicate": 0, "delay": 0, "delay_seconds": 0},
    "malformed_next_file": False,
    "leave_out_of_bill": [],
}

_faults: Store[dict[str, Any]] = Store("faults")  # by party, only parties with faults
_parties: set[str] = set()  # every sandbox served through include()


def faults_of(party: str) -> dict[str, Any]:
    return {**HEALTHY, **_faults.get(party, {})}


# -- the protocol endpoints -------------------------------------------------------------


def include(urlconf: str) -> tuple[Any, str | None, str | None]:
    """The URLs of the sandbox ``urlconf`` (``sandboxes.<party>.…``) for ``path()``, each
    protocol endpoint answering as its party's faults say."""
    party = urlconf.split(".")[1]
    module = import_module(urlconf)
    _parties.add(party)
    patterns = [_guarded(party, pattern) for pattern in module.urlpatterns]
    return include_urls((patterns, getattr(module, "app_name", None)))


def _guarded(party: str, pattern: URLPattern) -> URLPattern:
    """The pattern with its view behind the party's faults, unless it is a control or a page."""
    route = str(pattern.pattern).removeprefix("^")
    if route.startswith("_control/") or pattern.name in PAGES_FOR_PEOPLE:
        return pattern
    view = _answering_as_faults_say(party, pattern.callback)
    return URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)


def _answering_as_faults_say(party: str, view: Callable[..., HttpResponse]):
    @functools.wraps(view)  # keeps csrf_exempt and the like
    def answer(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        faults = _faults.get(party)
        if faults is not None:
            time.sleep(faults["slow_seconds"])
            if faults["down"]:
                return _outage()
        return view(request, *args, **kwargs)

    return answer


def _outage() -> HttpResponse:
    """A gateway's 503 for a provider that is down: no body a client could mistake for the
    provider's answer. Asked for, so not logged as a server error (as the sandboxes' own
    "down" modes)."""
    response = HttpResponse(status=503, content_type="text/plain")
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


# -- notifications and files ------------------------------------------------------------


def notification_fault(party: str) -> tuple[str, float] | None:
    """What befalls the party's next notification, taken from its plan: ``("drop", 0)``,
    ``("duplicate", 0)``, ``("delay", seconds)``, or None."""
    with _faults.lock:
        faults = _faults.get(party)
        if faults is None:
            return None
        plan = dict(faults["notifications"])
        kind = next((kind for kind in NOTIFICATION_FAULTS if plan[kind]), None)
        if kind is None:
            return None
        plan[kind] -= 1
        _faults[party] = {**faults, "notifications": plan}
    return kind, plan["delay_seconds"] if kind == "delay" else 0


def damage_file(party: str, body: bytes) -> bytes:
    """The file as the party serves it: cut short when its next file was to be malformed
    (that fault then cleared), else ``body`` itself."""
    with _faults.lock:
        faults = _faults.get(party)
        if faults is None or not faults["malformed_next_file"]:
            return body
        _faults[party] = {**faults, "malformed_next_file": False}
    return _cut_short(body)


def _cut_short(body: bytes) -> bytes:
    """The file cut in the middle of its middle line, within that line's first field, so
    the line lacks its other fields and the file its end (totals, closing tags); never
    within a character of more than one byte. An archive (a zip) is cut in half, which
    loses the directory at its end."""
    if body.startswith(b"PK"):
        return body[: len(body) // 2]
    lines = body.splitlines(keepends=True) or [b""]
    middle = len(lines) // 2
    first_field = re.split(rb"[,\t|]", lines[middle].rstrip(b"\r\n"), maxsplit=1)[0]
    kept = first_field[: max(len(first_field) // 2, 1)].rstrip(_NOT_ASCII)
    return b"".join(lines[:middle]) + kept


def billed(party: str, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """A channel's bill records without those the party leaves out of its bills: a line
    whose ``ref`` or ``out_trade_no`` is listed."""
    left_out = set(faults_of(party)["leave_out_of_bill"])
    return [
        record
        for record in records
        if record["ref"] not in left_out and record.get("out_trade_no") not in left_out
    ]


# -- the control ------------------------------------------------------------------------


class _Invalid(ValueError):
    pass


@csrf_exempt
@require_http_methods(["GET", "DELETE"])
def control_all(request: HttpRequest) -> JsonResponse:
    """The faults of every party that has any (GET), or none after clearing them (DELETE)."""
    if request.method == "DELETE":
        _faults.reset()
    return JsonResponse({party: faults_of(party) for party in sorted(_faults)})


@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def control(request: HttpRequest, party: str) -> JsonResponse:
    """Read (GET), change (POST, the faults given) or clear (DELETE) one party's faults."""
    if party not in _parties:
        return _error(404, "unknown_party", f"no sandbox {party!r}")
    if request.method == "DELETE":
        _faults.pop(party, None)
    elif request.method == "POST":
        try:
            body = json.loads(request.body or b"{}")
            if not isinstance(body, dict):
                raise _Invalid("the body is not a JSON object")
            with _faults.lock:
                changed = _changed(faults_of(party), body)
                if changed == HEALTHY:
                    _faults.pop(party, None)
                else:
                    _faults[party] = changed
        except ValueError as exc:  # _Invalid, or not JSON
            return _error(400, "invalid_faults", str(exc))
    return JsonResponse(faults_of(party))


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _changed(faults: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """``faults`` with the faults ``body`` gives; _Invalid for one it cannot give."""
    unknown = set(body) - set(HEALTHY)
    if unknown:
        raise _Invalid(f"unknown faults: {', '.join(sorted(unknown))}")
    changed = dict(faults)
    for name in ("down", "malformed_next_file"):
        if name in body:
            changed[name] = _flag(body, name)
    if "slow_seconds" in body:
        changed["slow_seconds"] = _seconds(body, "slow_seconds")
    if "notifications" in body:
        changed["notifications"] = _notification_plan(body["notifications"])
    if "leave_out_of_bill" in body:
        numbers = body["leave_out_of_bill"]
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise _Invalid("leave_out_of_bill is a list of numbers, as strings")
        changed["leave_out_of_bill"] = numbers
    return changed


def _notification_plan(plan: object) -> dict[str, Any]:
    if not isinstance(plan, dict):
        raise _Invalid("notifications is an object")
    unknown = set(plan) - set(HEALTHY["notifications"])
    if unknown:
        raise _Invalid(f"unknown notification faults: {', '.join(sorted(unknown))}")
    delay_seconds = _seconds(plan, "delay_seconds")
    counts = {kind: _count(plan, kind) for kind in NOTIFICATION_FAULTS}
    if "delay" not in plan and delay_seconds:
        counts["delay"] = 1
    if counts["delay"] and not delay_seconds:
        raise _Invalid("a delay needs delay_seconds")
    return {**counts, "delay_seconds": delay_seconds}


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise _Invalid(f"{name} is true or false")
    return value


def _seconds(body: Mapping[str, Any], name: str) -> float:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= MAX_SECONDS:
        raise _Invalid(f"{name} is a number of seconds from 0 to {MAX_SECONDS}")
    return value


def _count(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"{name} is a count, 0 or more")
    return value
