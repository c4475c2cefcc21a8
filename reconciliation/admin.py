"""Read-only admin views of runs, files, discrepancies and clearing (changes go through the API)."""

from __future__ import annotations

from django.contrib import admin

from billing.admin_webhooks import ReadOnlyAdmin
from billing.selectors import scoped_department_ids
from reconciliation.models import Clearing, Discrepancy, ReconciliationRun, StatementFile


class DepartmentScoped(ReadOnlyAdmin):
    def get_queryset(self, request):
        departments = scoped_department_ids(request.user)
        queryset = super().get_queryset(request).select_related("department")
        return queryset if departments is None else queryset.filter(department__in=departments)


@admin.register(ReconciliationRun)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["business_date", "party", "status", "step", "progress", "tries", "finished_at"]
    list_filter = ["status", "party_kind", "business_date"]


@admin.register(StatementFile)
class StatementFileAdmin(ReadOnlyAdmin):
    list_display = ["party", "business_date", "source", "format", "size", "sha256", "received_at"]
    list_filter = ["source", "party"]
    exclude = ["content"]


@admin.register(Discrepancy)
class DiscrepancyAdmin(DepartmentScoped):
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
class ClearingAdmin(DepartmentScoped):
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
