"""Electronic fiscal receipts (财政电子票据): one per paid order, one red-letter per refund.

A receipt row is also the outbox row that asks the receipt platform for it: written in the
transaction of the payment or refund, its request built once and sent unchanged until the
platform issues it (billing.receipts).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import ids
from billing.models.orders import PaymentOrder
from billing.models.refunds import Refund
from outbox.models import OutboxRow


def receipt_id() -> str:
    return ids.new_public_id("rc")


class ReceiptKind(models.TextChoices):
    NORMAL = "normal", _("normal")
    RED = "red", _("red-letter")  # 冲红: reddens part or all of a normal receipt


class ReceiptStatus(models.TextChoices):
    # Asked of the platform, not yet issued ("requested" alone is a refund's kind in Chinese).
    REQUESTED = "requested", pgettext_lazy("receipt status", "requested")
    ISSUED = "issued", _("issued")
    FAILED = "failed", _("failed")  # refused by the platform, or given up: for a person


class Receipt(OutboxRow):
    public_id = models.CharField(max_length=40, unique=True, default=receipt_id, editable=False)
    kind = models.CharField(max_length=8, choices=ReceiptKind.choices)
    order = models.ForeignKey(PaymentOrder, on_delete=models.PROTECT, related_name="receipts")
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="receipts"
    )
    related = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="red_receipts",
        help_text="The normal receipt a red-letter one reddens.",
    )
    amount = models.BigIntegerField(help_text="In fen; negative on a red-letter receipt.")
    request = models.JSONField(
        null=True, help_text="What is sent to the platform, built once and sent on every try."
    )
    status = models.CharField(
        max_length=10, choices=ReceiptStatus.choices, default=ReceiptStatus.REQUESTED
    )
    code = models.CharField(max_length=8, blank=True)  # 票据代码
    number = models.CharField(max_length=10, blank=True)  # 票据号码
    check_code = models.CharField(max_length=6, blank=True)  # 校验码
    issued_at = models.DateTimeField(null=True, blank=True)
    xml = models.BinaryField(null=True, blank=True, help_text="The signed receipt file.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            # The receipt leg reads a day's issued receipts (reconciliation/ours.py).
            models.Index(
                fields=["issued_at"], name="receipt_issued_at", condition=Q(status="issued")
            ),
        ]
        permissions = [("retry_receipt", "Can retry a fiscal receipt request now")]
        constraints = [
            models.UniqueConstraint(
                fields=["order"], condition=Q(kind="normal"), name="one_receipt_per_order"
            ),
            models.UniqueConstraint(
                fields=["refund"], condition=Q(kind="red"), name="one_red_receipt_per_refund"
            ),
            models.UniqueConstraint(
                fields=["code", "number"],
                condition=Q(status="issued"),
                name="receipt_number_issued_once",
            ),
            models.CheckConstraint(
                condition=Q(kind="normal", refund__isnull=True, related__isnull=True, amount__gt=0)
                | Q(kind="red", refund__isnull=False, amount__lt=0),
                name="receipt_kind_fields",
            ),
            models.CheckConstraint(
                condition=~Q(status="issued")
                | (
                    ~Q(code="")
                    & ~Q(number="")
                    & ~Q(check_code="")
                    & Q(issued_at__isnull=False, xml__isnull=False)
                ),
                name="issued_receipt_complete",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReceiptStatus.values), name="receipt_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id
