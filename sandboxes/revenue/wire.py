"""The revenue push protocol v1 (docs/revenue_push.md), as the receiving system reads it.

A request is signed with five headers: ``X-App-Key``, ``X-Timestamp`` (Unix seconds),
``X-Nonce``, ``X-Signature-Method`` (``HMAC-SHA256``, or ``HMAC-SM3`` where the system
requires the national algorithm) and ``X-Signature``, the Base64 of that HMAC keyed with
the app secret (UTF-8) over the string to sign: eight lines joined by ``\\n`` with no
newline after the last: the signature method, the HTTP method in upper case, the URL path
as sent, the query (pairs sorted by key, each ``k=v`` percent-encoded, joined by ``&``,
empty without one), the app key, the timestamp, the nonce, and the lowercase hex digest
of the raw body in the method's hash (SHA-256, or SM3).
"""

from __future__ import annotations

import base64
import hmac
import string
from collections.abc import Iterable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

SIGNATURE_METHOD = "HMAC-SHA256"  # the default; a system may be set to another
# Each signature method's hash, of the body and inside the HMAC.
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "HMAC-SHA256": hashes.SHA256,
    "HMAC-SM3": hashes.SM3,
}
APP_KEY = "X-App-Key"
TIMESTAMP = "X-Timestamp"
NONCE = "X-Nonce"
METHOD = "X-Signature-Method"
SIGNATURE = "X-Signature"

# The daily record file's header (one line per record received that day, Beijing time).
DAILY_COLUMNS = (
    "record_id",
    "payment_code",
    "department_code",
    "amount_fen",
    "kind",
    "received_time",
)

# Percent-encoding leaves the unreserved characters of RFC 3986 alone.
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def percent_encoded(text: str) -> str:
    return "".join(
        char if char in _UNRESERVED else "".join(f"%{b:02X}" for b in char.encode("utf-8"))
        for char in text
    )


def query_line(pairs: Iterable[tuple[str, str]]) -> str:
    """The query's line of the string to sign: pairs sorted by key, ``k=v``, ``&`` between."""
    ordered = sorted(pairs)
    return "&".join(f"{percent_encoded(key)}={percent_encoded(value)}" for key, value in ordered)


def string_to_sign(
    *,
    http_method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    app_key: str,
    timestamp: str,
    nonce: str,
    body: bytes,
    method: str = SIGNATURE_METHOD,
) -> str:
    digest = hashes.Hash(HASHES[method]())
    digest.update(body)
    return "\n".join(
        (
            method,
            http_method.upper(),
            path,
            query_line(query),
            app_key,
            timestamp,
            nonce,
            digest.finalize().hex(),
        )
    )


def signature(secret: str, text: str, method: str = SIGNATURE_METHOD) -> str:
    mac = HMAC(secret.encode("utf-8"), HASHES[method]())
    mac.update(text.encode("utf-8"))
    return base64.b64encode(mac.finalize()).decode("ascii")


def signature_matches(secret: str, text: str, given: str, method: str = SIGNATURE_METHOD) -> bool:
    return hmac.compare_digest(signature(secret, text, method).encode(), given.encode())
