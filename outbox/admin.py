"""One admin for every kind of outbox row: read-only, filtered by status, with "retry now"."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin, messages

from core.admin_base import ReadOnlyAdmin
from core.errors import DomainError
from outbox import engine
from outbox.kinds import kind_named
from outbox.models import AppEvent

OUTBOX_FIELDS = ["attempt_count", "last_attempt_at", "next_attempt_at", "last_error"]


class OutboxAdmin(ReadOnlyAdmin):
    """Rows of one outbox kind; subclasses add the kind's own columns before these."""

    outbox_kind: ClassVar[str]
    actions = ["retry_now"]

    def get_list_display(self, request):
        return [*super().get_list_display(request), *OUTBOX_FIELDS]

    def get_list_filter(self, request):
        return ["status", *super().get_list_filter(request)]

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        kind = kind_named(self.outbox_kind)
        actor = f"user:{request.user.get_username()}"
        retried = 0
        for row_id in queryset.values_list("pk", flat=True):
            try:
                engine.retry_now(kind.name, row_id, actor=actor)
            except DomainError as exc:
                self.message_user(
                    request, f"{kind.label.capitalize()} {row_id}: {exc.message}", messages.ERROR
                )
            else:
                retried += 1
        self.message_user(request, f"{retried} × {kind.label} queued for another attempt.")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(kind_named(self.outbox_kind).retry_permission)


@admin.register(AppEvent)
class AppEventAdmin(OutboxAdmin):
    outbox_kind = "app_event"
    list_display = ["id", "topic", "subscriber", "status", "created_at", "applied_at"]
    list_filter = ["topic", "subscriber"]
    date_hierarchy = "created_at"
