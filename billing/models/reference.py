from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

region_code_validator = RegexValidator(r"^\d{6}$", "A region code is 6 digits (行政区划代码).")


class PayerType(models.TextChoices):
    NATURAL = "natural", _("Natural person")
    LEGAL = "legal", _("Legal person")


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
    FEE = "fee", _("Public revenue (非税收入), reported to the revenue system")
    FREIGHT = "freight", _("Freight collected for a courier (寄递费), not public revenue")


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


class WaiverKind(models.TextChoices):
    HALF = "half", _("half the standard")
    EXEMPT = "exempt", _("exempt")
    REDUCED_TO = "reduced_to", _("reduced to a set amount")
    REDUCTION_ALLOWED = "reduction_allowed", _("reduced by approval")


class WaiverRule(models.Model):
    """A waiver (减免) a fee item allows, and what a unit costs under it.

    ``half`` charges half the standard to the fen, rounding half a fen up (1001 fen: 501);
    ``exempt`` charges nothing; ``reduced_to`` charges ``reduced_amount``;
    ``reduction_allowed`` charges any amount below the standard that the approver set.
    """

    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT, related_name="waiver_rules")
    # What an order line names (its waiver_reason). As long as the line's column: the reasons
    # of the fee items' former lists became the codes of their rules.
    code = models.CharField(max_length=200)
    label = models.CharField(max_length=200, help_text="The reason, as the policy states it.")
    kind = models.CharField(max_length=20, choices=WaiverKind.choices)
    reduced_amount = models.BigIntegerField(
        null=True, blank=True, help_text="Per unit, in fen: what a reduced_to rule charges."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["fee_item_id", "code"]
        constraints = [
            models.UniqueConstraint(
                fields=["fee_item", "code"], name="waiver_rule_code_unique_per_fee_item"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=WaiverKind.values), name="waiver_rule_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(kind=WaiverKind.REDUCED_TO, reduced_amount__gt=0)
                | (~Q(kind=WaiverKind.REDUCED_TO) & Q(reduced_amount__isnull=True)),
                name="waiver_rule_reduced_amount_with_reduced_to_only",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.fee_item_id}:{self.code}"

    def unit_charge(self, standard: int) -> int | None:
        """What a unit of ``standard`` fen costs under this rule; None when the approver sets
        it (``reduction_allowed``)."""
        if self.kind == WaiverKind.HALF:
            return (standard + 1) // 2
        if self.kind == WaiverKind.EXEMPT:
            return 0
        if self.kind == WaiverKind.REDUCED_TO:
            return self.reduced_amount
        return None


class ChargeStage(models.TextChoices):
    ACCEPTANCE = "acceptance", _("acceptance")  # 受理
    COMPLETION = "completion", _("completion")  # 办结
    CERTIFICATE = "certificate", _("certificate collection")  # 领证


class ServiceItem(models.Model):
    """A government service item (政务服务事项) of the service catalogue: the fee items it
    charges and at which stage of the case, or its declaration that it charges none (不收费).
    """

    code = models.CharField(max_length=64, unique=True, help_text="事项编码")
    name = models.CharField(max_length=200)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="service_items"
    )
    no_fee = models.BooleanField(
        default=False, help_text="Declared free of charge (不收费): it has no fee items."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            # The target of its fees' (service item, no fee) foreign key: see ServiceItemFee.
            models.UniqueConstraint(fields=["id", "no_fee"], name="service_item_id_no_fee"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ServiceItemFee(models.Model):
    """A fee item a service item charges, and the stage of the case at which it is charged."""

    service_item = models.ForeignKey(ServiceItem, on_delete=models.CASCADE, related_name="fees")
    fee_item = models.ForeignKey(FeeItem, on_delete=models.PROTECT, related_name="+")
    stage = models.CharField(max_length=16, choices=ChargeStage.choices)
    # Always false, and with service_item a foreign key to the item's (id, no_fee), checked
    # at commit like Django's own (migration service_items_and_waiver_rules): the database
    # refuses a fee of an item declared free, and declaring free an item that has fees.
    service_item_no_fee = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["service_item_id", "stage", "fee_item_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_item", "fee_item"], name="service_item_fee_once_per_item"
            ),
            models.CheckConstraint(
                condition=Q(stage__in=ChargeStage.values), name="service_item_fee_stage_valid"
            ),
            models.CheckConstraint(
                condition=Q(service_item_no_fee=False), name="service_item_fee_of_a_charging_item"
            ),
        ]


class StaffScope(models.Model):
    """Limits a finance user to some departments; a user without one sees all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="department_scope"
    )
    departments = models.ManyToManyField(Department, related_name="+")

    def __str__(self) -> str:
        return f"scope of {self.user}"
