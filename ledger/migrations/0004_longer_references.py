"""A bank credit's reference names the transfer and the statement that showed it: longer
than 64 characters for a long department code. Widening a varchar rewrites nothing."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_expense_accounts")]

    operations = [
        migrations.AlterField(
            model_name="ledgerposting",
            name="reference",
            field=models.CharField(max_length=100),
        )
    ]
