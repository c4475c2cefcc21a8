"""Read-only admin for webhook endpoints, events, deliveries and attempts, with "retry now"."""

from __future__ import annotations

from django.contrib import admin

from billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent
from billing.selectors import scoped_department_ids
from core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from outbox.admin import OutboxAdmin


class DepartmentScopedAdmin(ReadOnlyAdmin):
    """Read-only rows of models with a department: scoped staff see their departments'."""

    def get_queryset(self, request):
        departments = scoped_department_ids(request.user)
        queryset = super().get_queryset(request).select_related("department")
        return queryset if departments is None else queryset.filter(department__in=departments)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "client", "url", "events", "active", "created_at"]
    list_filter = ["active"]
    search_fields = ["public_id", "url", "client__name"]
    exclude = ["secret_encrypted"]


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    fields = ["endpoint", "status", "attempt_count", "last_status_code", "next_attempt_at"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "type", "owner", "created_at"]
    list_filter = ["type"]
    list_select_related = ["owner"]
    search_fields = ["public_id", "owner__name"]
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]


class AttemptInline(ReadOnlyInline):
    model = WebhookDeliveryAttempt
    fields = ["at", "status_code", "error", "duration_ms"]
    show_change_link = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OutboxAdmin):
    outbox_kind = "webhook_delivery"
    list_display = ["id", "event", "endpoint", "status", "last_status_code"]
    list_filter = ["event__type"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["event__public_id", "endpoint__public_id"]
    inlines = [AttemptInline]
