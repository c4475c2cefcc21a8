"""Read-only admin views of runs, files, discrepancies and clearing (changes go through the API)."""

from __future__ import annotations

from django.contrib import admin

from billing.admin_webhooks import DepartmentScopedAdmin
from core.admin_base import ReadOnlyAdmin
from reconciliation.models import Clearing, Discrepancy, ReconciliationRun, StatementFile


@admin.register(ReconciliationRun)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["business_date", "party", "status", "step", "progress", "tries", "finished_at"]
    list_filter = ["status", "party_kind", "business_date"]


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyAdmin):
    list_display = ["party", "business_date", "source", "format", "size", "sha256", "received_at"]
    list_filter = ["source", "party"]
    exclude = ["content"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")  # up to a GB each, unpacked


@admin.register(Discrepancy)
class DiscrepancyAdmin(DepartmentScopedAdmin):
    list_display = [
        "business_date",
        "party",
        "type",
        "status",
        "department",
        "our_ref",
        "their_ref",
        "our_amount",
        "their_amount",
        "owner",
    ]
    list_filter = ["type", "status", "party", "owner"]
    search_fields = ["our_ref", "their_ref", "key"]


@admin.register(Clearing)
class ClearingAdmin(DepartmentScopedAdmin):
    list_display = [
        "business_date",
        "processor",
        "department",
        "settlement_date",
        "net_amount",
        "arrival",
        "credited_amount",
    ]
    list_filter = ["processor", "arrival", "business_date"]
