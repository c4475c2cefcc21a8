"""The ledger's models now belong to the ledger app (ledger/migrations/0001_initial.py).

Only billing's migration state forgets them: the tables and their triggers stay.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_attempts_by_channel_and_status"),
        ("ledger", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="LedgerEntry"),
                migrations.DeleteModel(name="LedgerPosting"),
                migrations.DeleteModel(name="LedgerAccount"),
            ],
        )
    ]
