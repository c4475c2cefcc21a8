from billing.models.ledger import LedgerAccount, LedgerEntry, LedgerPosting
from billing.models.orders import (
    AttemptStatus,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderLine,
)
from billing.models.reference import Department, FeeItem, PayerType, StaffScope
from billing.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "AttemptStatus",
    "DeliveryStatus",
    "Department",
    "FeeItem",
    "LedgerAccount",
    "LedgerEntry",
    "LedgerPosting",
    "OrderStatus",
    "PayerType",
    "PaymentAttempt",
    "PaymentNotification",
    "PaymentOrder",
    "PaymentOrderLine",
    "StaffScope",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
]
