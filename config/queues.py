"""Celery's queues by kind of work, so that a long reconciliation never delays a webhook.

A deployment runs at least one worker per queue (docs/deploy.md); `make run` without a
broker runs every task in-process and has no queues.
"""

from __future__ import annotations

# What a payer, the portal or a department waits on: notifications applied, the outbox
# (webhooks, revenue pushes, couriers' pushes, one app's events for another), refunds,
# bookings with couriers.
PAYMENTS = "payments"
# A business day's runs, their automatic resolution and the reports they feed.
RECONCILIATION = "reconciliation"
# Periodic sweeps and polls: expiry, time limits, route polling.
HOUSEKEEPING = "housekeeping"
QUEUES = (PAYMENTS, RECONCILIATION, HOUSEKEEPING)

TASK_QUEUES = {
    "outbox.tasks.deliver": PAYMENTS,
    "outbox.tasks.apply": PAYMENTS,
    "outbox.tasks.sweep": PAYMENTS,
    "billing.tasks.refund_unsettled_payment": PAYMENTS,
    "billing.tasks.sweep_refunds": PAYMENTS,
    "billing.tasks.sweep_overdue_attempts": PAYMENTS,
    "logistics.tasks.book_shipment": PAYMENTS,
    "reconciliation.tasks.execute_run": RECONCILIATION,
    "reconciliation.tasks.auto_resolve": RECONCILIATION,
    "reconciliation.tasks.start_yesterday": RECONCILIATION,
    "reconciliation.tasks.retry_waiting": RECONCILIATION,
    "closing.tasks.after_reconciliation_run": RECONCILIATION,
    "billing.tasks.expire_due_orders": HOUSEKEEPING,
    "logistics.tasks.sweep_bookings": HOUSEKEEPING,
    "logistics.tasks.poll_shipment": HOUSEKEEPING,
    "logistics.tasks.poll_routes": HOUSEKEEPING,
    "logistics.tasks.watch_time_limits": HOUSEKEEPING,
}


def task_routes(prefix: str) -> dict[str, dict[str, str]]:
    """Celery's task_routes, each queue's name after ``prefix`` (tests give each run its own)."""
    return {task: {"queue": prefix + queue} for task, queue in TASK_QUEUES.items()}
