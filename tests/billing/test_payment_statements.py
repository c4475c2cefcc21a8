"""What a payment attempt and a notification cost the database: every statement, counted.

An attempt: the API key's client and the order the view reads; the order with its
department and whether it has a pending attempt, the processors and the circuit breaker,
read without a lock; the breaker's call taken; the order locked, the attempt, its audit
row, the order moved to paying and its audit row; the breaker's success; one conditional
UPDATE that stores the trade and moves the attempt to pending, and its audit row. The
answer is built from the rows as written, without reading them back.

A notification: the order locked through its attempt (one statement), the attempt locked;
the attempt, the ledger posting, the order, the revenue record and the outbox event, with
their audit rows; the notification stored.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from billing.models import (
    AttemptStatus,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
)
from core.models import AuditRecord
from ledger.models import LedgerPosting
from tests.billing.conftest import create_order
from tests.billing.test_payment_flow import platform_notification

pytestmark = pytest.mark.django_db(transaction=True)  # each request's transactions, as served

STATEMENTS_PER_ATTEMPT = 16
STATEMENTS_PER_NOTIFICATION = 22


def statements(captured: CaptureQueriesContext) -> list[str]:
    return [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"] not in ("BEGIN", "COMMIT")  # the transactions themselves
    ]


def start(portal, order: dict) -> dict:
    response = portal.post(
        f"/api/v1/payment-orders/{order['id']}/payments",
        {"channel": "public_platform"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def notify(body: bytes):
    return Client().post("/notify/public_platform", body, content_type="application/json")


@pytest.fixture
def first_order_paid(live_service, portal, fixed_fee):
    """One attempt and notification before counting: a process's first ones read schemas."""
    attempt = start(portal, create_order(portal, case_number="warm-up"))
    notify(platform_notification(PaymentAttempt.objects.get(public_id=attempt["id"])))


def test_an_attempt_takes_its_statements_and_reads_nothing_back(portal, first_order_paid):
    order = create_order(portal, case_number="counted")

    with CaptureQueriesContext(connection) as captured:
        attempt = start(portal, order)

    sql = statements(captured)
    assert len(sql) == STATEMENTS_PER_ATTEMPT, "\n".join(sql)
    assert not [text for text in sql if "SAVEPOINT" in text.upper()]
    stored = PaymentAttempt.objects.get(public_id=attempt["id"])
    assert (attempt["status"], attempt["pay_url"]) == (AttemptStatus.PENDING, stored.pay_url)
    assert stored.status == AttemptStatus.PENDING and stored.provider_trade_no
    assert attempt["order"] == order["id"]
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAYING
    moves = AuditRecord.objects.filter(object_id=stored.public_id)
    assert sorted(moves.values_list("action", flat=True)) == [
        "payment_attempt.created",
        "payment_attempt.pending",
    ]


def test_a_notification_takes_its_statements_and_a_duplicate_changes_nothing(
    portal, first_order_paid
):
    attempt = start(portal, create_order(portal, case_number="counted"))
    body = platform_notification(PaymentAttempt.objects.get(public_id=attempt["id"]))

    with CaptureQueriesContext(connection) as captured:
        response = notify(body)

    assert response.status_code == 200, response.content
    assert len(statements(captured)) == STATEMENTS_PER_NOTIFICATION, "\n".join(statements(captured))
    assert notify(body).status_code == 200
    outcomes = PaymentNotification.objects.filter(out_trade_no=attempt["id"])
    assert sorted(outcomes.values_list("outcome", flat=True)) == ["applied", "duplicate"]
    assert LedgerPosting.objects.filter(kind="payment", reference=attempt["id"]).count() == 1
    assert PaymentOrder.objects.get(public_id=attempt["order"]).status == OrderStatus.PAID
