"""The database itself refuses unbalanced or edited ledger postings.

PostgreSQL checks each posting's balance at commit (a deferred constraint trigger), so a
transaction may add a posting's entries one by one but cannot commit them unbalanced.
SQLite, used only by the embedded demo, cannot defer a trigger: there the ledger
service's own check stands alone, and only the append-only rule is enforced by triggers.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE FUNCTION ledger_posting_must_balance() RETURNS trigger AS $$
DECLARE
    posting bigint := COALESCE(NEW.posting_id, OLD.posting_id);
    imbalance bigint;
    entry_count bigint;
BEGIN
    SELECT COALESCE(SUM(debit), 0) - COALESCE(SUM(credit), 0), COUNT(*)
      INTO imbalance, entry_count
      FROM billing_ledgerentry WHERE posting_id = posting;
    IF imbalance <> 0 OR entry_count = 1 THEN
        RAISE EXCEPTION 'ledger posting % is unbalanced (debits - credits = %)', posting, imbalance
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT OR UPDATE OR DELETE ON billing_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_posting_must_balance();

CREATE FUNCTION ledger_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
CREATE TRIGGER ledger_posting_append_only BEFORE UPDATE OR DELETE ON billing_ledgerposting
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();
"""

POSTGRES_DOWN = """
DROP TRIGGER ledger_posting_append_only ON billing_ledgerposting;
DROP TRIGGER ledger_entry_append_only ON billing_ledgerentry;
DROP FUNCTION ledger_is_append_only();
DROP TRIGGER ledger_entry_balanced ON billing_ledgerentry;
DROP FUNCTION ledger_posting_must_balance();
"""

SQLITE_UP = [
    f"""CREATE TRIGGER {table}_append_only_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;"""
    for table in ("billing_ledgerentry", "billing_ledgerposting")
    for op in ("UPDATE", "DELETE")
]

SQLITE_DOWN = [
    f"DROP TRIGGER {table}_append_only_{op.lower()};"
    for table in ("billing_ledgerentry", "billing_ledgerposting")
    for op in ("UPDATE", "DELETE")
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in [statements] if isinstance(statements, str) else statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_UP, "sqlite": SQLITE_UP}),
            _run({"postgresql": POSTGRES_DOWN, "sqlite": SQLITE_DOWN}),
        )
    ]
