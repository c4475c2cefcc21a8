"""Labels for status codes a template holds apart from their model (an audit row's
from/to status): ``{{ record.to_status|choice_label:record.object_type }}``.

Model instances show their own labels with ``get_<field>_display``; this is for the codes
that only name their model by its class name.
"""

from __future__ import annotations

from django import template

from billing.models import (
    AttemptStatus,
    ChannelHealth,
    DeliveryStatus,
    OrderStatus,
    Processor,
    ReceiptStatus,
    RefundStatus,
    RevenueRecordStatus,
)
from logistics.models import ShipmentStatus
from reconciliation.models import Clearing, DiscrepancyStatus, RunStatus

register = template.Library()

STATUS_CHOICES = {
    "PaymentOrder": OrderStatus,
    "PaymentAttempt": AttemptStatus,
    "Refund": RefundStatus,
    "RevenueRecord": RevenueRecordStatus,
    "Receipt": ReceiptStatus,
    "WebhookDelivery": DeliveryStatus,
    "Processor": Processor.Status,
    "ChannelHealth": ChannelHealth.State,
    "Shipment": ShipmentStatus,
    "ReconciliationRun": RunStatus,
    "Discrepancy": DiscrepancyStatus,
    "Clearing": Clearing.Arrival,
}


@register.filter
def choice_label(code: str, object_type: str) -> str:
    """The status's label in the active language; a code of no known status stays as it is."""
    choices = STATUS_CHOICES.get(object_type)
    if choices is None or code not in choices.values:
        return code
    return choices(code).label
