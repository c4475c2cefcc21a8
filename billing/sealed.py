"""The billing fields sealed by core.pii, for ``manage.py reseal_personal_data``."""

from __future__ import annotations

from billing import revenue, webhooks
from billing.models import PaymentOrder, RevenueSystem, WebhookEndpoint
from core.pii_fields import BlindIndex, SealedField, SealedModel

# The associated data billing/services/orders.py seals the payer's fields with.
PAYER_ID_NUMBER = "order.payer_id_number"
PAYER_PHONE = "order.payer_phone"

SEALED = (
    SealedModel(
        PaymentOrder,
        (
            SealedField(
                "payer_id_number_encrypted",
                PAYER_ID_NUMBER,
                BlindIndex("payer_id_number_index", purpose="id_number"),
            ),
            SealedField(
                "payer_phone_encrypted",
                PAYER_PHONE,
                BlindIndex("payer_phone_index", purpose="phone"),
            ),
        ),
    ),
    SealedModel(RevenueSystem, (SealedField("secret_encrypted", revenue.SECRET_COLUMN),)),
    SealedModel(WebhookEndpoint, (SealedField("secret_encrypted", webhooks.SECRET_COLUMN),)),
)
