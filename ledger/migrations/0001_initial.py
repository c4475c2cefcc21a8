"""The ledger's models move here from billing, with their tables as they are.

The tables keep their names (billing_ledger*), so nothing in the database changes but the
models' content types, which follow them so that permissions granted on them still hold.
"""

import django.db.models.deletion
from django.db import migrations, models

MOVED = ["ledgeraccount", "ledgerposting", "ledgerentry"]


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    # One the new label already has (a partial migrate made it) is left as it is.
    taken = list(ContentType.objects.filter(app_label=new).values_list("model", flat=True))
    ContentType.objects.filter(app_label=old, model__in=MOVED).exclude(model__in=taken).update(
        app_label=new
    )


def content_types_to_ledger(apps, schema_editor):
    _relabel(apps, "billing", "ledger")


def content_types_back_to_billing(apps, schema_editor):
    _relabel(apps, "ledger", "billing")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("billing", "0015_attempts_by_channel_and_status"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="LedgerAccount",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("code", models.CharField(max_length=80, unique=True)),
                        ("name", models.CharField(max_length=200)),
                        (
                            "kind",
                            models.CharField(
                                choices=[("asset", "Asset"), ("liability", "Liability")],
                                max_length=16,
                            ),
                        ),
                    ],
                    options={"db_table": "billing_ledgeraccount", "ordering": ["code"]},
                ),
                migrations.CreateModel(
                    name="LedgerPosting",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("kind", models.CharField(max_length=40)),
                        ("reference", models.CharField(max_length=64)),
                        ("business_date", models.DateField(db_index=True)),
                        ("memo", models.CharField(blank=True, max_length=255)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "billing_ledgerposting",
                        "ordering": ["id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("kind", "reference"), name="posting_once_per_reference"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LedgerEntry",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("debit", models.BigIntegerField(default=0)),
                        ("credit", models.BigIntegerField(default=0)),
                        (
                            "account",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="entries",
                                to="ledger.ledgeraccount",
                            ),
                        ),
                        (
                            "posting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="entries",
                                to="ledger.ledgerposting",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "billing_ledgerentry",
                        "ordering": ["id"],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("credit", 0), ("debit__gt", 0)),
                                    models.Q(("credit__gt", 0), ("debit", 0)),
                                    _connector="OR",
                                ),
                                name="entry_one_positive_side",
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(content_types_to_ledger, content_types_back_to_billing),
    ]
