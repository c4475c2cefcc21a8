"""Statements in, runs, discrepancies and their resolution, and the clearing per department."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from billing.models import Department
from reconciliation.compressed import CompressedBinaryField


class PartyKind(models.TextChoices):
    PROCESSOR = "processor", _("processor")  # leg 1: our payments and refunds against its bill
    BANK = "bank", _("bank")  # leg 2: clearing against the settlement accounts' credits
    REVENUE = "revenue", _("revenue")  # leg 3: paid orders against the revenue system's records
    COURIER = "courier", _("courier")  # leg 4: shipments and freight against the freight bill
    # leg 5: the fiscal receipts paid orders and refunds are owed against the platform's day
    RECEIPT = "receipt", _("receipt platform")
    REMITTANCE = "remittance", _("remittance")  # leg 6: our remittances against the debits


class StatementFile(models.Model):
    """A party's file for a business date, stored compressed (reconciliation/compressed.py)
    with the SHA-256 and size of its original bytes, which ``content`` reads back.

    A party that answers it has no file for a date without trades has an empty one, of
    source ``no_bill`` (reconciliation/statements.py)."""

    class Source(models.TextChoices):
        FETCHED = "fetched", _("fetched")
        UPLOADED = "uploaded", _("uploaded")
        NO_BILL = "no_bill", _("no bill")

    party = models.CharField(
        max_length=60, help_text="e.g. alipay, bank:icbc, revenue:hz, courier:sf, receipts"
    )
    business_date = models.DateField()
    source = models.CharField(max_length=10, choices=Source.choices)
    format = models.CharField(max_length=40, blank=True)
    filename = models.CharField(max_length=200, blank=True)
    content = CompressedBinaryField()
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    uploaded_by = models.CharField(max_length=120, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    # Reading it failed: a fetched file is fetched again by the next run, and kept.
    unreadable = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "business_date", "sha256"], name="one_copy_of_a_file"
            )
        ]


class StatementLine(models.Model):
    """One line of a party's file in the one canonical shape all parties share.

    The mapping from each file kind's frame is in reconciliation/canonical.py; a re-read of
    the file replaces its lines.
    """

    # No database constraint: checking a million rows' key at commit doubled the write.
    # Lines are written and deleted only with their file, by reconciliation/canonical.py.
    statement = models.ForeignKey(
        StatementFile, on_delete=models.CASCADE, related_name="lines", db_constraint=False
    )
    line_no = models.PositiveIntegerField()
    kind = models.CharField(max_length=16)  # payment, refund, credit, debit, freight, normal, red
    ref = models.CharField(max_length=80, blank=True)  # ours: trade, refund, payment code, shipment
    their_ref = models.CharField(max_length=80, blank=True)  # theirs: transaction, bank, record
    amount = models.BigIntegerField()  # fen; a bank debit is negative
    fee = models.BigIntegerField(default=0)
    occurred_at = models.DateTimeField(null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)
    account = models.CharField(max_length=40, blank=True)  # a statement's account, a department
    counterparty = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["statement", "line_no"]


class RunStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    FAILED = "failed", _("failed")  # a malformed file or a missing one: the message says which


class ReconciliationRun(models.Model):
    """One (business date, party): re-running replaces its results, never adds to them."""

    business_date = models.DateField()
    party = models.CharField(max_length=60)
    party_kind = models.CharField(max_length=10, choices=PartyKind.choices)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    step = models.CharField(max_length=60, blank=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    totals = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    statement = models.ForeignKey(
        StatementFile, on_delete=models.PROTECT, null=True, blank=True, related_name="runs"
    )
    tries = models.PositiveIntegerField(default=0)
    requested_by = models.CharField(max_length=120, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-business_date", "party"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_date", "party"], name="one_run_per_party_and_date"
            )
        ]
        permissions = [("rerun_reconciliation", "Can start or re-run a reconciliation")]

    def __str__(self) -> str:
        return f"{self.party} {self.business_date}"


class DiscrepancyType(models.TextChoices):
    MISSING_IN_CHANNEL = "missing_in_channel", _("missing in channel")
    MISSING_IN_LEDGER = "missing_in_ledger", _("missing in ledger")
    AMOUNT_MISMATCH = "amount_mismatch", _("amount mismatch")
    STATUS_MISMATCH = "status_mismatch", _("status mismatch")
    DUPLICATE = "duplicate", _("duplicate")
    REFUND_MISMATCH = "refund_mismatch", _("refund mismatch")
    FEE_MISMATCH = "fee_mismatch", _("fee mismatch")
    TIMING_CUTOFF = "timing_cutoff", _("timing cutoff")
    SETTLEMENT_MISMATCH = "settlement_mismatch", _("settlement mismatch")
    REVENUE_MISMATCH = "revenue_mismatch", _("revenue mismatch")
    FREIGHT_MISMATCH = "freight_mismatch", _("freight mismatch")
    # a clearing whose transfer never arrived within the window: the money is still in
    # clearing:<processor> (reconciliation/services/settlement.py)
    CLEARING_NOT_DRAINED = "clearing_not_drained", _("clearing not drained")


class DiscrepancyStatus(models.TextChoices):
    OPEN = "open", _("open")
    ASSIGNED = "assigned", _("assigned")
    PROPOSED = "proposed", _("proposed")  # a resolution waits for a second person's approval
    RESOLVED = "resolved", _("resolved")  # approved by the second person
    # the truth was established without a person
    AUTO_RESOLVED = "auto_resolved", _("auto resolved")
    # a timing item, matched again on the following days
    CARRIED_OVER = "carried_over", _("carried over")
    ESCALATED = "escalated", _("escalated")  # carried over too long


# What a run may still settle by itself: a person has not taken the item up.
OPEN_STATUSES = (DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER)


class Discrepancy(models.Model):
    """A difference between our records and a party's, with both sides and an owner.

    Identified by (party, business date, type, key), so a re-run updates it in place and
    keeps its resolution; one the re-run no longer finds is auto-resolved.
    """

    run = models.ForeignKey(
        ReconciliationRun, on_delete=models.CASCADE, related_name="discrepancies"
    )
    business_date = models.DateField()
    party = models.CharField(max_length=60)
    type = models.CharField(max_length=24, choices=DiscrepancyType.choices)
    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True)
    our_ref = models.CharField(max_length=80, blank=True)
    their_ref = models.CharField(max_length=80, blank=True)
    our_amount = models.BigIntegerField(null=True, blank=True)
    their_amount = models.BigIntegerField(null=True, blank=True)
    owner = models.CharField(max_length=40)
    status = models.CharField(
        max_length=16, choices=DiscrepancyStatus.choices, default=DiscrepancyStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    proposal = models.JSONField(default=dict, blank=True)
    proposed_by = models.CharField(max_length=120, blank=True)
    resolved_by = models.CharField(max_length=120, blank=True)
    resolution = models.CharField(max_length=255, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    days_open = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-business_date", "party", "type", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "business_date", "type", "key"], name="one_discrepancy_per_key"
            ),
            models.CheckConstraint(
                condition=Q(type__in=DiscrepancyType.values), name="discrepancy_type_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "type"])]
        permissions = [
            ("resolve_discrepancy", "Can assign, comment on and propose a resolution"),
            ("approve_discrepancy", "Can approve or reject another person's proposal"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.key}"

    @property
    def difference(self) -> int | None:
        return amount_difference(self.our_amount, self.their_amount)


def amount_difference(ours: int | None, theirs: int | None) -> int | None:
    """Ours − theirs in fen, a side without an amount counting as zero; None without either.

    The one sign of a difference: pages, workbooks and CSV files all show it so.
    """
    return None if ours is None and theirs is None else (ours or 0) - (theirs or 0)


class DiscrepancyComment(models.Model):
    discrepancy = models.ForeignKey(Discrepancy, on_delete=models.CASCADE, related_name="comments")
    author = models.CharField(max_length=120)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]


class Clearing(models.Model):
    """清分: what a processor owes a department's settlement account for a business date."""

    class Arrival(models.TextChoices):
        PENDING = "pending", _("pending")  # not yet due or the bank statement not yet in
        ARRIVED = "arrived", _("arrived")  # in full, by the settlement date
        LATE = "late", _("arrived late")  # in full, after the settlement date
        MISMATCH = "mismatch", _("mismatch")  # another amount

    business_date = models.DateField()
    processor = models.CharField(max_length=32)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    settlement_date = models.DateField()  # T+lag in business days (core/business_days.py)
    payments_count = models.PositiveIntegerField()
    payments_amount = models.BigIntegerField()
    refunds_amount = models.BigIntegerField()
    fees_amount = models.BigIntegerField()
    net_amount = models.BigIntegerField(help_text="payments − refunds − fees, in fen.")
    arrival = models.CharField(max_length=10, choices=Arrival.choices, default=Arrival.PENDING)
    credited_amount = models.BigIntegerField(default=0)
    # The date of the bank statement that showed the transfer, the first time one did.
    credited_on = models.DateField(null=True, blank=True)
    bank_refs = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["business_date", "department", "processor"]
        constraints = [
            models.UniqueConstraint(
                fields=["business_date", "processor", "department"], name="one_clearing_per_key"
            )
        ]
