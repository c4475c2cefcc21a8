"""Celery tasks of the outbox: thin, idempotent, each names its kind."""

from __future__ import annotations

from celery import shared_task

from outbox import engine


@shared_task(name="outbox.tasks.deliver")
def deliver(kind: str, row_id: int) -> None:
    engine.deliver(kind, row_id)


@shared_task(name="outbox.tasks.apply")
def apply(kind: str) -> int:
    return engine.apply_and_continue(kind)


@shared_task(name="outbox.tasks.sweep")
def sweep() -> dict[str, int]:
    return engine.sweep()
