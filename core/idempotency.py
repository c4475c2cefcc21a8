"""Idempotent writes: the first response for a client's key is stored and replayed.

The response is stored encrypted: a create's answer can hold a secret shown only once.

The key's row is inserted in the same transaction as the write it guards, so the
database's unique constraint decides which of several concurrent requests does the
work; the others wait for it to commit and then replay its response. The row is written
once, with the answer, after the work, as one statement (``ON CONFLICT DO NOTHING``): no
savepoint is needed to survive a conflict, and a request whose key was used rolls its
work back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from core import pii
from core.errors import DomainError, IdempotencyConflict, InvalidRequest
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

# One statement, no savepoint: the key and the answer are this request's, or the key was
# used before (a request still in flight with it is waited for).
_STORE_ANSWER_SQL = """
INSERT INTO core_idempotencyrecord
    (client_id, scope, key, request_hash, response_status, response_encrypted, created_at)
VALUES (%s, %s, %s, %s, %s, %s, now())
ON CONFLICT ON CONSTRAINT idempotency_key_unique DO NOTHING
RETURNING id
"""


class _KeyUsed(Exception):
    """The key was used by an earlier request: this one's work is rolled back."""


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
    """Do the work, then store the key with its answer in the same transaction.

    If the key was used before, the work is rolled back and the first answer replayed. An
    operation refused because the first request already did it (a refund of money already
    refunded) is replayed too: the key is looked up when the operation fails.
    """
    try:
        with transaction.atomic(durable=True):
            status, body = operation()
            answer = pii.encrypt(json.dumps(body, ensure_ascii=False), column=RESPONSE_COLUMN)
            with connection.cursor() as cursor:
                cursor.execute(
                    _STORE_ANSWER_SQL, [client.pk, scope, key, fingerprint, status, answer]
                )
                if cursor.fetchone() is None:
                    raise _KeyUsed
    except _KeyUsed:
        return _replay(client=client, scope=scope, key=key, fingerprint=fingerprint)
    except DomainError:
        if IdempotencyRecord.objects.filter(client=client, scope=scope, key=key).exists():
            return _replay(client=client, scope=scope, key=key, fingerprint=fingerprint)
        raise
    return IdempotentResult(status=status, body=body, replayed=False)


def _replay(*, client: ApiClient, scope: str, key: str, fingerprint: str) -> IdempotentResult:
    first = IdempotencyRecord.objects.get(client=client, scope=scope, key=key)
    if first.request_hash != fingerprint:
        raise IdempotencyConflict("This Idempotency-Key was used with a different request body.")
    body = json.loads(pii.decrypt(first.response_encrypted, column=RESPONSE_COLUMN))
    return IdempotentResult(status=first.response_status, body=body, replayed=True)
