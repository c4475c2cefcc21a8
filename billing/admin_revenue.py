"""Admin for the revenue systems (their secret is write-only) and the records pushed to them."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from billing.admin_webhooks import ReadOnlyAdmin, ReadOnlyInline
from billing.models import RevenuePushAttempt, RevenueRecord, RevenueSystem
from billing.revenue import SECRET_COLUMN, revenue_record_retry_now
from billing.selectors import scoped_department_ids
from core import pii
from core.audit import audit_record
from core.errors import DomainError


class RevenueSystemForm(forms.ModelForm):
    base_url = forms.URLField(max_length=500, assume_scheme="https")
    secret = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="The app secret the system issued; leave empty to keep the current one.",
    )

    class Meta:
        model = RevenueSystem
        fields = ["code", "name", "region_prefix", "base_url", "app_key", "active"]

    def clean(self) -> dict:
        cleaned = super().clean()
        if not self.instance.secret_encrypted and not cleaned.get("secret"):
            self.add_error("secret", "A new revenue system needs its app secret.")
        return cleaned


@admin.register(RevenueSystem)
class RevenueSystemAdmin(admin.ModelAdmin):
    form = RevenueSystemForm
    list_display = ["code", "name", "region_prefix", "base_url", "app_key", "active"]
    list_filter = ["active"]
    search_fields = ["code", "name", "region_prefix"]

    def save_model(self, request, obj, form, change) -> None:
        if form.cleaned_data.get("secret"):
            obj.secret_encrypted = pii.encrypt(form.cleaned_data["secret"], column=SECRET_COLUMN)
        super().save_model(request, obj, form, change)
        audit_record(
            actor=f"user:{request.user.get_username()}",
            action="revenue_system.update" if change else "revenue_system.create",
            obj=obj,
            data={
                "changed": form.changed_data,
                "region_prefix": obj.region_prefix,
                "active": obj.active,
            },
        )


class PushAttemptInline(ReadOnlyInline):
    model = RevenuePushAttempt
    fields = ["at", "action", "status_code", "receipt_no", "error", "duration_ms"]
    show_change_link = False


@admin.register(RevenueRecord)
class RevenueRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "kind",
        "order",
        "sequence",
        "revenue_system",
        "status",
        "receipt_no",
        "attempt_count",
        "last_error",
        "next_attempt_at",
    ]
    list_filter = ["status", "kind", "revenue_system"]
    list_select_related = ["order", "revenue_system"]
    search_fields = ["public_id", "order__public_id", "order__payment_code", "receipt_no"]
    date_hierarchy = "created_at"
    inlines = [PushAttemptInline]
    actions = ["retry_now"]

    def get_queryset(self, request):
        departments = scoped_department_ids(request.user)
        queryset = super().get_queryset(request)
        if departments is None:
            return queryset
        return queryset.filter(order__department__in=departments)

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        actor = f"user:{request.user.get_username()}"
        retried = 0
        for record_id in queryset.values_list("pk", flat=True):
            try:
                revenue_record_retry_now(record_id=record_id, actor=actor)
            except DomainError as exc:
                self.message_user(request, f"Record {record_id}: {exc.message}", messages.ERROR)
            else:
                retried += 1
        self.message_user(request, f"{retried} revenue records queued for another attempt.")

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.retry_revenuerecord")
