"""Reference data cached per process is never older than the request that reads it: every
change to a cached table numbers a new version, which each API request reads with its key."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection, transaction

from billing.models import (
    Department,
    FeeItem,
    Processor,
    RevenueSystem,
    ServiceItem,
    ServiceItemFee,
    WaiverRule,
    WebhookEndpoint,
)
from billing.services.orders import fee_items_named
from core import reference_data
from tests.billing.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)  # changes commit, as they do served

CACHED_TABLES = (
    Department,
    FeeItem,
    WaiverRule,
    ServiceItem,
    ServiceItemFee,
    Processor,
    RevenueSystem,
    WebhookEndpoint,
)


def version() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM reference_data_version WHERE id = 1")
        return cursor.fetchone()[0]


def committed_elsewhere(sql: str, *params: object) -> None:
    """Run ``sql`` on a connection of its own, as another process would."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        host=settings["HOST"],
        port=settings["PORT"] or None,
        user=settings["USER"],
        autocommit=True,
    ) as other:
        other.execute(sql, params)


def order(api, amount: int, key: str):
    lines = [{"fee_item": "FEE-LIC", "quantity": 1, "amount": amount}]
    return api.post(
        "/api/v1/payment-orders",
        order_body(lines=lines),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def refusal(response) -> str:
    assert response.status_code == 400, response.content
    return response.json()["error"]["code"]


def test_a_price_changed_by_another_process_applies_to_the_next_order(portal, fixed_fee):
    assert order(portal, 1500, "warm").status_code == 201  # FEE-LIC is now cached

    committed_elsewhere("UPDATE billing_feeitem SET standard_amount = 1000 WHERE code = 'FEE-LIC'")

    assert refusal(order(portal, 1500, "old price")) == "fee_item_mismatch"
    assert order(portal, 1000, "new price").status_code == 201


def test_a_fee_item_withdrawn_elsewhere_is_refused_at_once(portal, fixed_fee):
    assert order(portal, 1500, "warm").status_code == 201

    committed_elsewhere("UPDATE billing_feeitem SET active = false WHERE code = 'FEE-LIC'")

    assert refusal(order(portal, 1500, "withdrawn")) == "fee_item_mismatch"


def test_a_change_rolled_back_is_never_served(portal, fixed_fee):
    assert order(portal, 1500, "warm").status_code == 201

    with pytest.raises(RuntimeError), transaction.atomic():
        FeeItem.objects.filter(code="FEE-LIC").update(standard_amount=900)
        # Read inside the change's transaction, under its own version: the new price.
        reference_data.observe(version())
        try:
            assert fee_items_named(["FEE-LIC"])["FEE-LIC"].standard_amount == 900
        finally:
            reference_data.observe(None)
        raise RuntimeError("rolled back")

    assert order(portal, 1500, "after").status_code == 201
    assert refusal(order(portal, 900, "rolled-back price")) == "fee_item_mismatch"


def test_without_a_request_version_the_database_is_read(fixed_fee):
    assert fee_items_named(["FEE-LIC"])["FEE-LIC"].standard_amount == 1500
    FeeItem.objects.filter(code="FEE-LIC").update(standard_amount=700)
    assert fee_items_named(["FEE-LIC"])["FEE-LIC"].standard_amount == 700


def test_within_one_version_the_process_reads_once(fixed_fee):
    loads = []

    def load():
        loads.append(1)
        return "value"

    reference_data.observe(version())
    try:
        assert [reference_data.cached("key", load) for _ in range(3)] == ["value"] * 3
        FeeItem.objects.filter(code="FEE-LIC").update(name="营业执照工本费（新）")
        reference_data.observe(version())
        assert reference_data.cached("key", load) == "value"
    finally:
        reference_data.observe(None)
    assert len(loads) == 2


def test_a_request_leaves_no_version_behind(portal, fixed_fee):
    assert order(portal, 1500, "one").status_code == 201
    assert reference_data._version.get() is None


@pytest.mark.parametrize("model", CACHED_TABLES, ids=lambda model: model._meta.db_table)
def test_every_kind_of_change_to_a_cached_table_numbers_a_new_version(model, fixed_fee):
    table = model._meta.db_table
    seen = [version()]
    with connection.cursor() as cursor:
        # Statement triggers: a statement that touches no row still numbers a version.
        cursor.execute(f"INSERT INTO {table} SELECT * FROM {table} WHERE false")  # noqa: S608
        seen.append(version())
        cursor.execute(f"UPDATE {table} SET id = id")  # noqa: S608 (a model's table name)
        seen.append(version())
        cursor.execute(f"DELETE FROM {table} WHERE false")  # noqa: S608
        seen.append(version())
        with transaction.atomic():
            cursor.execute(f"TRUNCATE {table} CASCADE")
            seen.append(version())
            transaction.set_rollback(True)
    assert len(set(seen)) == len(seen), seen
