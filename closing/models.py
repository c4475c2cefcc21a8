"""Closing a business day: the settlement report (结报) and the remittance (缴库) it orders.

A department's report for a date holds, per fee item, what was collected, refunded and
waived, and the net. A draft is replaced when the day is generated again; a second person
approves a submitted one, and an approved report never changes: a later correction is a
new version that names the one it corrects. Approval orders the remittance of the net to
the treasury (国库) or the fiscal special account (财政专户): a Remittance, sent to the
department's bank as a pain.001 through the outbox (its RemittanceInstruction) and tracked
on the bank's statement until it is seen.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import Department, FeeItem
from billing.models.ids import new_public_id
from outbox.models import OutboxRow


def report_id() -> str:
    return new_public_id("sr")


def remittance_id() -> str:
    return new_public_id("rmt")


def new_end_to_end_id() -> str:
    """``RMT`` and 24 base32 capitals: within the 35 characters of an EndToEndId, and in the
    character set every statement format carries (SWIFT's has no underscore)."""
    return "RMT" + base64.b32encode(secrets.token_bytes(15)).decode()


def new_message_id() -> str:
    return "CLS" + base64.b32encode(secrets.token_bytes(15)).decode()


class ReportStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("settlement report status", "draft")
    SUBMITTED = "submitted", pgettext_lazy("settlement report status", "submitted")
    APPROVED = "approved", pgettext_lazy("settlement report status", "approved")
    RETURNED = "returned", pgettext_lazy("settlement report status", "returned")


class DestinationKind(models.TextChoices):
    TREASURY = "treasury", pgettext_lazy("destination", "treasury")  # 国库
    SPECIAL = "special", pgettext_lazy("destination", "fiscal special account")  # 财政专户


class SettlementReport(models.Model):
    """结报: one department's business date, as reported to the finance bureau."""

    public_id = models.CharField(max_length=40, unique=True, default=report_id, editable=False)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    version = models.PositiveSmallIntegerField(default=1)
    corrects = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        help_text="The approved version this one corrects.",
    )
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.DRAFT
    )
    payments_count = models.PositiveIntegerField(default=0)
    refunds_count = models.PositiveIntegerField(default=0)
    waivers_count = models.PositiveIntegerField(default=0)
    collected = models.BigIntegerField(default=0, help_text="Paid on the date, in fen.")
    refunded = models.BigIntegerField(default=0, help_text="Refunded on the date, in fen.")
    waived = models.BigIntegerField(default=0, help_text="Standard less charged, in fen.")
    net = models.BigIntegerField(default=0, help_text="collected − refunded, in fen.")
    remitted_before = models.BigIntegerField(
        default=0, help_text="Remitted for the date under the versions this one corrects."
    )
    destination_kind = models.CharField(max_length=10, choices=DestinationKind.choices, blank=True)
    destination_account = models.CharField(max_length=34, blank=True)
    destination_name = models.CharField(max_length=140, blank=True)
    destination_bank = models.CharField(max_length=12, blank=True)  # a BIC or CNAPS code
    destination_bank_name = models.CharField(max_length=140, blank=True)
    # The date's reconciliation runs when the figures were taken: {party: status}.
    reconciliation = models.JSONField(default=dict, blank=True)
    generated_at = models.DateTimeField()
    prepared_by = models.CharField(max_length=120, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.CharField(max_length=120, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    returned_by = models.CharField(max_length=120, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    return_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-business_date", "department__code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "business_date", "version"],
                name="one_report_version_per_department_and_date",
            ),
            # Every version but the approved ones is still being worked on: one at a time.
            models.UniqueConstraint(
                fields=["department", "business_date"],
                condition=~Q(status="approved"),
                name="one_open_report_per_department_and_date",
            ),
            models.CheckConstraint(
                condition=Q(net=F("collected") - F("refunded")), name="report_net_is_difference"
            ),
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="report_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | ~Q(approved_by=F("prepared_by")),
                name="report_approved_by_a_second_person",
            ),
        ]
        permissions = [
            ("submit_settlementreport", "Can generate and submit a settlement report"),
            ("approve_settlementreport", "Can approve or return another's settlement report"),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} {self.business_date} v{self.version}"

    @property
    def to_remit(self) -> int:
        """What approving this version orders remitted, in fen (nothing when not positive)."""
        return self.net - self.remitted_before


class SettlementReportLine(models.Model):
    """One fee item of a report; its code and name as they were when it was made."""

    report = models.ForeignKey(SettlementReport, on_delete=models.CASCADE, related_name="lines")
    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT, related_name="+")
    fee_item_code = models.CharField(max_length=32)
    fee_item_name = models.CharField(max_length=200)
    payments_count = models.PositiveIntegerField(default=0)
    collected = models.BigIntegerField(default=0)
    refunds_count = models.PositiveIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)
    waivers_count = models.PositiveIntegerField(default=0)
    waived = models.BigIntegerField(default=0)
    net = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["report", "fee_item_code"]
        constraints = [
            models.UniqueConstraint(fields=["report", "fee_item"], name="one_line_per_fee_item"),
            models.CheckConstraint(
                condition=Q(net=F("collected") - F("refunded")), name="line_net_is_difference"
            ),
        ]


class RemittanceStatus(models.TextChoices):
    INSTRUCTED = "instructed", _("instructed")  # ordered; not yet on the bank's statement
    SEEN = "seen", _("seen on the statement")
    MISMATCH = "mismatch", pgettext_lazy("remittance status", "amount differs")
    OVERDUE = "overdue", pgettext_lazy("remittance status", "overdue")


class Remittance(models.Model):
    """缴库: an approved report's net, moved from the settlement account to its destination."""

    public_id = models.CharField(max_length=40, unique=True, default=remittance_id, editable=False)
    end_to_end_id = models.CharField(max_length=35, unique=True, default=new_end_to_end_id)
    report = models.OneToOneField(
        SettlementReport, on_delete=models.PROTECT, related_name="remittance"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    business_date = models.DateField()
    amount = models.BigIntegerField(help_text="In fen.")
    currency = models.CharField(max_length=3, default="CNY")
    debtor_bank = models.CharField(max_length=32, help_text="The bank code of BANKS.")
    debtor_account = models.CharField(max_length=34)
    creditor_kind = models.CharField(max_length=10, choices=DestinationKind.choices)
    creditor_account = models.CharField(max_length=34)
    creditor_name = models.CharField(max_length=140)
    creditor_bank = models.CharField(max_length=12, blank=True)
    creditor_bank_name = models.CharField(max_length=140, blank=True)
    execution_date = models.DateField(help_text="The requested execution date.")
    status = models.CharField(
        max_length=10, choices=RemittanceStatus.choices, default=RemittanceStatus.INSTRUCTED
    )
    seen_on = models.DateField(null=True, blank=True, help_text="The statement that shows it.")
    seen_amount = models.BigIntegerField(null=True, blank=True)
    bank_ref = models.CharField(max_length=80, blank=True)
    overdue_on = models.DateField(
        null=True, blank=True, help_text="The statement by which it was due and was missing."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-business_date", "department__code"]
        indexes = [
            models.Index(fields=["debtor_account", "execution_date"], name="remittance_due_from")
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="remittance_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=RemittanceStatus.values), name="remittance_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class InstructionStatus(models.TextChoices):
    SENDING = "sending", _("sending")  # the bank has not answered yet
    ACCEPTED = "accepted", pgettext_lazy("bank instruction status", "accepted")
    REJECTED = "rejected", pgettext_lazy("bank instruction status", "rejected")
    FAILED = "failed", _("failed")  # no answer on every try of its schedule: for a person


class RemittanceInstruction(OutboxRow):
    """The pain.001 of a remittance, written once and sent unchanged until the bank answers."""

    remittance = models.OneToOneField(
        Remittance, on_delete=models.PROTECT, related_name="instruction"
    )
    message_id = models.CharField(max_length=35, unique=True, default=new_message_id)
    document = models.TextField(help_text="The pain.001.001.09 sent, as built once.")
    status = models.CharField(
        max_length=10, choices=InstructionStatus.choices, default=InstructionStatus.SENDING
    )
    bank_status = models.CharField(max_length=4, blank=True, help_text="The pain.002's.")
    bank_reason = models.CharField(max_length=255, blank=True)
    bank_ref = models.CharField(max_length=35, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        permissions = [("retry_remittanceinstruction", "Can send a remittance again now")]

    def __str__(self) -> str:
        return self.message_id
