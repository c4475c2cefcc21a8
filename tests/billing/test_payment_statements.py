"""What a payment attempt and a notification cost the database: every statement, counted.

An attempt: the API key's client; the order, among those the client may see, with its
department and whether it has a pending attempt, and the circuit breakers, read without a
lock (the processors are reference data, cached); the breaker read before the call (closed:
nothing to take); the order locked, the attempt, the order moved to paying, the two audit
rows in one statement; the breaker read after the call (closed, no failure: nothing to
record); one conditional UPDATE that stores the trade and moves the attempt to pending, and
its audit row. The answer is built from the rows as written, without reading them back.

A notification: the attempt and its order locked (one statement, which also reads the
order's department and the reference data's version); the attempt; the ledger posting and
its entries (one statement, its accounts known to the process); the order, then the
attempt's and the order's audit rows in one statement; the outbox event (the owner's
endpoints cached); the revenue record (the order's lines, then the record: a payment's is
the order's first; the region's system cached); the fiscal receipt's row (its request is
built when it is first sent); the applicant's SMS notice (one insert, nothing when asked
for before); the notification stored.
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

STATEMENTS_PER_ATTEMPT = 11
STATEMENTS_PER_NOTIFICATION = 11


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
    fields = ("actor", "action", "object_id", "from_status", "to_status")
    written_together = AuditRecord.objects.filter(
        action__in=("payment_attempt.created", "payment_order.paying")
    ).filter(object_id__in=(stored.public_id, order["id"]))
    assert list(written_together.order_by("id").values_list(*fields)) == [
        ("client:portal", "payment_attempt.created", stored.public_id, "", "created"),
        ("client:portal", "payment_order.paying", order["id"], "unpaid", "paying"),
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
    moves = AuditRecord.objects.filter(
        action__in=("payment_attempt.succeeded", "payment_order.paid"),
        object_id__in=(attempt["id"], attempt["order"]),
    ).order_by("id")
    actor = "channel:public_platform"
    assert list(
        moves.values_list(
            "actor", "action", "object_type", "object_id", "from_status", "to_status", "data"
        )
    ) == [
        (
            actor,
            "payment_attempt.succeeded",
            "PaymentAttempt",
            attempt["id"],
            "pending",
            "succeeded",
            {"amount": attempt["amount"]},
        ),
        (actor, "payment_order.paid", "PaymentOrder", attempt["order"], "paying", "paid", {}),
    ]
