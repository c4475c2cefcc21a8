from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils import timezone

from billing import (
    admin_revenue,  # noqa: F401  (registers the revenue push admin)
    admin_webhooks,  # noqa: F401  (registers the webhook admin)
)
from billing.models import (
    ChannelHealth,
    Department,
    FeeItem,
    FeeKind,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    PaymentOrderLine,
    Processor,
    Refund,
    ServiceItem,
    ServiceItemFee,
    StaffScope,
    WaiverRule,
)
from billing.models.processors import LICENCE_WARNING_DAYS
from billing.selectors import scoped_department_ids
from core import admin_base
from core.money import business_date_of


class ReadOnlyAdmin(admin_base.ReadOnlyAdmin):
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


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "region_code", "settlement_bank", "active"]
    search_fields = ["code", "name"]


class WaiverRuleInline(admin.TabularInline):
    """Rules are deactivated, never deleted: order lines name them."""

    model = WaiverRule
    fields = ["code", "label", "kind", "reduced_amount", "active"]
    extra = 0
    can_delete = False


@admin.register(FeeItem)
class FeeItemAdmin(admin.ModelAdmin):
    inlines = [WaiverRuleInline]
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


class ServiceItemFeeFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        kept = [
            form
            for form in self.forms
            if form.cleaned_data.get("fee_item") and not form.cleaned_data.get("DELETE")
        ]
        if self.instance.no_fee and kept:
            raise ValidationError("A service item declared free of charge has no fee items.")
        for form in kept:
            fee_item = form.cleaned_data["fee_item"]
            if fee_item.kind != FeeKind.FEE or fee_item.department_id != (
                self.instance.department_id
            ):
                raise ValidationError(
                    f"{fee_item.code} is not a fee collected by the item's department."
                )
        if not self.instance.no_fee and not kept:
            raise ValidationError("List the fee items it charges, or declare it free of charge.")


class ServiceItemFeeInline(admin.TabularInline):
    model = ServiceItemFee
    formset = ServiceItemFeeFormSet
    fields = ["fee_item", "stage"]
    extra = 0


@admin.register(ServiceItem)
class ServiceItemAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "department", "no_fee", "active"]
    list_filter = ["department", "no_fee", "active"]
    search_fields = ["code", "name"]
    inlines = [ServiceItemFeeInline]


@admin.register(StaffScope)
class StaffScopeAdmin(admin.ModelAdmin):
    filter_horizontal = ["departments"]


class PaymentOrderLineInline(admin.TabularInline):
    model = PaymentOrderLine
    fields = [
        "fee_item",
        "quantity",
        "standard_unit_amount",
        "unit_amount",
        "amount",
        "waiver_reason",
        "waiver_approved_by",
        "waiver_approval_ref",
    ]
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


@admin.register(Processor)
class ProcessorAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "legal_name",
        "licence_number",
        "licence_valid_until",
        "licence_warning",
        "status",
        "min_amount",
        "max_amount",
        "priority",
    ]
    list_filter = ["status", "licensed"]

    @admin.display(description="Licence")
    def licence_warning(self, processor: Processor) -> str:
        days = processor.licence_days_left(on=business_date_of(timezone.now()))
        if days is None:
            return "not required"
        if days < 0:
            return "EXPIRED"
        return f"expires in {days} days" if days <= LICENCE_WARNING_DAYS else "valid"

    def changelist_view(self, request, extra_context=None):
        today = business_date_of(timezone.now())
        for processor in Processor.objects.filter(
            licensed=True, licence_valid_until__lte=today + timedelta(days=LICENCE_WARNING_DAYS)
        ):
            messages.warning(
                request,
                f"The licence of {processor.legal_name} ({processor.licence_number}) "
                f"ends on {processor.licence_valid_until}.",
            )
        return super().changelist_view(request, extra_context)


@admin.register(ChannelHealth)
class ChannelHealthAdmin(ReadOnlyAdmin):
    list_display = ["channel", "state", "consecutive_failures", "open_until", "updated_at"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    department_path = "order__department"
    list_display = ["public_id", "order", "kind", "amount", "status", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["public_id", "provider_refund_no"]
