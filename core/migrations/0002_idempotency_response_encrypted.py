"""Idempotency replays are kept encrypted: existing bodies are encrypted in place."""

import json

from django.db import migrations, models

from core import pii

# The column name core.idempotency binds into each ciphertext.
RESPONSE_COLUMN = "idempotency_record.response"


def encrypt_bodies(apps, schema_editor):
    IdempotencyRecord = apps.get_model("core", "IdempotencyRecord")
    for record in IdempotencyRecord.objects.exclude(response_body=None).iterator():
        record.response_encrypted = pii.encrypt(
            json.dumps(record.response_body, ensure_ascii=False), column=RESPONSE_COLUMN
        )
        record.save(update_fields=["response_encrypted"])


def decrypt_bodies(apps, schema_editor):
    IdempotencyRecord = apps.get_model("core", "IdempotencyRecord")
    for record in IdempotencyRecord.objects.exclude(response_encrypted="").iterator():
        plaintext = pii.decrypt(record.response_encrypted, column=RESPONSE_COLUMN)
        record.response_body = json.loads(plaintext)
        record.save(update_fields=["response_body"])


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_encrypted",
            field=models.TextField(blank=True),
        ),
        migrations.RunPython(encrypt_bodies, decrypt_bodies),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
    ]
