"""What creating an order costs the database: every statement of the request, counted.

The API key's client (with the reference data's version), the fee items with their
department and waiver rules and the service item with its fees (only the first time this
process sees them at that version), the order, its
lines, its audit record, and the idempotency key stored with the answer: nothing read back
that was just written, no savepoint.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.models import FeeItem, PaymentOrder
from billing.services import orders
from core.models import AuditRecord
from tests.billing.conftest import order_body
from tests.conftest import charged_by_service_item

pytestmark = pytest.mark.django_db

STATEMENTS_PER_ORDER = 5
STATEMENTS_READING_THE_CATALOGUE = 7


def post(api, body, key):
    return api.post("/api/v1/payment-orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def second_fee(fixed_fee) -> FeeItem:
    fee = FeeItem.objects.create(
        code="FEE-SEAL",
        name="印章刻制费",
        department=fixed_fee.department,
        legal_basis="《行政事业性收费标准管理办法》",
        standard_amount=500,
    )
    charged_by_service_item(fee)
    return fee


def counted_order(api, lines, key):
    with CaptureQueriesContext(connection) as statements:
        response = post(api, order_body(lines=lines), key)
    assert response.status_code == 201, response.content
    sql = [
        query["sql"]
        for query in statements.captured_queries
        if query["sql"] not in ("BEGIN", "COMMIT")  # the request's transaction itself
    ]
    assert not [text for text in sql if "SAVEPOINT" in text.upper()]
    return response, sql


@pytest.mark.django_db(transaction=True)  # the request's transaction is its own, as served
def test_an_order_of_two_lines_takes_five_statements_and_no_savepoint(portal, second_fee):
    post(portal, order_body(), "warm-up")  # the first request of a process reads the schema
    lines = [
        {"fee_item": "FEE-LIC", "quantity": 2, "amount": 1500},
        {"fee_item": "FEE-SEAL", "quantity": 1, "amount": 500},
    ]

    _, first_sql = counted_order(portal, lines, "first")
    response, sql = counted_order(portal, lines, "counted")

    assert len(first_sql) == STATEMENTS_READING_THE_CATALOGUE, "\n".join(first_sql)
    assert len(sql) == STATEMENTS_PER_ORDER, "\n".join(sql)
    # The answer was built from what was written, and is what is stored.
    body = response.json()
    assert [line["fee_item_name"] for line in body["lines"]] == ["营业执照工本费", "印章刻制费"]
    assert body["amount"] == 3500 == PaymentOrder.objects.get(public_id=body["id"]).amount


def test_a_payment_code_already_taken_is_drawn_again(portal, fixed_fee, monkeypatch):
    taken = post(portal, order_body(), "first").json()["payment_code"]
    draws = iter([taken, taken, "33010000000000000018"])

    class Taken:
        def generate(self, *, region_code: str) -> str:
            return next(draws)

    monkeypatch.setattr(orders, "payment_code_format", Taken)

    response = post(portal, order_body(case_number="BJ-2"), "second")

    assert response.status_code == 201, response.content
    assert response.json()["payment_code"] == "33010000000000000018"
    assert PaymentOrder.objects.count() == 2


def test_another_unique_conflict_is_not_drawn_again(portal, fixed_fee):
    """Only a taken payment code means drawing again; any other conflict is a real error."""
    first = PaymentOrder.objects.get(public_id=post(portal, order_body(), "first").json()["id"])
    twin = PaymentOrder.objects.get(pk=first.pk)
    twin.pk = None  # the same public id again

    with pytest.raises(IntegrityError), transaction.atomic():
        orders._insert_with_unique_payment_code(twin)


def test_the_same_key_replays_the_first_order(portal, fixed_fee):
    first = post(portal, order_body(), "same").json()
    again = post(portal, order_body(), "same")
    assert again.json()["id"] == first["id"]
    assert again["Idempotent-Replayed"] == "true"


def test_a_replay_leaves_nothing_of_its_own_work(portal, fixed_fee):
    """The key is stored after the work: a request whose key was used rolls its work back."""
    first = post(portal, order_body(), "once").json()

    again = post(portal, order_body(), "once")
    conflicting = post(portal, order_body(case_number="OTHER"), "once")

    assert again.json() == first
    assert error_code(conflicting) == (422, "idempotency_key_reused")
    assert PaymentOrder.objects.count() == 1
    assert AuditRecord.objects.filter(action="payment_order.created").count() == 1


def error_code(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]
