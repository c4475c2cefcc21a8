"""The receipt platform's requests and answers as pure functions (docs/receipt_platform.md).

A request is six form parameters: ``appid``, ``service``, ``version``, ``noise``,
``message`` (Base64 of the UTF-8 JSON business message) and ``sign``, the lower-case hex
HMAC-SM3 (or HMAC-SHA256, as the app is registered) keyed with the appKey over the
other parameters as ``name=value``, sorted by name and joined by ``&``. An answer is JSON
``{result, message, sign}`` signed the same way; ``result`` ``S0000`` is success.
Amounts are fen here and yuan with two decimals on the wire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from integrations.crypto import sm3
from integrations.errors import ProviderDeclined, ProviderError
from integrations.receipts.base import ReceiptItem, ReceiptRequest, RedReceiptRequest

VERSION = "1.0"
HMAC_SM3 = "HMAC-SM3"
HMAC_SHA256 = "HMAC-SHA256"
SIGN_METHODS = (HMAC_SM3, HMAC_SHA256)
SUCCESS = "S0000"
NO_SUCH_RECEIPT = "E3001"

_YUAN = re.compile(r"(-?)(0|[1-9][0-9]{0,15})\.([0-9]{2})")


# -- signatures ----------------------------------------------------------------------------


def text_to_sign(parameters: Mapping[str, str]) -> bytes:
    pairs = (f"{name}={parameters[name]}" for name in sorted(parameters) if name != "sign")
    return "&".join(pairs).encode("utf-8")


def sign(method: str, app_key: str, parameters: Mapping[str, str]) -> str:
    key, text = app_key.encode("utf-8"), text_to_sign(parameters)
    if method == HMAC_SM3:
        return sm3.hmac(key, text).hex()
    if method == HMAC_SHA256:
        return hmac.new(key, text, hashlib.sha256).hexdigest()
    raise ValueError(f"no signature method {method!r}; one of {', '.join(SIGN_METHODS)}")


def signed_parameters(
    *,
    app_id: str,
    app_key: str,
    sign_method: str,
    service: str,
    message: Mapping[str, Any],
    noise: str,
) -> dict[str, str]:
    """The form of one request."""
    parameters = {
        "appid": app_id,
        "service": service,
        "version": VERSION,
        "noise": noise,
        "message": encode_message(message),
    }
    return {**parameters, "sign": sign(sign_method, app_key, parameters)}


def encode_message(message: Mapping[str, Any]) -> str:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# -- answers -------------------------------------------------------------------------------


def read_answer(
    content: bytes, *, sign_method: str, app_key: str, http_status: int = 200
) -> dict[str, Any]:
    """The business message of a signed answer with result S0000; ProviderDeclined with
    the platform's result code otherwise, ProviderError if it is not a signed answer."""
    try:
        answer = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        answer = None
    fields = ("result", "message", "sign")
    if not isinstance(answer, dict) or not all(isinstance(answer.get(f), str) for f in fields):
        raise ProviderError("the answer is not the platform's JSON", http_status=http_status)
    signed = {"result": answer["result"], "message": answer["message"]}
    expected = sign(sign_method, app_key, signed).encode()
    if not hmac.compare_digest(expected, answer["sign"].encode()):
        raise ProviderError("the answer's sign does not verify", http_status=http_status)
    message = _decoded(answer["message"], http_status)
    if answer["result"] != SUCCESS:
        reason = str(message.get("msg", ""))[:200]
        raise ProviderDeclined(
            f"{answer['result']}: {reason}", code=answer["result"], http_status=http_status
        )
    return message


def _decoded(text: str, http_status: int) -> dict[str, Any]:
    try:
        message = json.loads(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        message = None
    if not isinstance(message, dict):
        raise ProviderError("the answer's message is not Base64 JSON", http_status=http_status)
    return message


def answer_text(message: Mapping[str, Any], name: str) -> str:
    value = message.get(name)
    if not isinstance(value, str):
        raise ProviderError(f"the answer's {name} is missing or not text")
    return value


def answer_xml(message: Mapping[str, Any]) -> bytes:
    try:
        return base64.b64decode(answer_text(message, "eInvoiceXml"), validate=True)
    except binascii.Error as exc:
        raise ProviderError("the answer's eInvoiceXml is not Base64") from exc


# -- business messages ---------------------------------------------------------------------


def issue_message(request: ReceiptRequest) -> dict[str, Any]:
    return {
        "bizCode": request.business_id,
        "invoicingPartyCode": request.invoicing_party_code,
        "invoicingPartyName": request.invoicing_party_name,
        "payerPartyType": str(request.payer_type),
        "payerPartyCode": request.payer_code,
        "payerPartyName": request.payer_name,
        "totalAmount": yuan(request.total_fen),
        "payCode": request.pay_code,
        "payMode": request.pay_mode,
        "payDate": f"{request.paid_on:%Y%m%d}",
        "remark": request.remark,
        "details": [_item(item) for item in request.items],
    }


def _item(item: ReceiptItem) -> dict[str, str]:
    if item.quantity is None:
        raise ValueError(f"item {item.code} has no quantity")
    return {
        "itemCode": item.code,
        "itemName": item.name,
        "itemQuantity": quantity_text(item.quantity),
        "itemUnit": item.unit,
        "itemStd": yuan(item.standard_fen),
        "itemAmount": yuan(item.amount_fen),
    }


def red_message(request: RedReceiptRequest) -> dict[str, str]:
    return {
        "bizCode": request.business_id,
        "eInvoiceCode": request.original_code,
        "eInvoiceNumber": request.original_number,
        "amount": yuan(request.amount_fen),
        "reason": request.reason,
    }


# -- amounts -------------------------------------------------------------------------------


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals: 150 -> "1.50", -500 -> "-5.00"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fen(text: str) -> int:
    """Yuan with exactly two decimals as fen; ValueError for anything else."""
    found = _YUAN.fullmatch(text)
    if found is None:
        raise ValueError(f"{text!r} is not an amount in yuan with two decimals")
    value = int(found[2]) * 100 + int(found[3])
    return -value if found[1] else value


def quantity_text(quantity: Decimal) -> str:
    """A quantity as plain decimal text without trailing zeros: 2 -> "2", 2.50 -> "2.5"."""
    return format(Decimal(quantity).normalize(), "f")
