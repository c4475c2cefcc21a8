"""The sandboxes' controls the demo drives, over HTTP, as an operator or a payer would.

Each sandbox is mounted under ``<service>/sandbox/``; a payer's cashier is at the
attempt's own pay_url.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import requests
from django.conf import settings

TIMEOUT = (3.0, 30.0)  # seconds to connect, to read


def _post(url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = requests.post(url, json=body or {}, timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()


def pay(pay_url: str, *, notify: bool = True) -> None:
    """The payer pays at the cashier; without ``notify`` the channel never tells us."""
    _post(pay_url, {"result": "success", "notify": notify})


def leave_out_of_alipay_bill(sandbox_url: str, out_trade_no: str) -> None:
    _post(f"{sandbox_url}/sandbox/alipay/_control/trades/{out_trade_no}/leave-out-of-bill")


def set_revenue_system_mode(sandbox_url: str, system_code: str, mode: str) -> None:
    _post(f"{sandbox_url}/sandbox/revenue/{system_code}/_control/mode", {"mode": mode})


def end_bank_day(sandbox_url: str, day: date) -> None:
    """The sandbox bank serves the day's statements from now on, before the day ends."""
    _post(f"{sandbox_url}/sandbox/banks/_control/days/{day.isoformat()}/end")


def book_bank_entries(sandbox_url: str, account: str, entries: list[dict[str, Any]]) -> None:
    _post(f"{sandbox_url}/sandbox/banks/_control/accounts/{account}/entries", {"entries": entries})


def register_sf_push_url(sandbox_url: str) -> None:
    """Point SF's pushes at this service, as the partner does in SF's console."""
    sf = settings.SF_EXPRESS
    push = f"{settings.SERVICE_BASE_URL}/notify/couriers/sf/push"
    _post(
        f"{sandbox_url}/sandbox/sf/_control/partners/{sf['partner_id']}/push_url",
        {"url": requests.Request("GET", push, params={"token": sf["push_token"]}).prepare().url},
    )


def refuse_next_sf_order(sandbox_url: str) -> None:
    partner = settings.SF_EXPRESS["partner_id"]
    _post(f"{sandbox_url}/sandbox/sf/_control/partners/{partner}/refuse_next_order")


def scan(sandbox_url: str, courier: str, waybill_no: str, op_code: str, **fields: str) -> None:
    """One courier scan of the waybill, which the sandbox pushes to the service."""
    _post(
        f"{sandbox_url}/sandbox/{courier}/_control/waybills/{waybill_no}/scan",
        {"opCode": op_code, **fields},
    )
