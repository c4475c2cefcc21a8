"""The periodic tasks, run by a real Celery worker from the local RabbitMQ."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from billing import tasks
from billing.models import OrderStatus, PaymentOrder
from billing.services.closing import payment_orders_expire_due
from core.models import AuditRecord
from tests.billing.conftest import create_order

pytestmark = pytest.mark.django_db(transaction=True)


def make_overdue(order: dict) -> None:
    PaymentOrder.objects.filter(public_id=order["id"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )


def test_the_worker_expires_only_orders_past_their_time(task_worker, portal, fixed_fee):
    due = create_order(portal, case_number="DUE")
    fresh = create_order(portal, case_number="FRESH")
    make_overdue(due)

    tasks.expire_due_orders.delay()

    deadline = time.monotonic() + 30
    while PaymentOrder.objects.get(public_id=due["id"]).status != OrderStatus.EXPIRED:
        assert time.monotonic() < deadline, "the worker did not expire the order"
        time.sleep(0.1)
    assert PaymentOrder.objects.get(public_id=fresh["id"]).status == OrderStatus.UNPAID
    audit = AuditRecord.objects.get(object_id=due["id"], action="payment_order.expired")
    assert audit.actor == "system"


def test_expiring_twice_changes_nothing_more(portal, fixed_fee):
    due = create_order(portal)
    make_overdue(due)

    assert (payment_orders_expire_due(), payment_orders_expire_due()) == (1, 0)
    assert (
        AuditRecord.objects.filter(object_id=due["id"], action="payment_order.expired").count() == 1
    )
