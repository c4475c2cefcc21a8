"""Admin for the revenue systems (their secret is write-only) and the records pushed to them."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from billing.models import RevenuePushAttempt, RevenueRecord, RevenueSystem
from billing.revenue import SECRET_COLUMN
from billing.selectors import scoped_department_ids
from core import pii
from core.admin_base import ReadOnlyInline
from core.audit import audit_record
from outbox.admin import OutboxAdmin


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
class RevenueRecordAdmin(OutboxAdmin):
    outbox_kind = "revenue_record"
    list_display = [
        "public_id",
        "kind",
        "order",
        "sequence",
        "revenue_system",
        "status",
        "receipt_no",
    ]
    list_filter = ["kind", "revenue_system"]
    list_select_related = ["order", "revenue_system"]
    search_fields = ["public_id", "order__public_id", "order__payment_code", "receipt_no"]
    date_hierarchy = "created_at"
    inlines = [PushAttemptInline]

    def get_queryset(self, request):
        departments = scoped_department_ids(request.user)
        queryset = super().get_queryset(request)
        if departments is None:
            return queryset
        return queryset.filter(order__department__in=departments)
