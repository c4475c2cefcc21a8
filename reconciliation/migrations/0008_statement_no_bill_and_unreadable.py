"""A party's answer that it has no file for a date is kept as an empty file of source
`no_bill`; a file that could not be read is marked `unreadable`, so a fetched one is
fetched again."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reconciliation", "0007_clearing_lateness_and_draining"),
    ]

    operations = [
        migrations.AddField(
            model_name="statementfile",
            name="unreadable",
            field=models.BooleanField(default=False, db_default=False),
        ),
        migrations.AlterField(
            model_name="statementfile",
            name="source",
            field=models.CharField(
                choices=[("fetched", "fetched"), ("uploaded", "uploaded"), ("no_bill", "no bill")],
                max_length=10,
            ),
        ),
    ]
