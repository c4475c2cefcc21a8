"""What `manage.py serve` runs: its child processes, and the periodic jobs without a broker.

The web server, the sandboxes and (with a broker) a Celery worker and Celery beat run as
child processes that live and die with serve. Without a broker, tasks run in-process
(eagerly) and the periodic jobs of CELERY_BEAT_SCHEDULE run on a thread of serve.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery import schedules
from django.conf import settings
from django.db import close_old_connections

from config import queues
from config.celery_app import app as celery_app

logger = logging.getLogger(__name__)
CHILD_STOP_SECONDS = 30
CRONTAB_CHECK = 60.0  # seconds between looks at a crontab schedule


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    run: Callable[[], object]
    interval: float  # seconds


def periodic_jobs_from(schedule: Mapping[str, Mapping]) -> list[PeriodicJob]:
    """The jobs of a Celery beat schedule: intervals as they are, crontabs checked each minute."""
    celery_app.loader.import_default_modules()
    jobs = []
    for name, entry in schedule.items():
        task, when = celery_app.tasks[entry["task"]], entry["schedule"]
        if isinstance(when, timedelta | int | float):
            seconds = when.total_seconds() if isinstance(when, timedelta) else float(when)
            jobs.append(PeriodicJob(name=name, run=task, interval=seconds))
        else:
            jobs.append(PeriodicJob(name=name, run=_when_due(when, task), interval=CRONTAB_CHECK))
    return jobs


def _when_due(when: schedules.BaseSchedule, task: Callable[[], object]) -> Callable[[], None]:
    """Run the task when the schedule says it is due; what fell due before start is skipped."""
    last_run = [when.now()]

    def run() -> None:
        if when.is_due(last_run[0]).is_due:
            last_run[0] = when.now()
            task()

    return run


@contextmanager
def periodic_jobs(jobs: list[PeriodicJob]) -> Iterator[None]:
    """Run each job every interval (the first after one interval) on a daemon thread."""
    stop = threading.Event()
    thread = threading.Thread(target=_run_periodic, args=(jobs, stop), name="periodic", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def _run_periodic(jobs: list[PeriodicJob], stop: threading.Event) -> None:
    due = {job.name: time.monotonic() + job.interval for job in jobs}
    while jobs and not stop.wait(max(0.0, min(due.values()) - time.monotonic())):
        for job in jobs:
            if due[job.name] <= time.monotonic():
                due[job.name] = time.monotonic() + job.interval
                _run_once(job)


def _run_once(job: PeriodicJob) -> None:
    close_old_connections()
    try:
        job.run()
    except Exception:  # a failing job must not stop the others; the next interval retries
        logger.exception("periodic job %s failed", job.name)
    finally:
        close_old_connections()


def celery_commands(*, beat_schedule: Path) -> dict[str, list[str]]:
    """A Celery worker on every queue and Celery beat, for one machine (`make run`)."""
    beat_schedule.parent.mkdir(parents=True, exist_ok=True)
    celery = [sys.executable, "-m", "celery", "-A", "config"]
    return {
        "worker": [*celery, "worker", "--loglevel=INFO", f"--queues={','.join(_queue_names())}"],
        "beat": [*celery, "beat", "--loglevel=INFO", f"--schedule={beat_schedule}"],
    }


def _queue_names() -> list[str]:
    return [settings.CELERY_QUEUE_PREFIX + queue for queue in queues.QUEUES]


@contextmanager
def child_processes(
    commands: Mapping[str, list[str]], *, cwd: Path, env: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Run each command as a child, in this process's environment updated with ``env``.

    On exit they get SIGTERM (a warm shutdown) and are killed if still running after
    CHILD_STOP_SECONDS. If one dies on its own, this process gets SIGTERM, so the
    whole service stops rather than run half of itself.
    """
    environment = {**os.environ, **(env or {})}
    stopping = threading.Event()
    children: list[subprocess.Popen] = []
    try:
        for name, command in commands.items():
            # A process group of its own: the terminal's Ctrl-C reaches it only through us.
            child = subprocess.Popen(  # noqa: S603 (our own argv)
                command, cwd=cwd, env=environment, process_group=0
            )
            children.append(child)
            threading.Thread(target=_watch, args=(name, child, stopping), daemon=True).start()
        yield
    finally:
        stopping.set()
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=CHILD_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _watch(name: str, child: subprocess.Popen, stopping: threading.Event) -> None:
    status = child.wait()
    if not stopping.is_set():
        logger.error("%s exited with status %s; stopping the service", name, status)
        os.kill(os.getpid(), signal.SIGTERM)
