"""What the outside parties hold, as their sandboxes' controls tell it: each of our ids
the revenue system, the receipt platform and the SMS gateway took, and how many times."""

from __future__ import annotations

from collections import Counter

import requests

from demo.reference import DEMO_REVENUE_SYSTEM

HTTP_TIMEOUT = 30


def _get(url: str) -> dict:
    answer = requests.get(url, timeout=HTTP_TIMEOUT)
    answer.raise_for_status()
    return answer.json()


def held_outside(sandbox: str) -> dict[str, Counter]:
    revenue = _get(f"{sandbox}/sandbox/revenue/{DEMO_REVENUE_SYSTEM['code']}/_control/records")
    receipts = _get(f"{sandbox}/sandbox/receipts/_control/receipts")
    messages = _get(f"{sandbox}/sandbox/sms/_control/messages")
    return {
        "revenue": Counter(record["record_id"] for record in revenue["records"]),
        "receipts": Counter(receipt["biz_code"] for receipt in receipts["receipts"]),
        "sms": Counter(message["session_context"] for message in messages["messages"]),
    }
