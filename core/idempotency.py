"""Idempotent writes: the first response for a client's key is stored and replayed.

The response is stored encrypted: a create's answer can hold a secret shown only once.

The key's row is inserted in the same transaction as the write it guards, so the
database's unique constraint decides which of several concurrent requests does the
work; the others wait for it to commit and then replay its response. The insert is one
statement (``ON CONFLICT DO NOTHING``): no savepoint is needed to survive a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

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


class DrawAgain(Exception):
    """A randomly drawn unique value was taken: roll back and run the operation again."""


DRAWS = 5

# One statement, no savepoint: the row is this request's, or the key was used before.
_CLAIM_KEY_SQL = """
INSERT INTO core_idempotencyrecord
    (client_id, scope, key, request_hash, response_status, response_encrypted, created_at)
VALUES (%s, %s, %s, %s, NULL, '', now())
ON CONFLICT ON CONSTRAINT idempotency_key_unique DO NOTHING
RETURNING id
"""


def idempotent_call(
    *,
    client: ApiClient,
    scope: str,
    key: str,
    payload: object,
    operation: Callable[[], tuple[int, dict]],
) -> IdempotentResult:
    """Run ``operation`` once per (client, scope, key), inside one durable transaction.

    An operation that draws a random unique value (a payment code) and finds it taken
    raises ``DrawAgain``: the whole transaction is rolled back and run again.
    """
    fingerprint = request_fingerprint(payload)
    for _ in range(DRAWS):
        try:
            return _call_once(client, scope, key, fingerprint, operation)
        except DrawAgain:
            continue
    raise RuntimeError(f"{scope}: a unique value was taken on each of {DRAWS} draws")


def _call_once(
    client: ApiClient,
    scope: str,
    key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, dict]],
) -> IdempotentResult:
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_KEY_SQL, [client.pk, scope, key, fingerprint])
            claimed = cursor.fetchone()
        if claimed is None:
            return _replay(client=client, scope=scope, key=key, fingerprint=fingerprint)
        status, body = operation()
        IdempotencyRecord.objects.filter(pk=claimed[0]).update(
            response_status=status,
            response_encrypted=pii.encrypt(
                json.dumps(body, ensure_ascii=False), column=RESPONSE_COLUMN
            ),
        )
    return IdempotentResult(status=status, body=body, replayed=False)


def _replay(*, client: ApiClient, scope: str, key: str, fingerprint: str) -> IdempotentResult:
    first = IdempotencyRecord.objects.get(client=client, scope=scope, key=key)
    if first.request_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    body = json.loads(pii.decrypt(first.response_encrypted, column=RESPONSE_COLUMN))
    return IdempotentResult(status=first.response_status, body=body, replayed=True)
