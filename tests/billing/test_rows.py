"""Rows written and read with SQL made once per model hold what the ORM would have."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection

from billing import rows
from billing.models import Department, WebhookEvent
from tests.conftest import make_department

pytestmark = pytest.mark.django_db

PAYLOAD = {"id": "po_1", "amount": 3000, "lines": [{"name": "营业执照工本费"}], "paid_at": None}


def test_a_row_inserted_is_read_back_by_the_orm_as_written():
    event = WebhookEvent(type="payment_order.paid", payload=PAYLOAD)

    rows.row_insert(event)

    stored = WebhookEvent.objects.get(pk=event.pk)
    assert (stored.public_id, stored.type, stored.payload, stored.owner_id) == (
        event.public_id,
        "payment_order.paid",
        PAYLOAD,
        None,
    )
    assert stored.public_id.startswith("evt_") and stored.created_at == event.created_at


def test_a_row_read_with_its_columns_converts_json_and_updates_whole():
    department = make_department("SCJG01", "市市场监督管理局", accepted_channels=["alipay"])
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {rows.columns(Department, 'd')}, 42 FROM billing_department d "  # noqa: S608
            "WHERE d.id = %s",
            [department.pk],
        )
        (read,) = rows.instances(cursor.fetchone(), Department)

    assert read.accepted_channels == ["alipay"] and read.name == "市市场监督管理局"
    read.active = False
    rows.row_update(read)
    stored = Department.objects.get(pk=department.pk)
    assert (stored.accepted_channels, stored.active, stored.code) == (["alipay"], False, "SCJG01")


def test_updating_a_row_that_is_not_there_is_an_error():
    gone = WebhookEvent(pk=10**9, type="payment_order.paid", payload={})

    with pytest.raises(DatabaseError, match="no row to update"):
        rows.row_update(gone)
