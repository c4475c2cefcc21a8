"""What billing tells the other apps: its topics and their payloads.

Published in the transaction of the change and applied by each subscriber after it
commits (outbox.events), so no other app runs under billing's locks.
"""

from __future__ import annotations

from billing.models import PaymentOrder
from outbox.events import publish

# A payment order moved: {"order_id", "order", "purpose", "previous", "status"}.
PAYMENT_ORDER_STATUS_CHANGED = "billing.payment_order.status_changed"


def payment_order_status_changed(order: PaymentOrder, *, previous: str) -> None:
    publish(
        PAYMENT_ORDER_STATUS_CHANGED,
        {
            "order_id": order.pk,
            "order": order.public_id,
            "purpose": order.purpose,
            "previous": previous,
            "status": order.status,
        },
    )
