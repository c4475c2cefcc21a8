"""The logistics fields sealed by core.pii, for ``manage.py reseal_personal_data``."""

from __future__ import annotations

import json

from core.pii_fields import BlindIndex, SealedField, SealedModel
from logistics import contacts
from logistics.models import CourierPush, Shipment, TrackingEvent
from logistics.services.tracking import PUSH_BODY, PUSH_EVENTS


def _address_phone(opened: str) -> str:
    """The phone of an address sealed by ``contacts.seal``, which ``contacts.phone_index``
    indexes."""
    return json.loads(opened)["phone"]


SEALED = (
    SealedModel(
        Shipment,
        (
            SealedField("sender_encrypted", contacts.SENDER),
            SealedField(
                "recipient_encrypted",
                contacts.RECIPIENT,
                BlindIndex("recipient_phone_index", purpose="phone", indexed=_address_phone),
            ),
            # The proof of delivery's signer, copied from its tracking event.
            SealedField("pod_signer_encrypted", contacts.SIGNER),
        ),
    ),
    SealedModel(TrackingEvent, (SealedField("signer_encrypted", contacts.SIGNER),)),
    SealedModel(
        CourierPush,
        (SealedField("body_encrypted", PUSH_BODY), SealedField("events_encrypted", PUSH_EVENTS)),
    ),
)
