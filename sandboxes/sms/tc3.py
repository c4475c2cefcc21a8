"""How Tencent Cloud API 3.0 checks a request's signature (TC3-HMAC-SHA256, 签名方法 v3).

``Authorization: TC3-HMAC-SHA256 Credential=<SecretId>/<date>/<service>/tc3_request,
SignedHeaders=<names>, Signature=<hex>``. The API rebuilds the canonical request from what
it received: the method, the URI ``/``, the query string, each signed header as
``name:value`` (both lower-case, trimmed) on its own line, the signed header names, and
the hex SHA-256 of the body; hashes it into the string to sign with the timestamp and the
scope; derives the key from the SecretKey through the date, the service and
``tc3_request``; and compares. The date is the UTC date of ``X-TC-Timestamp``.
"""

from __future__ import annotations

import hmac as stdlib_hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes, hmac

ALGORITHM = "TC3-HMAC-SHA256"
REQUIRED_HEADERS = frozenset({"content-type", "host"})

_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/,\s]+)/(?P<scope>[^,\s]+), "
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


class Unreadable(ValueError):
    """An Authorization header that is not TC3-HMAC-SHA256's."""


@dataclass(frozen=True)
class Authorization:
    secret_id: str
    scope: str  # <date>/<service>/tc3_request
    signed_headers: tuple[str, ...]
    signature: str


def read_authorization(header: str) -> Authorization:
    found = _AUTHORIZATION.fullmatch(header.strip())
    if found is None:
        raise Unreadable("not a TC3-HMAC-SHA256 Authorization")
    names = tuple(found["headers"].split(";"))
    if not set(names) >= REQUIRED_HEADERS or list(names) != sorted(names):
        raise Unreadable("SignedHeaders must list content-type and host, in order")
    return Authorization(found["secret_id"], found["scope"], names, found["signature"])


def scope_of(timestamp: int, service: str) -> str:
    day = datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    return f"{day}/{service}/tc3_request"


def signature_matches(
    authorization: Authorization,
    *,
    secret_key: str,
    service: str,
    timestamp: int,
    method: str,
    query: str,
    header: Callable[[str], str],
    body: bytes,
) -> bool:
    """Whether the request, as received (``header(name)`` gives a received header's value),
    carries the signature its Authorization claims, for this timestamp and service."""
    if authorization.scope != scope_of(timestamp, service):
        return False
    lines = [f"{name}:{header(name).strip().lower()}\n" for name in authorization.signed_headers]
    canonical = "\n".join(
        [
            method,
            "/",
            query,
            "".join(lines),
            ";".join(authorization.signed_headers),
            _sha256_hex(body),
        ]
    )
    text = f"{ALGORITHM}\n{timestamp}\n{authorization.scope}\n{_sha256_hex(canonical.encode())}"
    key = ("TC3" + secret_key).encode()
    for part in authorization.scope.split("/"):
        key = _mac(key, part.encode())
    expected = _mac(key, text.encode()).hex()
    return stdlib_hmac.compare_digest(expected, authorization.signature)


def _sha256_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def _mac(key: bytes, data: bytes) -> bytes:
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(data)
    return mac.finalize()
