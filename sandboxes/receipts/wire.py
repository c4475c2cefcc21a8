"""The receipt platform's envelope as the platform reads and writes it (docs/receipt_platform.md).

A request is six form parameters: ``appid``, ``service``, ``version``, ``noise``,
``message`` (Base64 of the UTF-8 JSON business message) and ``sign``. The text signed is
every other parameter as ``name=value``, sorted by name and joined by ``&``; ``sign`` is
the lower-case hex HMAC of that text (UTF-8) keyed with the app's appKey (UTF-8), with SM3
or SHA-256 as the app was registered. An answer is JSON ``{result, message, sign}``,
signed the same way over ``message`` and ``result``. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hmac as stdlib_hmac
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac

from sandboxes.common import MalformedJson, loads_object

PARAMETERS = frozenset({"appid", "service", "version", "noise", "message", "sign"})
VERSION = "1.0"
HMAC_SM3 = "HMAC-SM3"
HMAC_SHA256 = "HMAC-SHA256"
_DIGESTS = {HMAC_SM3: hashes.SM3, HMAC_SHA256: hashes.SHA256}

SUCCESS = "S0000"
BAD_PARAMETER = "E1001"
UNKNOWN_APP = "E1002"
BAD_SIGNATURE = "E1003"
WRONG_SERVICE = "E1004"
BAD_VERSION = "E1005"
BAD_MESSAGE = "E2001"
BIZ_CODE_USED = "E2002"
RANGE_USED_UP = "E2003"
NO_SUCH_RECEIPT = "E3001"
EXCEEDS_REMAINING = "E3002"
NOT_REDDENABLE = "E3003"

_YUAN = re.compile(r"(-?)(0|[1-9][0-9]{0,12})\.([0-9]{2})")


def text_to_sign(parameters: Mapping[str, str]) -> str:
    return "&".join(f"{name}={parameters[name]}" for name in sorted(parameters) if name != "sign")


def signature(method: str, app_key: str, text: str) -> str:
    mac = hmac.HMAC(app_key.encode("utf-8"), _DIGESTS[method]())
    mac.update(text.encode("utf-8"))
    return mac.finalize().hex()


def signature_matches(method: str, app_key: str, text: str, given: str) -> bool:
    return stdlib_hmac.compare_digest(signature(method, app_key, text).encode(), given.encode())


def encode_message(document: Mapping[str, Any]) -> str:
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def decode_message(text: str) -> dict[str, Any]:
    """The business message of a ``message`` parameter; ValueError if it is not Base64 of
    one strict JSON object."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("message is not Base64") from exc
    try:
        return loads_object(raw)
    except MalformedJson as exc:
        raise ValueError(f"message is not a JSON object: {exc}") from exc


def answer(result: str, document: Mapping[str, Any], app: Mapping[str, str] | None) -> dict:
    """An answer's fields, signed with the app's key; unsigned (``sign`` empty) when the
    request named no registered app."""
    fields = {"result": result, "message": encode_message(document)}
    if app is None:
        return {**fields, "sign": ""}
    return {**fields, "sign": signature(app["sign_method"], app["app_key"], text_to_sign(fields))}


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals: -500 -> "-5.00"."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def fen(text: object) -> int | None:
    """Yuan with exactly two decimals as fen; None for anything else."""
    found = _YUAN.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        return None
    value = int(found[2]) * 100 + int(found[3])
    return -value if found[1] else value
