from django.contrib import admin

from billing import admin_webhooks  # noqa: F401  (registers the webhook admin)
from billing.models import (
    Department,
    FeeItem,
    LedgerAccount,
    LedgerEntry,
    LedgerPosting,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderLine,
    StaffScope,
)
from billing.selectors import scoped_department_ids


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records change only through services; the admin shows them.

    ``department_path`` names the lookup to the department, for staff limited to some.
    """

    department_path = ""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        departments = scoped_department_ids(request.user)
        if departments is None or not self.department_path:
            return queryset
        return queryset.filter(**{f"{self.department_path}__in": departments})

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region_code", "settlement_bank", "active"]
    search_fields = ["code", "name"]


@admin.register(FeeItem)
class FeeItemAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "department",
        "standard_amount",
        "min_amount",
        "max_amount",
        "active",
    ]
    list_filter = ["department", "active"]
    search_fields = ["code", "name", "legal_basis"]


@admin.register(StaffScope)
class StaffScopeAdmin(admin.ModelAdmin):
    filter_horizontal = ["departments"]


class PaymentOrderLineInline(admin.TabularInline):
    model = PaymentOrderLine
    fields = ["fee_item", "quantity", "unit_amount", "amount", "waiver_reason"]
    readonly_fields = fields
    extra = 0
    can_delete = False


class PaymentAttemptInline(admin.TabularInline):
    model = PaymentAttempt
    fields = ["public_id", "channel", "status", "amount", "paid_at", "settles_order", "refund_due"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(PaymentOrder)
class PaymentOrderAdmin(ReadOnlyAdmin):
    department_path = "department"
    list_display = [
        "public_id",
        "payment_code",
        "case_number",
        "department",
        "amount",
        "status",
        "created_at",
    ]
    list_filter = ["status", "department"]
    search_fields = ["public_id", "payment_code", "case_number"]
    exclude = [
        "payer_id_number_encrypted",
        "payer_id_number_index",
        "payer_phone_encrypted",
        "payer_phone_index",
        "verification_code_hash",
    ]
    inlines = [PaymentOrderLineInline, PaymentAttemptInline]


@admin.register(PaymentAttempt)
class PaymentAttemptAdmin(ReadOnlyAdmin):
    department_path = "order__department"
    list_display = ["public_id", "order", "channel", "status", "amount", "refund_due", "created_at"]
    list_filter = ["channel", "status", "refund_due"]
    search_fields = ["public_id", "provider_trade_no"]


@admin.register(PaymentNotification)
class PaymentNotificationAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "channel", "out_trade_no", "verified", "outcome"]
    list_filter = ["channel", "outcome", "verified"]
    search_fields = ["out_trade_no", "notify_id"]


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "debit", "credit"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(LedgerPosting)
class LedgerPostingAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "reference", "business_date", "created_at"]
    list_filter = ["kind", "business_date"]
    search_fields = ["reference"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "kind"]
