"""A stored statement file reads back byte for byte, however it was stored: compressed now,
raw before, over PostgreSQL's 1 GiB limit for a value when compressed."""

from __future__ import annotations

import hashlib
import importlib
import os
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reconciliation.compressed import ZSTD_MAGIC, compress
from reconciliation.models import StatementFile
from reconciliation.parties import parse_party
from reconciliation.statements import statement_content, statement_store

pytestmark = pytest.mark.django_db(transaction=True)
DAY = date(2025, 11, 3)
BILL = b"".join(
    b"PAYMENT,2025110310%011d,pay_%024d,,1000,0,SUCCESS\n" % (i, i) for i in range(5000)
)
MIGRATION = importlib.import_module("reconciliation.migrations.0005_statement_content_compressed")


def store(content: bytes, party: str = "public_platform") -> StatementFile:
    return statement_store(
        party=parse_party(party), business_date=DAY, content=content, source="uploaded"
    )


def stored_column(statement_id: int) -> bytes:
    """The content column as PostgreSQL holds it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content FROM reconciliation_statementfile WHERE id = %s", [statement_id]
        )
        return bytes(cursor.fetchone()[0])


def read_back(statement_id: int) -> tuple[bytes, bytes]:
    """The file as the model's attribute gives it and as a run reads it (in binary, on a
    connection of its own)."""
    loaded = StatementFile.objects.get(pk=statement_id)
    deferred = StatementFile.objects.defer("content").get(pk=statement_id)
    return bytes(loaded.content), statement_content(deferred)


def insert_raw(content: bytes, party: str) -> int:
    """A file as it was stored before compression: the bytes themselves."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO reconciliation_statementfile (party, business_date, source, format,"
            " filename, content, sha256, size, uploaded_by, received_at)"
            " VALUES (%s, %s, 'uploaded', '', '', %s, %s, %s, '', now()) RETURNING id",
            [party, DAY, content, hashlib.sha256(content).hexdigest(), len(content)],
        )
        return cursor.fetchone()[0]


def test_a_stored_file_is_kept_compressed_and_reads_back_byte_for_byte():
    statement = store(BILL)

    column = stored_column(statement.pk)
    assert column.startswith(ZSTD_MAGIC) and len(column) < len(BILL) / 3
    assert read_back(statement.pk) == (BILL, BILL)
    assert (statement.size, statement.sha256) == (len(BILL), hashlib.sha256(BILL).hexdigest())


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00", os.urandom(100_000), ZSTD_MAGIC + b"\x20\x05hello", compress(BILL)],
    ids=["empty", "one byte", "incompressible", "zstd magic", "a zstd file"],
)
def test_any_bytes_read_back_as_they_were_stored(content):
    statement = store(content)

    assert read_back(statement.pk) == (content, content)


def test_the_same_bytes_twice_are_one_file():
    assert store(BILL).pk == store(BILL).pk
    assert StatementFile.objects.count() == 1


def test_files_stored_raw_before_compression_read_back_after_the_migration():
    plain = insert_raw(BILL, "public_platform")
    zstd_file = compress(b"a party's own .zst file")
    lookalike = insert_raw(zstd_file, "alipay")  # raw, yet it begins as our frames do

    with connection.schema_editor() as editor:
        MIGRATION.compress_lookalikes(None, editor)

    assert stored_column(plain) == BILL  # left as it was
    assert stored_column(lookalike) != zstd_file
    assert read_back(plain) == (BILL, BILL)
    assert read_back(lookalike) == (zstd_file, zstd_file)

    with connection.schema_editor() as editor:
        MIGRATION.decompress_all(None, editor)

    assert stored_column(lookalike) == zstd_file
    assert stored_column(plain) == BILL


def test_a_file_over_postgresqls_one_gib_limit_is_stored_and_read_back():
    """1.1 GB, 300 MB of it incompressible: too big for a bytea raw, and compressed still
    too big to go into a statement's text as hex."""
    line = b"SF%013d,shp_%024d,2025-11-03,1.0,18.00\n"
    content = os.urandom(300 * 1024**2) + b"".join(line % (i, i) for i in range(1000)) * 13_000
    assert len(content) > 1024**3
    digest = hashlib.sha256(content).hexdigest()
    statement_id = store(content, "courier:sf").pk
    del content

    deferred = StatementFile.objects.defer("content").get(pk=statement_id)
    assert hashlib.sha256(statement_content(deferred)).hexdigest() == digest == deferred.sha256


def test_the_admins_files_are_listed_and_shown_without_reading_their_content(client):
    statement = store(BILL)
    client.force_login(User.objects.create_superuser("admin", password="pw-admin-1"))

    with CaptureQueriesContext(connection) as queries:
        listed = client.get("/admin/reconciliation/statementfile/")
        shown = client.get(f"/admin/reconciliation/statementfile/{statement.pk}/change/")

    assert listed.status_code == shown.status_code == 200
    assert statement.sha256 in listed.content.decode()
    files = [
        q["sql"] for q in queries.captured_queries if "reconciliation_statementfile" in q["sql"]
    ]
    assert files and not any('"content"' in sql for sql in files)
