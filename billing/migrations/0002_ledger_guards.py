"""The database itself refuses unbalanced or edited ledger postings.

PostgreSQL checks each posting's balance at commit (a deferred constraint trigger), so a
transaction may add a posting's entries one by one but cannot commit them unbalanced.
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


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunSQL(POSTGRES_UP, POSTGRES_DOWN)]
