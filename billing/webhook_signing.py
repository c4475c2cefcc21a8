"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A secret is ``whsec_`` followed by base64 of random bytes; those bytes are the HMAC key.
The signed content is ``{webhook-id}.{webhook-timestamp}.{body}`` and the
``webhook-signature`` header is a space-separated list of ``v1,<base64 HMAC-SHA256>``,
so a receiver accepts a message when any one of the listed signatures matches.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"


class WebhookVerificationError(Exception):
    pass


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one message."""
    signed_content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed_content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = 300,
    *,
    now: int | None = None,
) -> None:
    """Raise WebhookVerificationError unless the headers carry a valid, recent signature."""
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get("webhook-id")
    timestamp = _timestamp(lowered.get("webhook-timestamp"))
    signatures = lowered.get("webhook-signature")
    if not msg_id or not signatures:
        raise WebhookVerificationError("missing webhook-id or webhook-signature header")
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).encode()
    if not any(
        hmac.compare_digest(candidate.encode(), expected) for candidate in signatures.split()
    ):
        raise WebhookVerificationError("no matching signature")


def _key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def _timestamp(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError as exc:
        raise WebhookVerificationError("missing or malformed webhook-timestamp header") from exc
