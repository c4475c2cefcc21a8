from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.models import ids
from billing.models.orders import PaymentAttempt, PaymentOrder
from core.models import ApiClient


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")


class Refund(models.Model):
    """A refund (退付) of part or all of the money an attempt took."""

    class Kind(models.TextChoices):
        REQUESTED = "requested", _("requested")  # asked for by the portal
        # money that could not settle its order
        UNSETTLED_PAYMENT = "unsettled_payment", _("unsettled payment")

    public_id = models.CharField(max_length=40, unique=True, default=ids.refund_id, editable=False)
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="refunds")
    attempt = models.ForeignKey(PaymentAttempt, on_delete=models.PROTECT, related_name="refunds")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REQUESTED)
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    provider_refund_no = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=255, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True, db_index=True)
    next_query_at = models.DateTimeField(null=True, blank=True, db_index=True)
    query_count = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(ApiClient, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]
        # The console lists refunds newest first: without it, every order was joined first.
        indexes = [models.Index(fields=["created_at", "id"], name="refund_created")]

    def __str__(self) -> str:
        return self.public_id

    @property
    def out_refund_no(self) -> str:
        return self.public_id


class UnsettledPaymentStatus(models.TextChoices):
    REFUNDING = "refunding", _("refunding")
    NEEDS_ATTENTION = "needs_attention", _("needs attention")
    REFUNDED = "refunded", _("refunded")


class UnsettledPayment(models.Model):
    """Money an attempt took that could not settle its order, owed back to the payer.

    Its automatic refund is tried on a schedule (``tries`` counts this round); when the last
    try is declined, finance staff see it and may give it another round.
    """

    attempt = models.OneToOneField(
        PaymentAttempt, on_delete=models.PROTECT, related_name="unsettled"
    )
    status = models.CharField(
        max_length=20,
        choices=UnsettledPaymentStatus.choices,
        default=UnsettledPaymentStatus.REFUNDING,
    )
    tries = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField(null=True, blank=True)
    last_failure = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["updated_at", "id"]
        indexes = [models.Index(fields=["status", "next_try_at"], name="unsettled_due")]
        permissions = [("retry_refund", "Can retry an automatic refund now")]

    def __str__(self) -> str:
        return f"{self.attempt_id} {self.status}"
