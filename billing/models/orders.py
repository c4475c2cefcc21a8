from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from billing.models import ids
from billing.models.reference import (
    ChargeStage,
    Department,
    FeeItem,
    FeeKind,
    PayerType,
    ServiceItem,
    WaiverRule,
)
from core.models import ApiClient


class OrderStatus(models.TextChoices):
    UNPAID = "unpaid", _("unpaid")
    PAYING = "paying", _("paying")
    PAID = "paid", _("paid")
    CANCELLED = "cancelled", _("cancelled")
    EXPIRED = "expired", _("expired")
    PARTIALLY_REFUNDED = "partially_refunded", _("partially refunded")
    REFUNDED = "refunded", _("refunded")
    # Every line waived to nothing: settled at creation, without a channel or money.
    WAIVED = "waived", _("waived")


class PaymentOrder(models.Model):
    """A payment slip (缴款单) for the fee items of one case (办件)."""

    public_id = models.CharField(max_length=40, unique=True, default=ids.order_id, editable=False)
    payment_code = models.CharField(max_length=32, unique=True)
    verification_code_hash = models.CharField(max_length=64)
    case_number = models.CharField(max_length=64, db_index=True)
    # The code the order named; its catalogue entry, checked when the order was made. Freight
    # orders (the courier's charge, no fee of a service item) and orders made before the
    # service-item catalogue have none.
    service_item_code = models.CharField(max_length=64)
    service_item = models.ForeignKey(
        ServiceItem, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    stage = models.CharField(
        max_length=16,
        choices=ChargeStage.choices,
        blank=True,
        default="",
        db_default="",
        help_text="The stage of the case its fee items are charged at; blank without an item.",
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="orders")
    region_code = models.CharField(max_length=6)
    # What the money is for, from its lines' fee items: freight is owed to a courier.
    purpose = models.CharField(max_length=8, choices=FeeKind.choices, default=FeeKind.FEE)
    payer_type = models.CharField(max_length=8, choices=PayerType.choices)
    payer_name = models.CharField(max_length=200)
    payer_id_number_encrypted = models.TextField()
    payer_id_number_index = models.CharField(max_length=64, db_index=True)
    payer_id_number_masked = models.CharField(max_length=32)
    payer_phone_encrypted = models.TextField(blank=True)
    payer_phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    amount = models.BigIntegerField(help_text="Total in fen.")
    currency = models.CharField(max_length=3, default="CNY")
    status = models.CharField(
        max_length=20, choices=OrderStatus.choices, default=OrderStatus.UNPAID
    )
    expires_at = models.DateTimeField(db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)
    refunded_amount = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(ApiClient, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0) & ~Q(status=OrderStatus.WAIVED)
                | Q(amount=0, status=OrderStatus.WAIVED),
                name="order_amount_positive_unless_waived",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=F("amount")),
                name="order_refund_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="order_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class PaymentOrderLine(models.Model):
    order = models.ForeignKey(PaymentOrder, on_delete=models.CASCADE, related_name="lines")
    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT)
    quantity = models.PositiveIntegerField()
    unit_amount = models.BigIntegerField(help_text="Charged per unit, in fen.")
    amount = models.BigIntegerField(help_text="quantity × unit_amount, in fen.")
    standard_unit_amount = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The standard per unit before any waiver, in fen (for a range, the amount "
        "assessed in it); unknown only for waived lines made before it was kept.",
    )
    # The code of the waiver rule charged under, as the order named it.
    waiver_reason = models.CharField(max_length=200, blank=True)
    waiver_rule = models.ForeignKey(
        WaiverRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    waiver_approved_by = models.CharField(max_length=100, blank=True, default="")
    waiver_approval_ref = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="line_quantity_positive"),
            models.CheckConstraint(condition=Q(unit_amount__gte=0), name="line_unit_non_negative"),
            models.CheckConstraint(
                condition=Q(amount=F("quantity") * F("unit_amount")), name="line_amount_is_product"
            ),
            models.CheckConstraint(
                condition=Q(waiver_rule__isnull=True, waiver_reason="")
                | Q(waiver_rule__isnull=False) & ~Q(waiver_reason=""),
                name="line_waiver_reason_names_its_rule",
            ),
            models.CheckConstraint(
                condition=Q(standard_unit_amount__isnull=True)
                | Q(unit_amount=F("standard_unit_amount"))
                | Q(waiver_rule__isnull=False, unit_amount__lte=F("standard_unit_amount")),
                name="line_below_its_standard_only_by_waiver",
            ),
        ]


class AttemptStatus(models.TextChoices):
    CREATED = "created", _("created")  # intent recorded, the channel not yet called
    PENDING = "pending", _("pending")  # the channel has the trade; waiting for the payer
    # the create call's outcome is unknown; a status query decides
    UNKNOWN = "unknown", _("unknown")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")
    CLOSED = "closed", _("closed")


class PaymentAttempt(models.Model):
    """One try at paying an order through one channel; our id is the out-trade number."""

    public_id = models.CharField(max_length=40, unique=True, default=ids.attempt_id, editable=False)
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="attempts")
    channel = models.CharField(max_length=32)
    status = models.CharField(
        max_length=16, choices=AttemptStatus.choices, default=AttemptStatus.CREATED
    )
    amount = models.BigIntegerField()
    provider_trade_no = models.CharField(max_length=64, blank=True)
    # A browser-carried signed request (Alipay page.pay, UnionPay) runs past 1,000 characters.
    pay_url = models.URLField(max_length=2000, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True, db_index=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    # True for the one attempt whose money paid the order.
    settles_order = models.BooleanField(default=False)
    # Money that arrived but cannot settle the order (closed order, paid twice): owed back.
    refund_due = models.BooleanField(default=False)
    next_query_at = models.DateTimeField(null=True, blank=True, db_index=True)
    query_count = models.PositiveIntegerField(default=0)
    received_amount = models.BigIntegerField(
        default=0, help_text="What the channel says it took, in fen; normally equal to amount."
    )
    routing = models.JSONField(
        default=dict,
        blank=True,
        help_text="The router's decision: what was asked, chosen, and why.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        # /metrics counts attempts by channel and status at every scrape.
        indexes = [models.Index(fields=["channel", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(settles_order=True),
                name="one_settling_attempt_per_order",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="attempt_amount_positive"),
            models.CheckConstraint(
                condition=Q(settles_order=False) | Q(status=AttemptStatus.SUCCEEDED),
                name="only_succeeded_attempt_settles",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def out_trade_no(self) -> str:
        return self.public_id


class PaymentNotification(models.Model):
    """Every inbound channel notification, stored raw before it is acted on."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("applied")
        DUPLICATE = "duplicate", _("duplicate")
        REFUND_DUE = "refund_due", _("refund due")
        REJECTED = "rejected", _("rejected")
        UNKNOWN_TRADE = "unknown_trade", _("unknown trade")

    channel = models.CharField(max_length=32)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    headers = models.JSONField(default=dict)
    # A rejected notification keeps only an excerpt: anyone can post to the endpoint.
    raw_body = models.TextField()
    body_size = models.PositiveIntegerField(null=True, blank=True)
    body_sha256 = models.CharField(max_length=64, blank=True)
    verified = models.BooleanField(default=False)
    notify_id = models.CharField(max_length=128, blank=True)
    out_trade_no = models.CharField(max_length=64, blank=True, db_index=True)
    attempt = models.ForeignKey(
        PaymentAttempt,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
