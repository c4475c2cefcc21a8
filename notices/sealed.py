"""The notices' fields sealed by core.pii, for ``manage.py reseal_personal_data``."""

from __future__ import annotations

from core.pii_fields import BlindIndex, SealedField, SealedModel
from notices.models import SmsMessage

PHONE_COLUMN = "sms_message.phone"  # the associated data a notice's phone is sealed with

SEALED = (
    SealedModel(
        SmsMessage,
        (SealedField("phone_encrypted", PHONE_COLUMN, BlindIndex("phone_index", purpose="phone")),),
    ),
)
