"""A clearing's transfer that arrives after its settlement date is `late`, not `arrived`;
`credited_on` is the date of the bank statement that showed it; a clearing whose transfer
never came is a `clearing_not_drained` discrepancy; and remittances to the treasury are a
party reconciled (leg 6).

Clearings credited before this migration keep their arrival: when their credit came was not
kept, so their settlement date stands for it (they were matched within the window).
"""

from django.db import migrations, models
from django.db.models import F


def credited_on_settlement_date(apps, schema_editor):
    Clearing = apps.get_model("reconciliation", "Clearing")
    Clearing.objects.filter(arrival__in=("arrived", "mismatch")).update(
        credited_on=F("settlement_date")
    )


class Migration(migrations.Migration):
    dependencies = [("reconciliation", "0006_receipt_leg")]

    operations = [
        migrations.RemoveConstraint(
            model_name="discrepancy",
            name="discrepancy_type_valid",
        ),
        migrations.AddField(
            model_name="clearing",
            name="credited_on",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.RunPython(credited_on_settlement_date, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="reconciliationrun",
            name="party_kind",
            field=models.CharField(
                choices=[
                    ("processor", "processor"),
                    ("bank", "bank"),
                    ("revenue", "revenue"),
                    ("courier", "courier"),
                    ("receipt", "receipt platform"),
                    ("remittance", "remittance"),
                ],
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="clearing",
            name="arrival",
            field=models.CharField(
                choices=[
                    ("pending", "pending"),
                    ("arrived", "arrived"),
                    ("late", "arrived late"),
                    ("mismatch", "mismatch"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.AlterField(
            model_name="discrepancy",
            name="type",
            field=models.CharField(
                choices=[
                    ("missing_in_channel", "missing in channel"),
                    ("missing_in_ledger", "missing in ledger"),
                    ("amount_mismatch", "amount mismatch"),
                    ("status_mismatch", "status mismatch"),
                    ("duplicate", "duplicate"),
                    ("refund_mismatch", "refund mismatch"),
                    ("fee_mismatch", "fee mismatch"),
                    ("timing_cutoff", "timing cutoff"),
                    ("settlement_mismatch", "settlement mismatch"),
                    ("revenue_mismatch", "revenue mismatch"),
                    ("freight_mismatch", "freight mismatch"),
                    ("clearing_not_drained", "clearing not drained"),
                ],
                max_length=24,
            ),
        ),
        migrations.AddConstraint(
            model_name="discrepancy",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "type__in",
                        [
                            "missing_in_channel",
                            "missing_in_ledger",
                            "amount_mismatch",
                            "status_mismatch",
                            "duplicate",
                            "refund_mismatch",
                            "fee_mismatch",
                            "timing_cutoff",
                            "settlement_mismatch",
                            "revenue_mismatch",
                            "freight_mismatch",
                            "clearing_not_drained",
                        ],
                    )
                ),
                name="discrepancy_type_valid",
            ),
        ),
    ]
