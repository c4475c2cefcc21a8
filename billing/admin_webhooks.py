"""Read-only admin for webhook endpoints, events, deliveries and attempts, with "retry now"."""

from __future__ import annotations

from django.contrib import admin, messages

from billing.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookEvent
from billing.selectors import scoped_department_ids
from billing.webhooks import webhook_delivery_retry_now
from core.errors import DomainError


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DepartmentScopedAdmin(ReadOnlyAdmin):
    """Read-only rows of models with a department: scoped staff see their departments'."""

    def get_queryset(self, request):
        departments = scoped_department_ids(request.user)
        queryset = super().get_queryset(request).select_related("department")
        return queryset if departments is None else queryset.filter(department__in=departments)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


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
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "last_attempt_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event__type"]
    list_select_related = ["event", "endpoint"]
    search_fields = ["event__public_id", "endpoint__public_id"]
    inlines = [AttemptInline]
    actions = ["retry_now"]

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        actor = f"user:{request.user.get_username()}"
        retried = 0
        for delivery_id in queryset.values_list("pk", flat=True):
            try:
                webhook_delivery_retry_now(delivery_id=delivery_id, actor=actor)
            except DomainError as exc:
                self.message_user(request, f"Delivery {delivery_id}: {exc.message}", messages.ERROR)
            else:
                retried += 1
        self.message_user(request, f"{retried} deliveries queued for another attempt.")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.retry_webhookdelivery")
