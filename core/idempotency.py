"""Idempotent writes: the first response for a client's key is stored and replayed.

The response is stored encrypted: a create's answer can hold a secret shown only once.

The key's row is inserted in the same transaction as the write it guards, so the
database's unique constraint decides which of several concurrent requests does the
work; the others wait for it to commit and then replay its response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from core import pii
from core.errors import IdempotencyConflict, InvalidRequest
from core.models import ApiClient, IdempotencyRecord

MAX_KEY_LENGTH = 255
RESPONSE_COLUMN = "idempotency_record.response"


@dataclass(frozen=True)
class IdempotentResult:
    status: int
    body: dict
    replayed: bool


def request_fingerprint(payload: object) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_idempotency_key(key: str | None) -> str:
    if not key:
        raise InvalidRequest(
            "The Idempotency-Key header is required.", code="idempotency_key_missing"
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"The Idempotency-Key must be at most {MAX_KEY_LENGTH} printable characters.",
            code="idempotency_key_invalid",
        )
    return key


def idempotent_call(
    *,
    client: ApiClient,
    scope: str,
    key: str,
    payload: object,
    operation: Callable[[], tuple[int, dict]],
) -> IdempotentResult:
    """Run ``operation`` once per (client, scope, key), inside one durable transaction."""
    fingerprint = request_fingerprint(payload)
    with transaction.atomic(durable=True):
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    client=client, scope=scope, key=key, request_hash=fingerprint
                )
        except IntegrityError:
            record = None
        if record is None:
            return _replay(client=client, scope=scope, key=key, fingerprint=fingerprint)
        status, body = operation()
        record.response_status = status
        record.response_encrypted = pii.encrypt(
            json.dumps(body, ensure_ascii=False), column=RESPONSE_COLUMN
        )
        record.save(update_fields=["response_status", "response_encrypted"])
    return IdempotentResult(status=status, body=body, replayed=False)


def _replay(*, client: ApiClient, scope: str, key: str, fingerprint: str) -> IdempotentResult:
    first = IdempotencyRecord.objects.get(client=client, scope=scope, key=key)
    if first.request_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    body = json.loads(pii.decrypt(first.response_encrypted, column=RESPONSE_COLUMN))
    return IdempotentResult(status=first.response_status, body=body, replayed=True)
