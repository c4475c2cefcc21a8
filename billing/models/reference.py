from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

region_code_validator = RegexValidator(r"^\d{6}$", "A region code is 6 digits (行政区划代码).")


class PayerType(models.TextChoices):
    NATURAL = "natural", "Natural person"
    LEGAL = "legal", "Legal person"


class Department(models.Model):
    """A collecting department (执收单位) and the account its money is settled to."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    region_code = models.CharField(max_length=6, validators=[region_code_validator])
    settlement_account_name = models.CharField(max_length=200)
    settlement_account_number = models.CharField(max_length=40)
    settlement_bank = models.CharField(max_length=200)
    accepted_channels = models.JSONField(
        default=list, help_text='Channel codes, e.g. ["public_platform"].'
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class FeeKind(models.TextChoices):
    FEE = "fee", "Public revenue (非税收入), reported to the revenue system"
    FREIGHT = "freight", "Freight collected for a courier (寄递费), not public revenue"


class FeeItem(models.Model):
    """A fee item (收费项目) with its legal basis and its standard (收费标准)."""

    code = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=FeeKind.choices, default=FeeKind.FEE)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="fee_items")
    legal_basis = models.CharField(max_length=500)
    standard_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Fixed amount in fen; leave empty for a range."
    )
    min_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Range lower bound in fen."
    )
    max_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Range upper bound in fen."
    )
    waiver_reasons = models.JSONField(
        default=list, blank=True, help_text="Reasons (减免) that allow less than the standard."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="fee_item_fixed_or_range",
                condition=(
                    Q(standard_amount__gt=0, min_amount__isnull=True, max_amount__isnull=True)
                    | Q(
                        standard_amount__isnull=True,
                        min_amount__gte=0,
                        max_amount__gte=models.F("min_amount"),
                    )
                ),
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class StaffScope(models.Model):
    """Limits a finance user to some departments; a user without one sees all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_scope"
    )
    departments = models.ManyToManyField(Department, related_name="+")

    def __str__(self) -> str:
        return f"scope of {self.user}"
