"""Request signatures of the revenue push protocol (docs/revenue_push.md).

The string to sign is eight lines joined by ``\\n``: the signature method, the HTTP
method, the URL path, the canonical query (pairs sorted, ``k=v`` joined by ``&``), the
app key, the timestamp (Unix seconds), the nonce and the lowercase hex SHA-256 of the
body. The signature is Base64 of HMAC-SHA256 over it, keyed with the UTF-8 app secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

METHOD = "HMAC-SHA256"
APP_KEY_HEADER = "X-App-Key"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
METHOD_HEADER = "X-Signature-Method"
SIGNATURE_HEADER = "X-Signature"


def canonical_query(params: Mapping[str, str]) -> str:
    pairs = sorted((quote(key, safe=""), quote(value, safe="")) for key, value in params.items())
    return "&".join(f"{key}={value}" for key, value in pairs)


def string_to_sign(
    *,
    http_method: str,
    path: str,
    query: Mapping[str, str],
    app_key: str,
    timestamp: str,
    nonce: str,
    body: bytes,
) -> bytes:
    lines = (
        METHOD,
        http_method.upper(),
        path,
        canonical_query(query),
        app_key,
        timestamp,
        nonce,
        hashlib.sha256(body).hexdigest(),
    )
    return "\n".join(lines).encode("utf-8")


def sign(secret: str, text: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text, hashlib.sha256).digest()).decode()


def matches(secret: str, text: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, text).encode(), signature.encode())
