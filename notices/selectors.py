"""Finding notices for staff: those of their departments' orders and shipments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet

from notices.models import SmsMessage


@dataclass(frozen=True)
class SmsFilters:
    status: str = ""
    kind: str = ""
    created_from: date | None = None
    created_to: date | None = None


def find_sms_messages(department_ids: list[int] | None, filters: SmsFilters) -> QuerySet:
    """Messages about the departments' orders and shipments (all when None), newest first,
    without the sealed number or the text."""
    messages = SmsMessage.objects.select_related("order__department", "shipment__department").defer(
        "phone_encrypted", "phone_index", "params", "text"
    )
    if department_ids is not None:
        messages = messages.filter(
            Q(order__department__in=department_ids) | Q(shipment__department__in=department_ids)
        )
    if filters.status:
        messages = messages.filter(status=filters.status)
    if filters.kind:
        messages = messages.filter(kind=filters.kind)
    if filters.created_from:
        messages = messages.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        messages = messages.filter(created_at__date__lte=filters.created_to)
    return messages.order_by("-created_at", "-id")
