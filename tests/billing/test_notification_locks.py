"""A notification's locks and writes, as PostgreSQL sees them.

Its first statement locks the order and then the attempt, the order first as every other
path that moves money takes them (``lock_order``, then the attempt), so that two of them
never wait on each other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import OperationalError, connection, connections, transaction

from billing.models import (
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    RevenueRecord,
    WebhookEvent,
)
from core.models import AuditRecord
from ledger.models import LedgerEntry, LedgerPosting
from tests.billing.conftest import create_order
from tests.billing.test_payment_flow import platform_notification
from tests.billing.test_payment_statements import start
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)  # locks are held by other connections

CONCURRENT_COPIES = 8


@pytest.fixture
def attempt(live_service, portal, fixed_fee) -> PaymentAttempt:
    started = start(portal, create_order(portal, case_number="locks"))
    return PaymentAttempt.objects.select_related("order").get(public_id=started["id"])


@pytest.fixture
def other_transaction() -> Iterator:
    """A connection of its own, in a transaction until the test ends it or leaves."""
    other = connections.create_connection("default")
    other.set_autocommit(False)
    yield other
    other.rollback()
    other.close()


def post(base_url: str, body: bytes) -> requests.Response:
    return requests.post(
        f"{base_url}/notify/public_platform",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )


def lock_row(conn, model, pk: int) -> None:
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608


def is_locked(model, pk: int) -> bool:
    """Whether another transaction holds the row's lock, asked without waiting."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR UPDATE NOWAIT",  # noqa: S608
                [pk],
            )
    except OperationalError:
        return True
    return False


def a_notification_waits() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0


def notify_in_background(base_url: str, body: bytes) -> tuple[threading.Thread, list]:
    answers = []
    sender = threading.Thread(target=lambda: answers.append(post(base_url, body)))
    sender.start()
    return sender, answers


def test_a_notification_holds_the_orders_lock_while_it_waits_for_the_attempts(
    live_service, attempt, other_transaction
):
    lock_row(other_transaction, PaymentAttempt, attempt.pk)
    sender, answers = notify_in_background(live_service.url, platform_notification(attempt))
    eventually(a_notification_waits)

    assert is_locked(PaymentOrder, attempt.order_id)

    other_transaction.rollback()
    sender.join(timeout=60)
    assert answers[0].status_code == 200
    assert PaymentOrder.objects.get(pk=attempt.order_id).status == OrderStatus.PAID


def test_a_notification_waiting_for_the_order_holds_no_lock_on_its_attempt(
    live_service, attempt, other_transaction
):
    lock_row(other_transaction, PaymentOrder, attempt.order_id)
    sender, answers = notify_in_background(live_service.url, platform_notification(attempt))
    eventually(a_notification_waits)

    assert not is_locked(PaymentAttempt, attempt.pk)

    other_transaction.rollback()
    sender.join(timeout=60)
    assert answers[0].status_code == 200
    assert PaymentOrder.objects.get(pk=attempt.order_id).status == OrderStatus.PAID


def test_copies_of_a_notification_arriving_together_apply_it_once(live_service, attempt):
    body = platform_notification(attempt)
    together = threading.Barrier(CONCURRENT_COPIES)

    def send(_):
        together.wait()
        return post(live_service.url, body)

    with ThreadPoolExecutor(max_workers=CONCURRENT_COPIES) as pool:
        answers = list(pool.map(send, range(CONCURRENT_COPIES)))

    assert {answer.status_code for answer in answers} == {200}
    outcomes = PaymentNotification.objects.filter(attempt=attempt).values_list("outcome", flat=True)
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * (CONCURRENT_COPIES - 1)
    assert PaymentOrder.objects.get(pk=attempt.order_id).status == OrderStatus.PAID
    posting = LedgerPosting.objects.get(reference=attempt.public_id)
    assert sorted(LedgerEntry.objects.filter(posting=posting).values_list("debit", "credit")) == [
        (0, attempt.amount),
        (attempt.amount, 0),
    ]
    assert RevenueRecord.objects.filter(order_id=attempt.order_id).count() == 1
    assert WebhookEvent.objects.filter(type="payment_order.paid").count() == 1
    assert AuditRecord.objects.filter(action="payment_order.paid").count() == 1


def test_a_notification_changes_only_what_it_applies_and_reads_json_as_json(live_service, attempt):
    """The attempt is written whole from the row its lock read: a JSON column read back as
    text would be stored again as a JSON string."""
    before = PaymentAttempt.objects.get(pk=attempt.pk)

    assert post(live_service.url, platform_notification(attempt)).status_code == 200

    after = PaymentAttempt.objects.get(pk=attempt.pk)
    assert isinstance(after.routing, dict) and after.routing == before.routing
    unchanged = ("public_id", "order_id", "channel", "amount", "pay_url", "created_at")
    assert [getattr(after, name) for name in unchanged] == [
        getattr(before, name) for name in unchanged
    ]
    assert (after.status, after.settles_order, after.received_amount) == (
        "succeeded",
        True,
        before.amount,
    )
    assert after.updated_at > before.updated_at and after.next_query_at is None
    stored = PaymentNotification.objects.get(attempt=attempt)
    assert isinstance(stored.headers, dict) and stored.headers["content-type"] == (
        "application/json"
    )
    record = RevenueRecord.objects.get(order_id=attempt.order_id)
    assert (record.sequence, record.payload["items"][0]["code"]) == (1, "FEE-LIC")
