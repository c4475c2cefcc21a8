"""Departments, fee items and processors are cached per process (core/reference_data.py):
every change to them numbers a new version."""

from django.db import migrations

from core.reference_data import track_changes_sql

CACHED_TABLES = ("billing_department", "billing_feeitem", "billing_processor")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0016_ledger_moves_to_its_own_app"),
        ("core", "0003_reference_data_version"),
    ]

    operations = [migrations.RunSQL(*track_changes_sql(table)) for table in CACHED_TABLES]
