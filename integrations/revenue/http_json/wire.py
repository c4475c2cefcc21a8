"""The revenue push protocol's wire format as pure functions: signatures, bodies, answers.

The string to sign is eight lines joined by ``\\n``: the signature method, the HTTP
method, the URL path, the canonical query (pairs sorted, ``k=v`` joined by ``&``), the
app key, the timestamp (Unix seconds), the nonce and the lowercase hex digest of the
body. The signature is Base64 of the HMAC over it, keyed with the UTF-8 app secret. The
method is agreed per system: HMAC-SHA256 (the body's digest SHA-256), or HMAC-SM3 (the
body's digest SM3), the national algorithm. The receiver answers JSON with ``code``
``"0"`` on success; of its refusals, only one of a stale timestamp is retryable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from integrations.crypto import sm3
from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable
from integrations.revenue.base import PushRequest, PushResult, ReceiptStatus


@dataclass(frozen=True)
class SignatureMethod:
    """A signature method: its name on the wire, its hash of the body, its HMAC."""

    name: str  # the X-Signature-Method header and the string to sign's first line
    digest: Callable[[bytes], bytes]
    mac: Callable[[bytes, bytes], bytes]  # (key, text) -> tag


HMAC_SHA256 = SignatureMethod(
    "HMAC-SHA256",
    lambda data: hashlib.sha256(data).digest(),
    lambda key, text: hmac.new(key, text, hashlib.sha256).digest(),
)
HMAC_SM3 = SignatureMethod("HMAC-SM3", sm3.digest, sm3.hmac)
METHODS = {method.name: method for method in (HMAC_SHA256, HMAC_SM3)}

APP_KEY_HEADER = "X-App-Key"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
METHOD_HEADER = "X-Signature-Method"
SIGNATURE_HEADER = "X-Signature"

SUCCESS = "0"
NOT_FOUND = "404"
# X-Timestamp more than 5 minutes from the receiver's clock: a retry is signed afresh.
STALE_TIMESTAMP = "1003"


# -- signatures ----------------------------------------------------------------------------


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
    method: SignatureMethod = HMAC_SHA256,
) -> bytes:
    lines = (
        method.name,
        http_method.upper(),
        path,
        canonical_query(query),
        app_key,
        timestamp,
        nonce,
        method.digest(body).hex(),
    )
    return "\n".join(lines).encode("utf-8")


def sign(secret: str, text: bytes, method: SignatureMethod = HMAC_SHA256) -> str:
    return base64.b64encode(method.mac(secret.encode(), text)).decode()


def matches(
    secret: str, text: bytes, signature: str, method: SignatureMethod = HMAC_SHA256
) -> bool:
    return hmac.compare_digest(sign(secret, text, method).encode(), signature.encode())


def signed_headers(
    *,
    app_key: str,
    secret: str,
    timestamp: str,
    nonce: str,
    http_method: str,
    path: str,
    query: Mapping[str, str],
    body: bytes,
    method: SignatureMethod = HMAC_SHA256,
) -> dict[str, str]:
    """The authentication headers of one request, signed with ``method``."""
    text = string_to_sign(
        http_method=http_method,
        path=path,
        query=query,
        app_key=app_key,
        timestamp=timestamp,
        nonce=nonce,
        body=body,
        method=method,
    )
    return {
        APP_KEY_HEADER: app_key,
        TIMESTAMP_HEADER: timestamp,
        NONCE_HEADER: nonce,
        METHOD_HEADER: method.name,
        SIGNATURE_HEADER: sign(secret, text, method),
    }


# -- bodies and answers --------------------------------------------------------------------


def record_body(request: PushRequest) -> bytes:
    """The JSON document of one pushed record."""
    document = {
        "record_id": request.record_id,
        "kind": request.kind,
        "sequence": request.sequence,
        **request.content,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def read_answer(status: int, content: bytes, *, accept: frozenset[str] = frozenset()) -> dict:
    """The JSON answer of a 2xx with code "0" (or a code in ``accept``); raise otherwise."""
    try:
        answer: Any = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict) or not isinstance(answer.get("code"), str):
        raise ProviderError(f"HTTP {status} without a JSON answer", http_status=status)
    code, message = answer["code"], str(answer.get("message", ""))[:200]
    if code in accept or (code == SUCCESS and 200 <= status < 300):
        return answer
    if code == STALE_TIMESTAMP:
        raise ProviderUnavailable(
            f"HTTP {status} code {code}: {message}: the request came late, or our clock and "
            "the receiver's differ",
            http_status=status,
        )
    raise ProviderDeclined(f"HTTP {status} code {code}: {message}", code=code, http_status=status)


def receipt(record_id: str, http_status: int, answer: dict) -> PushResult:
    if answer.get("record_id", record_id) != record_id:
        raise ProviderError(f"the answer is not about {record_id}", http_status=http_status)
    receipt_no = answer.get("receipt_no") or ""
    if not isinstance(receipt_no, str):
        raise ProviderError("receipt_no is not text", http_status=http_status)
    return PushResult(
        record_id=record_id,
        status=ReceiptStatus.RECEIPTED if receipt_no else ReceiptStatus.RECEIVED,
        receipt_no=receipt_no,
        http_status=http_status,
        raw=answer,
    )


def queried(record_id: str, http_status: int, answer: dict) -> PushResult:
    """A query's answer (read with NOT_FOUND accepted) as the record's state."""
    if answer["code"] == NOT_FOUND:
        return PushResult(
            record_id=record_id,
            status=ReceiptStatus.NOT_FOUND,
            http_status=http_status,
            raw=answer,
        )
    return receipt(record_id, http_status, answer)
