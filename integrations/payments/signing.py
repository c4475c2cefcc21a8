"""RSA2 signatures over canonical JSON, as the unified public payment platform uses them.

The signed text of a message is its JSON object without the ``sign`` field, serialised
with sorted keys (at every depth), no whitespace and unescaped UTF-8. The signature is
SHA256withRSA (PKCS#1 v1.5), Base64-encoded into the message's top-level ``sign``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGN_TYPE = "RSA2"


class MalformedJson(ValueError):
    """Bytes that are not one JSON object in the protocol's strict subset."""


# Loading checks the whole RSA key (tens of milliseconds), and callers load per call.
@lru_cache(maxsize=16)
def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key


@lru_cache(maxsize=16)
def load_public_key(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return key


def canonical_bytes(message: Mapping[str, Any]) -> bytes:
    """The exact bytes that are signed: the message minus ``sign``, in canonical JSON."""
    unsigned = {key: value for key, value in message.items() if key != "sign"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def sign(message: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> str:
    signature = private_key.sign(canonical_bytes(message), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def signed(message: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """A copy of ``message`` with ``sign_type`` (which is itself signed) and ``sign`` added."""
    with_type = {**message, "sign_type": SIGN_TYPE}
    return {**with_type, "sign": sign(with_type, private_key)}


def verify(message: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> bool:
    """Whether ``message`` carries a valid RSA2 signature by the holder of ``public_key``."""
    signature = message.get("sign")
    if message.get("sign_type") != SIGN_TYPE or not isinstance(signature, str):
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, canonical_bytes(message), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature):
        return False
    return True


def loads_object(body: bytes | str) -> dict[str, Any]:
    """Parse one JSON object, refusing what canonical JSON cannot reproduce faithfully.

    Floats, NaN/Infinity and repeated keys are refused: the protocol has none, and each
    would let the signed text and the parsed values disagree.
    """
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        parsed = json.loads(
            text,
            parse_float=_refuse_float,
            parse_constant=_refuse_float,
            object_pairs_hook=_unique_keys,
        )
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MalformedJson("the JSON document is not an object")
    return parsed


def _refuse_float(text: str) -> Any:
    raise MalformedJson(f"non-integer number {text!r}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise MalformedJson("a JSON object repeats a key")
    return result
