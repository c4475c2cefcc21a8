"""Celery tasks: thin, idempotent, each loads ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from billing.services import attempts, closing, refunds


@shared_task(name="billing.tasks.expire_due_orders")
def expire_due_orders() -> int:
    return closing.payment_orders_expire_due()


@shared_task(name="billing.tasks.sweep_overdue_attempts")
def sweep_overdue_attempts() -> int:
    return attempts.payment_attempts_query_overdue()


@shared_task(name="billing.tasks.refund_unsettled_payment")
def refund_unsettled_payment(attempt_id: int) -> None:
    refunds.refund_unsettled_payment(attempt_id=attempt_id)


@shared_task(name="billing.tasks.sweep_refunds")
def sweep_refunds() -> int:
    """Ask channels about pending refunds, and try the automatic refunds that are due."""
    refunds.unsettled_payments_refund_due()
    return refunds.refunds_query_pending()
