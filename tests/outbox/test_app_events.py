"""One app's committed change applied by another's subscriber, once, with retries."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import AuditRecord
from outbox import engine, events
from outbox.engine import apply_and_continue, apply_due, retry_now, sweep
from outbox.kinds import kind_named
from outbox.models import AppEvent, AppEventStatus

TOPIC = "tests.something_happened"


def applied_numbers() -> list[int]:
    """What the subscriber applied, as it wrote it in the database (so a rollback undoes it)."""
    rows = AuditRecord.objects.filter(action="tests.applied").order_by("id")
    return [int(n) for n in rows.values_list("object_id", flat=True)]


@pytest.fixture
def applied(monkeypatch):
    """A subscriber that writes what it applies; it fails on payloads that say so."""

    def handle(payload) -> None:
        AuditRecord.objects.create(
            actor="tests", action="tests.applied", object_type="n", object_id=str(payload["n"])
        )
        if payload.get("fail"):
            raise RuntimeError("the subscriber failed")

    monkeypatch.setitem(
        events._subscribers,
        "tests.recorder",
        events.Subscriber(
            name="tests.recorder",
            topic=TOPIC,
            handle=handle,
            wants=lambda payload: payload.get("wanted", True),
        ),
    )


def publish(payload: dict) -> None:
    with transaction.atomic():
        events.publish(TOPIC, payload)


@pytest.mark.django_db
def test_an_event_is_applied_once_by_its_subscriber(applied):
    publish({"n": 1})
    publish({"n": 2})

    assert apply_due("app_event") == 2
    assert apply_due("app_event") == 0

    assert applied_numbers() == [1, 2]
    assert set(AppEvent.objects.values_list("status", flat=True)) == {AppEventStatus.APPLIED}


@pytest.mark.django_db
def test_an_event_nobody_wants_writes_no_row(applied):
    publish({"wanted": False})
    with transaction.atomic():
        events.publish("tests.nobody_listens", {"n": 1})

    assert not AppEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_publishing_outside_the_change_s_transaction_is_refused(applied):
    with pytest.raises(RuntimeError, match="transaction"):
        events.publish(TOPIC, {"n": 1})


@pytest.mark.django_db
def test_a_failing_subscriber_fails_alone_is_retried_on_its_schedule_then_given_up(applied):
    publish({"n": 1})
    publish({"n": 2, "fail": True})
    publish({"n": 3})
    bad = AppEvent.objects.get(payload__n=2)

    assert apply_due("app_event") == 3  # the batch failed: each was tried on its own

    assert applied_numbers() == [1, 3]  # the failed batch left nothing behind
    bad.refresh_from_db()
    assert (bad.status, bad.attempt_count, bad.last_error) == (
        AppEventStatus.PENDING,
        1,
        "RuntimeError",
    )
    first_wait = events.RETRY_SCHEDULE[0]
    assert bad.next_attempt_at > timezone.now() + first_wait - timedelta(seconds=5)
    assert apply_due("app_event") == 0  # not due yet

    for tries in range(2, len(events.RETRY_SCHEDULE) + 2):
        AppEvent.objects.filter(pk=bad.pk).update(next_attempt_at=timezone.now())
        apply_due("app_event")
        bad.refresh_from_db()
        assert bad.attempt_count == tries
    assert (bad.status, bad.next_attempt_at) == (AppEventStatus.FAILED, None)
    assert sweep()["app_event"] == 0  # a failed row waits for a person


@pytest.mark.django_db
def test_a_person_retries_a_failed_event_and_it_is_audited(applied):
    publish({"n": 1, "fail": True})
    event = AppEvent.objects.get()
    AppEvent.objects.filter(pk=event.pk).update(
        status=AppEventStatus.FAILED, next_attempt_at=None, last_error="RuntimeError"
    )

    retried = retry_now("app_event", event.pk, actor="user:ops")

    assert (retried.status, retried.next_attempt_at is not None) == (AppEventStatus.PENDING, True)
    audit = AuditRecord.objects.get(action="app_event.retry_now")
    assert (audit.actor, audit.from_status, audit.to_status, audit.reason) == (
        "user:ops",
        "failed",
        "pending",
        "RuntimeError",
    )
    AppEvent.objects.filter(pk=event.pk).update(payload={"n": 1})
    assert apply_due("app_event") == 1
    assert applied_numbers() == [1]


@pytest.mark.django_db
def test_an_applied_event_has_nothing_to_retry(applied):
    publish({"n": 1})
    apply_due("app_event")
    event = AppEvent.objects.get()

    with pytest.raises(Exception, match="cannot go from applied"):
        retry_now("app_event", event.pk, actor="user:ops")
    assert not AuditRecord.objects.filter(action="app_event.retry_now").exists()


# -- how apply tasks are queued ---------------------------------------------------------


class ManualWindows(engine.ApplyWindows):
    """No window thread: the test closes each window itself with flush()."""

    def _start_thread(self) -> None:
        pass

    def requested(self) -> list[str]:
        return list(self._pending)


@pytest.fixture
def windows(monkeypatch) -> ManualWindows:
    manual = ManualWindows(engine.APPLY_WINDOW_SECONDS)
    monkeypatch.setattr(engine, "_apply_windows", manual)
    return manual


@pytest.fixture
def queued(monkeypatch) -> list[tuple]:
    """The tasks queued, with their arguments, instead of being sent to the broker."""
    tasks = []
    monkeypatch.setattr(engine, "enqueue", lambda name, *args: tasks.append((name, *args)))
    return tasks


APPLY_EVERY_DUE_EVENT = ("outbox.tasks.apply", "app_event")


@pytest.mark.django_db
def test_a_burst_of_commits_queues_one_apply_task_for_them_all(
    applied, windows, queued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(5):
            publish({"n": n})

    assert (windows.requested(), queued) == (["app_event"], [])
    windows.flush()
    assert queued == [APPLY_EVERY_DUE_EVENT]
    with django_capture_on_commit_callbacks(execute=True):
        publish({"n": 5})  # after the task was queued: it may have read the rows already
    windows.flush()
    assert queued == [APPLY_EVERY_DUE_EVENT] * 2
    assert apply_due("app_event") == 6


@pytest.mark.django_db
def test_with_tasks_in_process_a_commit_applies_at_once(
    applied, windows, queued, settings, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = True

    with django_capture_on_commit_callbacks(execute=True):
        publish({"n": 1})

    assert (windows.requested(), queued) == ([], [APPLY_EVERY_DUE_EVENT])


def window_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "outbox-apply-windows"]


def test_one_thread_closes_every_window_of_the_process(queued, monkeypatch):
    windows = engine.ApplyWindows(0.01)
    monkeypatch.setattr(engine, "_apply_windows", windows)
    kind = kind_named("app_event")
    before = set(window_threads())

    for expected in (1, 2, 3):
        windows.request(kind)
        deadline = time.monotonic() + 10
        while len(queued) < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queued == [APPLY_EVERY_DUE_EVENT] * expected

    assert len(set(window_threads()) - before) == 1


@pytest.mark.django_db
def test_a_full_batch_queues_the_next_until_the_backlog_is_applied(applied, queued, monkeypatch):
    monkeypatch.setattr(kind_named("app_event"), "batch", 2)
    for n in range(5):
        publish({"n": n})

    assert [apply_and_continue("app_event") for _ in range(3)] == [2, 2, 1]
    assert queued == [APPLY_EVERY_DUE_EVENT] * 2  # after each full batch
    assert applied_numbers() == [0, 1, 2, 3, 4]
