"""The unified public payment platform's protocol on the wire: the platform's side.

Written from docs/public_platform.md, the interface this service and the platform agree
on: the strict JSON its messages are, RSA2 or SM2 signatures over their canonical text,
and the layout of the daily bill. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import timedelta, timezone
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec
from tongsuopy.crypto.exceptions import InternalError as SmInternalError
from tongsuopy.crypto.exceptions import InvalidSignature as SmInvalidSignature

from sandboxes.common import loads_object

BEIJING = timezone(timedelta(hours=8))  # every time on the wire is written in Beijing time
VERSION = "1.0"
SIGN_TYPE = "RSA2"  # SHA256withRSA, PKCS#1 v1.5: the platform's default
SM2 = "SM2"  # SM2 with SM3, user id 1234567812345678, the signature in DER
SIGN_TYPES = (SIGN_TYPE, SM2)
# SM2 signs SM3(Z || text), Z binding the default user id and the signer's public key.
_SM2_WITH_SM3 = sm_ec.ECDSA(sm_hashes.SM3())

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


def signed(
    message: Mapping[str, Any], private_key: Any, sign_type: str = SIGN_TYPE
) -> dict[str, Any]:
    """The message with ``sign_type`` (itself signed) and its ``sign``: the Base64 of the
    signature over the canonical text, SHA256withRSA for RSA2, DER SM2-with-SM3 for SM2."""
    typed = {**message, "sign_type": sign_type}
    text = canonical_text(typed)
    if sign_type == SM2:
        signature = private_key.sign(text, _SM2_WITH_SM3)
    else:
        signature = private_key.sign(text, padding.PKCS1v15(), hashes.SHA256())
    return {**typed, "sign": base64.b64encode(signature).decode("ascii")}


def verify(message: Mapping[str, Any], public_key: Any, sign_type: str = SIGN_TYPE) -> bool:
    """Whether the message says ``sign_type`` and is signed in it by the holder of
    ``public_key``."""
    signature = message.get("sign")
    if message.get("sign_type") != sign_type or not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        if sign_type == SM2:
            public_key.verify(raw, canonical_text(message), _SM2_WITH_SM3)
        else:
            public_key.verify(raw, canonical_text(message), padding.PKCS1v15(), hashes.SHA256())
    # binascii.Error is a ValueError; Tongsuo reports DER it cannot read as an internal error
    except (ValueError, InvalidSignature, SmInvalidSignature, SmInternalError):
        return False
    return True


@lru_cache(maxsize=32)
def load_sm2_private_key(pem: str) -> sm_ec.EllipticCurvePrivateKey:
    key = sm_serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    if not isinstance(key, sm_ec.EllipticCurvePrivateKey) or key.curve.name != "SM2":
        raise ValueError("the private key is not an SM2 key")
    return key


@lru_cache(maxsize=32)
def load_sm2_public_key(pem: str) -> sm_ec.EllipticCurvePublicKey:
    key = sm_serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, sm_ec.EllipticCurvePublicKey) or key.curve.name != "SM2":
        raise ValueError("the public key is not an SM2 key")
    return key
