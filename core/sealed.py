"""The core fields sealed by core.pii, for ``manage.py reseal_personal_data``."""

from __future__ import annotations

from core.idempotency import RESPONSE_COLUMN
from core.models import IdempotencyRecord
from core.pii_fields import SealedField, SealedModel

SEALED = (SealedModel(IdempotencyRecord, (SealedField("response_encrypted", RESPONSE_COLUMN),)),)
