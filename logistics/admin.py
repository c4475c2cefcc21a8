"""Read-only admin for shipments (personal data masked) and the pushes couriers sent."""

from __future__ import annotations

from django.contrib import admin

from billing.admin_webhooks import DepartmentScopedAdmin
from core.admin_base import ReadOnlyInline
from logistics.models import CourierPush, Shipment, ShipmentItem, ShipmentPart, TrackingEvent
from outbox.admin import OutboxAdmin


class ItemInline(ReadOnlyInline):
    model = ShipmentItem
    fields = ["kind", "title", "issuing_agency", "number", "copies"]
    show_change_link = False


class PartInline(ReadOnlyInline):
    model = ShipmentPart
    fields = ["issuing_agency", "ready_at", "active"]
    show_change_link = False


class EventInline(ReadOnlyInline):
    model = TrackingEvent
    fields = [
        "occurred_at",
        "code",
        "status",
        "reason",
        "location",
        "description",
        "source",
        "confirmed",
    ]
    show_change_link = False


@admin.register(Shipment)
class ShipmentAdmin(DepartmentScopedAdmin):
    list_display = [
        "public_id",
        "case_number",
        "department",
        "kind",
        "courier",
        "waybill_no",
        "status",
        "deliver_by",
        "at_risk_since",
        "overdue_since",
        "stale_since",
        "undeliverable_action",
    ]
    list_filter = ["status", "courier", "kind", "freight_payer", "department"]
    search_fields = ["public_id", "case_number", "waybill_no"]
    exclude = [
        "sender_encrypted",
        "recipient_encrypted",
        "pod_signer_encrypted",
        "recipient_phone_index",
    ]
    inlines = [ItemInline, PartInline, EventInline]


@admin.register(CourierPush)
class CourierPushAdmin(OutboxAdmin):
    outbox_kind = "courier_push"
    list_display = ["id", "courier", "status", "source_ip", "received_at", "applied_at", "error"]
    list_filter = ["courier"]
    exclude = ["body_encrypted", "events_encrypted"]
