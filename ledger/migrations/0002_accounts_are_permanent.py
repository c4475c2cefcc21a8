"""A ledger account, once created, is never changed nor deleted: the database refuses both,
as it refuses edits to postings and entries (billing/migrations/0002_ledger_guards.py). So a
process may keep an account's id once the transaction that created it has committed."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial"), ("billing", "0002_ledger_guards")]

    operations = [
        migrations.RunSQL(
            "CREATE TRIGGER ledger_account_permanent BEFORE UPDATE OR DELETE "
            "ON billing_ledgeraccount FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();",
            "DROP TRIGGER ledger_account_permanent ON billing_ledgeraccount;",
        )
    ]
