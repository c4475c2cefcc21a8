"""The idempotency store keeps a create's first answer encrypted, and still replays it whole."""

from __future__ import annotations

import pytest
from django.db import connection

from billing.models import FeeItem
from tests.billing.conftest import order_body, portal_api
from tests.conftest import charged_by_service_item

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(department):
    fee = FeeItem.objects.create(
        code="FEE-LIC",
        name="营业执照工本费",
        department=department,
        legal_basis="《行政事业性收费标准管理办法》",
        standard_amount=1500,
    )
    charged_by_service_item(fee)
    return portal_api()


def _create(portal, key: str = "order-1"):
    return portal.post(
        "/api/v1/payment-orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def _leaves(value) -> list[str]:
    if isinstance(value, dict):
        return [leaf for child in value.values() for leaf in _leaves(child)]
    if isinstance(value, list):
        return [leaf for child in value for leaf in _leaves(child)]
    return [] if value is None else [str(value)]


def _raw_rows() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(r)::text FROM core_idempotencyrecord r")
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_answer_is_stored_with_no_value_in_clear_and_replayed_whole(portal):
    first = _create(portal)
    assert first.status_code == 201
    body = first.json()

    stored = _raw_rows()
    assert body["verification_code"] not in stored
    # Six characters and more: a shorter value could turn up by chance in the ciphertext.
    values = [leaf for leaf in _leaves(body) if len(leaf) >= 6]
    assert body["id"] in values and body["payment_code"] in values
    assert [value for value in values if value in stored] == []

    again = _create(portal)
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == body
    assert len(again.json()["verification_code"]) == 6
