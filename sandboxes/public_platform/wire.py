"""The unified public payment platform's protocol on the wire: the platform's side.

Written from docs/public_platform.md, the interface this service and the platform agree
on: the strict JSON its messages are, RSA2 signatures over their canonical text, and the
layout of the daily bill. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import timedelta, timezone
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sandboxes.common import loads_object

BEIJING = timezone(timedelta(hours=8))  # every time on the wire is written in Beijing time
VERSION = "1.0"
SIGN_TYPE = "RSA2"  # SHA256withRSA, PKCS#1 v1.5

# The daily bill: a header of these columns, a line per payment or refund, then a totals
# line ``#total,<count>,<sum of payments>,<sum of refunds>``.
BILL_COLUMNS = (
    "record_type",
    "trade_no",
    "out_trade_no",
    "out_refund_no",
    "payment_code",
    "department_code",
    "amount_fen",
    "fee_fen",
    "status",
    "time",
)
BILL_TOTAL = "#total"


def parse_message(body: bytes) -> dict[str, Any]:
    """A request body as protocol JSON: one object, integers only, no key twice in an
    object. Raises common.MalformedJson for anything else, before any signature is looked at."""
    return loads_object(body)


def canonical_text(message: Mapping[str, Any]) -> bytes:
    """What a signature covers: the message without its top-level ``sign``, keys sorted by
    code point at every depth, no whitespace, non-ASCII as itself, in UTF-8."""
    unsigned = {name: value for name, value in message.items() if name != "sign"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed(message: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The message with ``sign_type`` RSA2 (itself signed) and its ``sign``: the Base64 of
    SHA256withRSA over the canonical text."""
    typed = {**message, "sign_type": SIGN_TYPE}
    signature = private_key.sign(canonical_text(typed), padding.PKCS1v15(), hashes.SHA256())
    return {**typed, "sign": base64.b64encode(signature).decode("ascii")}


def verify(message: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> bool:
    """Whether the message is RSA2-signed by the holder of ``public_key``."""
    signature = message.get("sign")
    if message.get("sign_type") != SIGN_TYPE or not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, canonical_text(message), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):  # binascii.Error is a ValueError
        return False
    return True
