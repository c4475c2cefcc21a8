from django.contrib import admin

from core.admin_base import ReadOnlyAdmin, ReadOnlyInline
from ledger.models import LedgerAccount, LedgerEntry, LedgerPosting


class LedgerEntryInline(ReadOnlyInline):
    model = LedgerEntry
    fields = ["account", "debit", "credit"]
    readonly_fields = fields


@admin.register(LedgerPosting)
class LedgerPostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reference", "business_date", "created_at"]
    list_filter = ["kind", "business_date"]
    search_fields = ["reference"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind"]
