"""Each fee item's list of waiver reasons becomes its waiver rules, of kind reduction_allowed
(what the list allowed: any amount below the standard), with the reason as code and label,
so the portal's requests naming those reasons and every existing line stay valid.

A line names its rule; a reason a line named that its fee item no longer lists becomes an
inactive rule. An unwaived line's standard is what it charged; a waived line's standard
was never kept and stays unknown."""

from django.db import migrations, models
from django.db.models import F

CODE_LENGTH = 200  # a line's waiver_reason: every reason a line named fits


def reasons_to_rules(apps, schema_editor):
    FeeItem = apps.get_model("billing", "FeeItem")
    WaiverRule = apps.get_model("billing", "WaiverRule")
    PaymentOrderLine = apps.get_model("billing", "PaymentOrderLine")
    wanted = {
        (item.pk, reason[:CODE_LENGTH]): True
        for item in FeeItem.objects.exclude(waiver_reasons=[])
        for reason in item.waiver_reasons
    }
    named = PaymentOrderLine.objects.exclude(waiver_reason="").values_list(
        "fee_item_id", "waiver_reason"
    )
    for key in named.distinct():
        wanted.setdefault(key, False)
    WaiverRule.objects.bulk_create(
        WaiverRule(
            fee_item_id=fee_item_id,
            code=reason,
            label=reason,
            kind="reduction_allowed",
            active=listed,
        )
        for (fee_item_id, reason), listed in wanted.items()
    )
    rules = models.Subquery(
        WaiverRule.objects.filter(
            fee_item_id=models.OuterRef("fee_item_id"), code=models.OuterRef("waiver_reason")
        ).values("pk")[:1]
    )
    PaymentOrderLine.objects.exclude(waiver_reason="").update(waiver_rule_id=rules)
    PaymentOrderLine.objects.filter(waiver_reason="").update(standard_unit_amount=F("unit_amount"))
    # The constraint added next alters the lines' table: its deferred checks run first.
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def rules_to_reasons(apps, schema_editor):
    FeeItem = apps.get_model("billing", "FeeItem")
    for item in FeeItem.objects.all():
        item.waiver_reasons = list(
            item.waiver_rules.filter(active=True).order_by("pk").values_list("code", flat=True)
        )
        item.save(update_fields=["waiver_reasons"])
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0022_service_items_and_waiver_rules"),
    ]

    operations = [
        migrations.RunPython(reasons_to_rules, rules_to_reasons),
        migrations.AddConstraint(
            model_name="paymentorderline",
            constraint=models.CheckConstraint(
                condition=models.Q(waiver_rule__isnull=True, waiver_reason="")
                | models.Q(waiver_rule__isnull=False) & ~models.Q(waiver_reason=""),
                name="line_waiver_reason_names_its_rule",
            ),
        ),
        migrations.RemoveField(model_name="feeitem", name="waiver_reasons"),
    ]
