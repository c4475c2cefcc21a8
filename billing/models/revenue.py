"""The revenue-collection systems, the outbox of records pushed to them, and its log."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.models import ids
from billing.models.orders import PaymentOrder
from billing.models.refunds import Refund
from outbox.models import OutboxRow

region_prefix_validator = RegexValidator(
    r"^\d{2,6}$", "A region prefix is the first 2 to 6 digits of a 行政区划代码."
)


def revenue_record_id() -> str:
    return ids.new_public_id("rv")


class RevenueSystem(models.Model):
    """A revenue-collection system (收入征管系统) and the region whose records it takes."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    region_prefix = models.CharField(
        max_length=6,
        unique=True,
        validators=[region_prefix_validator],
        help_text='The longest configured prefix of a department\'s region wins: "33", "3301".',
    )
    base_url = models.URLField(max_length=500)
    app_key = models.CharField(max_length=64)
    secret_encrypted = models.TextField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["region_prefix"]

    def __str__(self) -> str:
        return f"{self.code} ({self.region_prefix})"


class RevenueRecordKind(models.TextChoices):
    PAYMENT = "payment", _("payment")
    REFUND = "refund", _("refund")


class RevenueRecordStatus(models.TextChoices):
    PENDING = "pending", _("pending")  # not yet accepted by the receiver
    DELIVERED = "delivered", _("delivered")  # accepted, no receipt number yet
    ACKNOWLEDGED = "acknowledged", _("acknowledged")  # accepted with the receiver's receipt number
    FAILED = "failed", _("failed")  # no system for the region, or gave up after the last retry


class RevenueRecord(OutboxRow):
    """An outbox row, written in the transaction of the payment or refund it records."""

    public_id = models.CharField(
        max_length=40, unique=True, default=revenue_record_id, editable=False
    )
    kind = models.CharField(max_length=8, choices=RevenueRecordKind.choices)
    order = models.ForeignKey(
        PaymentOrder, on_delete=models.PROTECT, related_name="revenue_records"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="revenue_records"
    )
    revenue_system = models.ForeignKey(
        RevenueSystem, on_delete=models.PROTECT, null=True, blank=True, related_name="records"
    )
    sequence = models.PositiveIntegerField(help_text="1 for the payment, then each refund.")
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=RevenueRecordStatus.choices, default=RevenueRecordStatus.PENDING
    )
    query_count = models.PositiveIntegerField(default=0)
    receipt_no = models.CharField(max_length=64, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        permissions = [("retry_revenuerecord", "Can retry a revenue push now")]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "sequence"], name="one_revenue_record_per_sequence"
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(kind="payment"),
                name="one_revenue_payment_record_per_order",
            ),
            models.UniqueConstraint(fields=["refund"], name="one_revenue_record_per_refund"),
            models.CheckConstraint(
                condition=Q(kind="payment", refund__isnull=True)
                | Q(kind="refund", refund__isnull=False),
                name="revenue_record_refund_iff_refund_kind",
            ),
            models.CheckConstraint(
                condition=Q(revenue_system__isnull=False) | Q(status="failed"),
                name="revenue_record_routed_unless_failed",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RevenueRecordStatus.values),
                name="revenue_record_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class RevenuePushAttempt(models.Model):
    """One call to the receiver about a record: a push, or a query for its receipt."""

    class Action(models.TextChoices):
        PUSH = "push", _("push")
        QUERY = "query", _("query")

    record = models.ForeignKey(RevenueRecord, on_delete=models.CASCADE, related_name="attempts")
    action = models.CharField(max_length=8, choices=Action.choices)
    at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    receipt_no = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=255, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
