"""Revenue systems and webhook endpoints are cached per process too (core/reference_data.py):
every change to them numbers a new version."""

from django.db import migrations

from core.reference_data import track_changes_sql

CACHED_TABLES = ("billing_revenuesystem", "billing_webhookendpoint")


class Migration(migrations.Migration):
    dependencies = [("billing", "0017_reference_data_versioned")]

    operations = [migrations.RunSQL(*track_changes_sql(table)) for table in CACHED_TABLES]
