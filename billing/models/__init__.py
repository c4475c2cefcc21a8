from billing.models.orders import (
    AttemptStatus,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderLine,
)
from billing.models.processors import ChannelHealth, Processor
from billing.models.receipts import Receipt, ReceiptKind, ReceiptStatus
from billing.models.reference import Department, FeeItem, FeeKind, PayerType, StaffScope
from billing.models.refunds import Refund, RefundStatus, UnsettledPayment, UnsettledPaymentStatus
from billing.models.revenue import (
    RevenuePushAttempt,
    RevenueRecord,
    RevenueRecordKind,
    RevenueRecordStatus,
    RevenueSystem,
)
from billing.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
    WebhookEvent,
)

__all__ = [
    "AttemptStatus",
    "ChannelHealth",
    "DeliveryStatus",
    "Department",
    "FeeItem",
    "FeeKind",
    "OrderStatus",
    "PayerType",
    "PaymentAttempt",
    "PaymentNotification",
    "PaymentOrder",
    "PaymentOrderLine",
    "Processor",
    "Receipt",
    "ReceiptKind",
    "ReceiptStatus",
    "Refund",
    "RefundStatus",
    "RevenuePushAttempt",
    "RevenueRecord",
    "RevenueRecordKind",
    "RevenueRecordStatus",
    "RevenueSystem",
    "StaffScope",
    "UnsettledPayment",
    "UnsettledPaymentStatus",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WebhookEvent",
]
