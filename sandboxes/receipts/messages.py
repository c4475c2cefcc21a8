"""The business messages the receipt platform accepts, checked field by field.

``check`` takes a service's name and the decoded JSON object of its request's ``message``
and raises Invalid naming every field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandboxes.receipts.wire import fen

MAX_ITEMS = 99
MAX_FEN = 100_000_000_000  # one billion yuan
_BIZ_CODE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_CODE = re.compile(r"[0-9]{8}")
_NUMBER = re.compile(r"[0-9]{10}")
_CHECK_CODE = re.compile(r"[0-9a-z]{6}")
_QUANTITY = re.compile(r"(0|[1-9][0-9]{0,11})(\.[0-9]{1,6})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
PERSON, ORGANISATION = "1", "2"


class Invalid(ValueError):
    pass


def _text(limit: int, *, required: bool = True) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        return (
            isinstance(value, str)
            and (bool(value) or not required)
            and len(value) <= limit
            and not _CONTROL.search(value)
        )

    return check


def _matching(pattern: re.Pattern[str]) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


def _amount(value: object) -> bool:
    amount = fen(value)
    return amount is not None and 0 < amount <= MAX_FEN


def _quantity(value: object) -> bool:
    return _matching(_QUANTITY)(value) and Decimal(value) > 0


def _date(value: object) -> bool:
    try:
        datetime.strptime(value, "%Y%m%d")
    except (TypeError, ValueError):
        return False
    return len(value) == 8


_ISSUE = {
    "bizCode": _matching(_BIZ_CODE),
    "invoicingPartyCode": _text(32),
    "invoicingPartyName": _text(100),
    "payerPartyType": lambda value: value in (PERSON, ORGANISATION),
    "payerPartyCode": _text(32, required=False),
    "payerPartyName": _text(100),
    "totalAmount": _amount,
    "payCode": _text(32),
    "payMode": _text(32),
    "payDate": _date,
    "remark": _text(200, required=False),
    "details": lambda value: isinstance(value, list) and 0 < len(value) <= MAX_ITEMS,
}
_ITEM = {
    "itemCode": _text(32),
    "itemName": _text(100),
    "itemQuantity": _quantity,
    "itemUnit": _text(16),
    "itemStd": _amount,
    "itemAmount": _amount,
}
_RED = {
    "bizCode": _matching(_BIZ_CODE),
    "eInvoiceCode": _matching(_CODE),
    "eInvoiceNumber": _matching(_NUMBER),
    "amount": _amount,
    "reason": _text(200),
}
_QUERY = {"bizCode": _matching(_BIZ_CODE)}
_DOWNLOAD = {"eInvoiceCode": _matching(_CODE), "eInvoiceNumber": _matching(_NUMBER)}
_VERIFY = {**_DOWNLOAD, "randomNumber": _matching(_CHECK_CODE)}


def _checked(document: Mapping[str, Any], rules: Mapping[str, Callable[[object], bool]]) -> list:
    """The names at fault: missing, invalid, or not in the rules."""
    wrong = [name for name, rule in rules.items() if not rule(document.get(name))]
    return wrong + sorted(set(document) - set(rules))


def _raise_if(wrong: list[str]) -> None:
    if wrong:
        raise Invalid(f"missing or invalid: {', '.join(wrong)}")


def _issue(document: Mapping[str, Any]) -> None:
    wrong = _checked(document, _ISSUE)
    items = document.get("details") if "details" not in wrong else []
    for index, item in enumerate(items):
        found = _checked(item, _ITEM) if isinstance(item, dict) else ["?"]
        wrong += [f"details[{index}].{name}" for name in found]
    organisation = document.get("payerPartyType") == ORGANISATION
    if organisation and not document.get("payerPartyCode"):
        wrong.append("payerPartyCode")
    _raise_if(wrong)
    if sum(fen(item["itemAmount"]) for item in items) != fen(document["totalAmount"]):
        raise Invalid("totalAmount is not the sum of the items' itemAmount")


_RULES = {
    "issue_red": _RED,
    "query": _QUERY,
    "download": _DOWNLOAD,
    "download_by_date": {"issueDate": _date},
    "verify": _VERIFY,
}
SERVICES = ("issue", *_RULES)


def check(service: str, document: Mapping[str, Any]) -> None:
    """Raise Invalid unless ``document`` is a valid business message of ``service``."""
    if service == "issue":
        _issue(document)
    else:
        _raise_if(_checked(document, _RULES[service]))
