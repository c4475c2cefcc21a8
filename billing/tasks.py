"""Celery tasks: thin, idempotent, each loads ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from billing import webhooks
from billing.services import attempts, orders


@shared_task(name="billing.tasks.deliver_webhook")
def deliver_webhook(delivery_id: int) -> None:
    webhooks.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(name="billing.tasks.sweep_webhook_deliveries")
def sweep_webhook_deliveries() -> int:
    return webhooks.webhook_deliveries_redispatch()


@shared_task(name="billing.tasks.expire_due_orders")
def expire_due_orders() -> int:
    return orders.payment_orders_expire_due()


@shared_task(name="billing.tasks.sweep_overdue_attempts")
def sweep_overdue_attempts() -> int:
    return attempts.payment_attempts_query_overdue()
