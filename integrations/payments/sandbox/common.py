"""What every payment-channel sandbox does the same way.

The cashier (its page, and the payer's choice: pay or fail, notify or not), sending a
notification on a retry schedule and logging each try, the ``_control/`` notify answer,
the front page that lists trades, fen shown as yuan and a sandbox's time scale. Each
provider's wire format, signing and status vocabulary stay in its own module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import requests
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html, format_html_join

from integrations.payments import signing

NOTIFY_TIMEOUT = (3.0, 10.0)  # seconds to connect, to read the receiver's answer


def time_scale(setting: str) -> float:
    """How many times faster than real time the sandbox named by ``setting`` runs."""
    return float(getattr(settings, setting)["time_scale"])


def yuan(fen: int) -> str:
    """Fen shown as yuan with two decimals: 1234 -> "12.34"."""
    return f"{fen // 100}.{fen % 100:02d}"


# -- the cashier ------------------------------------------------------------------------


def control_body(request: HttpRequest) -> dict[str, Any]:
    """A control endpoint's JSON object body; anything else reads as no options."""
    try:
        body = signing.loads_object(request.body or b"{}")
    except signing.MalformedJson:
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
            body = signing.loads_object(request.body)
        except signing.MalformedJson:
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


class DeliveryLog(Protocol):
    """Where a notification's tries are kept: each try, and whether one was acknowledged."""

    acknowledged: bool
    deliveries: list[dict[str, Any]]


def notify_until_acknowledged(
    lock: threading.Lock,
    log: DeliveryLog,
    deliver: Callable[[], dict[str, Any]],
    retry_delays: Sequence[float],
    time_scale: float,
) -> None:
    """Try ``deliver()`` now and after each retry delay (sped up by ``time_scale``).

    Stops as soon as the log shows an acknowledgement, from this loop or another sender.
    """
    for delay in (0, *retry_delays):
        time.sleep(delay / time_scale)
        with lock:
            if log.acknowledged:
                return
        if deliver()["acknowledged"]:
            return


def post_notification(
    url: str, data: bytes | Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[int | None, str, str]:
    """POST a notification once, without following redirects.

    Returns the receiver's status code (None without an answer), the first 2000
    characters of its answer, and the exception's class name when there was none.
    """
    try:
        response = requests.post(
            url, data=data, headers=headers, timeout=NOTIFY_TIMEOUT, allow_redirects=False
        )
    except requests.RequestException as exc:
        return None, "", type(exc).__name__
    return response.status_code, response.text[:2000], ""


def log_delivery(
    lock: threading.Lock,
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
    with lock:
        log.deliveries.append(attempt)
        log.acknowledged = log.acknowledged or acknowledged
    return attempt


# -- controls for tests and operators ---------------------------------------------------


def no_notification(message: str) -> JsonResponse:
    """The control notify answer while there is nothing to notify yet."""
    return JsonResponse({"code": "NO_NOTIFICATION", "message": message}, status=409)


def delivery_answer(attempt: dict[str, Any], body: str) -> JsonResponse:
    """The control notify answer: what the receiver said to the try it just made."""
    return JsonResponse(
        {"status_code": attempt["status_code"], "body": body, "error": attempt["error"]}
    )
