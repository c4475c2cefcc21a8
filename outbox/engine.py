"""The one outbox mechanism: dispatch on commit, lease, send, settle, apply, sweep, retry.

Delivery is at least once: a task queued on commit works a row; a sweep queues whatever
is due (retries, and rows whose task was lost); a send in flight holds a lease so the
sweep leaves it alone. A row that fails is tried again on its kind's schedule and, when
the schedule runs out, fails for a person to retry.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from threading import Condition, Thread
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.commit_hooks import after_commit
from core.errors import NotFound
from core.queueing import enqueue
from outbox.kinds import Kind, LocalKind, RemoteKind, all_kinds, kind_named

logger = logging.getLogger(__name__)

SWEEP_LIMIT = 500


# Dispatch


def dispatch_on_commit(kind: Kind, row_id: int | None = None) -> None:
    """Work the row (a remote kind's) or the due rows (a local kind's) once the caller commits."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("an outbox row is dispatched from the transaction that wrote it")
    if isinstance(kind, LocalKind):
        after_commit(_apply_soon, kind)
    else:
        after_commit(_dispatch, kind, row_id)


def dispatch_committed(kind: LocalKind) -> None:
    """Apply a local kind's due rows, one of which the caller has just written in autocommit
    mode (one statement, committed as it ran); inside a transaction, once that commits."""
    after_commit(_apply_soon, kind)


# One apply task works every due row of its kind, so a process queues at most one per
# kind in each window, however many rows it commits meanwhile: a burst of courier pushes
# costs a few publishes and task runs, not one of each per push, and a task that finds a
# backlog takes a whole batch of it.
APPLY_WINDOW_SECONDS = 0.1


class ApplyWindows:
    """Queues each local kind's apply task at most once a window, from one thread per process.

    The thread lives as long as the process: a thread started per window cost each publish
    about 3.7 ms of CPU, Celery building its result backend afresh for every new thread.
    """

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._pending: dict[str, LocalKind] = {}
        self._wake = Condition()
        self._thread_pid: int | None = None

    def request(self, kind: LocalKind) -> None:
        with self._wake:
            if kind.name in self._pending:
                return
            self._pending[kind.name] = kind
            self._start_thread()
            self._wake.notify()

    def flush(self) -> None:
        """Queue the apply task of every kind requested since the last flush."""
        # Taken before the tasks are queued: a row committed after this point queues another.
        with self._wake:
            due, self._pending = self._pending, {}
        for kind in due.values():
            try:
                _dispatch(kind, None)
            except Exception:
                logger.exception(
                    "queueing the %s apply task failed: the next one applies them", kind.label
                )

    def _start_thread(self) -> None:
        # A forked child has none of its parent's threads: each process starts its own.
        if self._thread_pid == os.getpid():
            return
        self._thread_pid = os.getpid()
        Thread(target=self._run, name="outbox-apply-windows", daemon=True).start()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending)
            time.sleep(self.window_seconds)  # what commits meanwhile joins this window
            self.flush()


_apply_windows = ApplyWindows(APPLY_WINDOW_SECONDS)


def _apply_soon(kind: LocalKind) -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:  # tasks run in-process: no window thread
        _dispatch(kind, None)
        return
    _apply_windows.request(kind)


def _dispatch(kind: Kind, row_id: int | None) -> None:
    if isinstance(kind, RemoteKind):
        enqueue("outbox.tasks.deliver", kind.name, row_id)
    else:
        enqueue("outbox.tasks.apply", kind.name)


# Remote kinds: one row at a time


def deliver(kind_name: str, row_id: int) -> None:
    """Send one row if it is due: lease it and commit, send, then lock and settle."""
    kind = kind_named(kind_name)
    if not isinstance(kind, RemoteKind):
        raise TypeError(f"outbox kind {kind_name!r} is applied locally, not delivered")
    call = _lease(kind, row_id)
    if call is None:
        return
    outcome = kind.send(call)
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = kind.model.objects.select_for_update().get(pk=row_id)
        row.last_attempt_at = now
        kind.settle(row, call, outcome, now)
        row.save()


def _lease(kind: RemoteKind, row_id: int) -> Any | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        row = kind.rows().select_for_update(of=("self",)).filter(pk=row_id).first()
        if row is None or not kind.is_due(row, now):
            return None
        call = kind.claim(row, now)
        if call is not None:
            row.next_attempt_at = now + kind.lease
            row.save(update_fields=["next_attempt_at"])
    return call


# Local kinds: many rows in one transaction


def apply_due(kind_name: str) -> int:
    """Apply one batch of due rows, oldest first; returns how many were worked on.

    Rows another worker holds are skipped: that worker applies them. If the batch fails,
    each row is applied on its own, so that one bad row fails alone and the rest go on.
    """
    kind = kind_named(kind_name)
    if not isinstance(kind, LocalKind):
        raise TypeError(f"outbox kind {kind_name!r} is delivered, not applied locally")
    now = timezone.now()
    try:
        with transaction.atomic(durable=True):
            rows = _locked_due(kind, now)
            kind.apply(rows, now)
        return len(rows)
    except Exception:
        logger.exception("a batch of %s failed: applying its rows one by one", kind.label)
    due_ids = list(_due_ids(kind, now, kind.batch))
    for row_id in due_ids:
        _apply_one(kind, row_id, now)
    return len(due_ids)


def apply_and_continue(kind_name: str) -> int:
    """Apply one batch; after a full one, queue the next at once, so that a backlog drains
    batch after batch without waiting for the sweep."""
    applied = apply_due(kind_name)
    kind = kind_named(kind_name)
    if applied >= kind.batch:
        _dispatch(kind, None)
    return applied


def _locked_due(kind: LocalKind, now: datetime, *, row_id: int | None = None) -> list[Any]:
    rows = kind.rows() if row_id is None else kind.rows().filter(pk=row_id)
    return list(
        kind.due(rows, now)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")[: kind.batch]
    )


def _apply_one(kind: LocalKind, row_id: int, now: datetime) -> None:
    try:
        with transaction.atomic(durable=True):
            rows = _locked_due(kind, now, row_id=row_id)
            kind.apply(rows, now)
        return
    except Exception as exc:
        logger.exception("%s %s failed", kind.label, row_id)
        error = type(exc).__name__
    with transaction.atomic(durable=True):
        row = kind.model.objects.select_for_update().get(pk=row_id)
        row.attempt_count += 1
        row.last_attempt_at = now
        if not retry_later(kind, row, now):
            give_up(kind, row, error=error)
        row.last_error = error
        row.save()


# Schedules and giving up


def retry_later(kind: Kind, row: Any, now: datetime, *, tries: int | None = None) -> bool:
    """Schedule the next try after ``tries`` failed ones (the row's attempts by default).

    Returns False when the kind's schedule has run out: the caller gives the row up.
    """
    schedule = kind.retry_schedule()
    tries = row.attempt_count if tries is None else tries
    if tries > len(schedule):
        return False
    row.next_attempt_at = now + schedule[tries - 1]
    return True


def give_up(kind: Kind, row: Any, *, error: str) -> None:
    """Stop working on a row: it fails, for a person to look at and retry."""
    kind.move(row, kind.failed_status)
    row.next_attempt_at = None
    row.last_error = error[:255]


# The sweep and a person's retry


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Queue what is due of every kind; returns how many rows (or batches) were queued."""
    now = now or timezone.now()
    queued = {}
    for kind in all_kinds():
        due = list(_due_ids(kind, now, SWEEP_LIMIT))
        if isinstance(kind, RemoteKind):
            for row_id in due:
                _dispatch(kind, row_id)
            queued[kind.name] = len(due)
        else:
            batches = -(-len(due) // kind.batch)
            for _ in range(batches):
                _dispatch(kind, None)
            queued[kind.name] = batches
    return queued


def _due_ids(kind: Kind, now: datetime, limit: int):
    return (
        kind.due(kind.model.objects.all(), now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def retry_now(kind_name: str, row_id: int, *, actor: str) -> Any:
    """Make a row due now, audited; a failed one is opened again for one more round."""
    kind = kind_named(kind_name)
    with transaction.atomic(durable=True):
        row = kind.rows().select_for_update(of=("self",)).filter(pk=row_id).first()
        if row is None:
            raise NotFound(f"No such {kind.label}.")
        from_status = row.status
        kind.reopen(row)
        if row.status in kind.open_statuses:
            row.next_attempt_at = timezone.now()
            dispatch_on_commit(kind, row.pk)
        row.save()
        audit_record(
            actor=actor,
            action=f"{kind.name}.retry_now",
            obj=row,
            from_status=from_status,
            to_status=row.status,
            reason=row.last_error,
        )
    return row
