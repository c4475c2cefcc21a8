"""Processors' fees are posted to expense accounts (expense:processor_fees:<processor>)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_accounts_are_permanent")]

    operations = [
        migrations.AlterField(
            model_name="ledgeraccount",
            name="kind",
            field=models.CharField(
                choices=[("asset", "Asset"), ("liability", "Liability"), ("expense", "Expense")],
                max_length=16,
            ),
        )
    ]
