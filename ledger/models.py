"""Double-entry, append-only ledger. Balance is enforced by the database (see migrations).

The tables keep the names they were created with in billing (billing/migrations/0001 and
0002, where the database triggers that guard them live).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class LedgerAccount(models.Model):
    class Kind(models.TextChoices):
        ASSET = "asset"  # money held for us: at a processor (clearing), in a bank account
        LIABILITY = "liability"  # money owed to a department, a courier, or back to a payer
        EXPENSE = "expense"  # what the money cost: processors' fees

    code = models.CharField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)

    class Meta:
        db_table = "billing_ledgeraccount"
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def debit_normal(self) -> bool:
        """Whether the balance is debits − credits (assets, expenses), not the reverse."""
        return self.kind in (self.Kind.ASSET, self.Kind.EXPENSE)


class LedgerPosting(models.Model):
    """One business event's entries; (kind, reference) makes posting it idempotent."""

    kind = models.CharField(max_length=40)
    reference = models.CharField(max_length=100)
    business_date = models.DateField(db_index=True)
    memo = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "billing_ledgerposting"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "reference"], name="posting_once_per_reference")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.reference}"


class LedgerEntry(models.Model):
    posting = models.ForeignKey(LedgerPosting, on_delete=models.PROTECT, related_name="entries")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    debit = models.BigIntegerField(default=0)
    credit = models.BigIntegerField(default=0)

    class Meta:
        db_table = "billing_ledgerentry"
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                name="entry_one_positive_side",
                condition=(Q(debit__gt=0, credit=0) | Q(debit=0, credit__gt=0)),
            )
        ]
