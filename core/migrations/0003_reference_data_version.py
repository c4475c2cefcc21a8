"""One row numbering the versions of the reference data, and the trigger function that
gives it a new number whenever a reference table changes (see core/reference_data.py)."""

from django.db import migrations

CREATE = """
CREATE SEQUENCE reference_data_version_seq;
CREATE TABLE reference_data_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO reference_data_version (id, version) VALUES (1, nextval('reference_data_version_seq'));
CREATE FUNCTION reference_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO reference_data_version (id, version)
    VALUES (1, nextval('reference_data_version_seq'))
    ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END
$$;
"""

DROP = """
DROP FUNCTION reference_data_changed();
DROP TABLE reference_data_version;
DROP SEQUENCE reference_data_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [("core", "0002_idempotency_response_encrypted")]

    operations = [migrations.RunSQL(CREATE, DROP)]
