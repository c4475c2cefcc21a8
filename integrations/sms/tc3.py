"""Tencent Cloud API 3.0's request signature, TC3-HMAC-SHA256 (签名方法 v3), as pure functions.

The canonical request is the method, the URI (``/``: the API has one path), the query
string (empty for a POST), the signed headers as ``name:value`` lines (names and values
lower-cased and trimmed), their names joined by ``;``, and the hex SHA-256 of the body,
joined by line feeds. The string to sign is the algorithm, the timestamp, the credential
scope ``<UTC date>/<service>/tc3_request`` and the hex SHA-256 of the canonical request.
The signing key is derived from the secret key by HMAC-SHA256 chained over ``"TC3" +
secret key``, the date, the service and ``tc3_request``; the signature is the hex
HMAC-SHA256 of the string to sign under it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"
TERMINATOR = "tc3_request"
CANONICAL_URI = "/"
SIGNED_HEADERS = ("content-type", "host")


def utc_date(timestamp: int) -> str:
    """The date of a Unix timestamp in UTC, as the credential scope names it."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def canonical_request(method: str, headers: Mapping[str, str], payload: bytes) -> str:
    """The canonical request of a POST (no query string) signing ``headers``, by name."""
    names = sorted(name.strip().lower() for name in headers)
    lines = "".join(f"{name}:{_value(headers, name)}\n" for name in names)
    return "\n".join(
        (
            method.upper(),
            CANONICAL_URI,
            "",
            lines,
            ";".join(names),
            hashlib.sha256(payload).hexdigest(),
        )
    )


def _value(headers: Mapping[str, str], name: str) -> str:
    value = next(v for key, v in headers.items() if key.strip().lower() == name)
    return value.strip().lower()


def credential_scope(timestamp: int, service: str) -> str:
    return f"{utc_date(timestamp)}/{service}/{TERMINATOR}"


def string_to_sign(timestamp: int, service: str, canonical: str) -> str:
    hashed = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope(timestamp, service)}\n{hashed}"


def signature(secret_key: str, timestamp: int, service: str, text: str) -> str:
    key = _hmac(f"TC3{secret_key}".encode(), utc_date(timestamp))
    key = _hmac(_hmac(key, service), TERMINATOR)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    payload: bytes,
) -> str:
    """The ``Authorization`` header of a POST whose signed ``headers`` (content-type and
    host) and body are given."""
    canonical = canonical_request("POST", headers, payload)
    text = string_to_sign(timestamp, service, canonical)
    signed = signature(secret_key, timestamp, service, text)
    names = ";".join(sorted(name.strip().lower() for name in headers))
    scope = credential_scope(timestamp, service)
    return f"{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={names}, Signature={signed}"
