"""A deployment of the service for one simulation: a database, queues and processes of its own.

The database is made on the PostgreSQL server the settings name (the embedded one of
``make run`` included) and dropped at the end; the queues are named after a prefix of the
run's own on the broker; the processes are those of docs/deploy.md: gunicorn, a Celery
worker for the payments queue and one for reconciliation and housekeeping, and the
sandboxes' server; beat's schedule is played by the simulator (simulation.beat). Every
process reads the simulated clock (simulation.clock).
This process switches its own database connection to the run's database, so that the
simulator reads the books and acts as finance staff through the same service functions.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connections
from kombu import Connection
from psycopg import sql

from config import queues
from config.celery_app import app as celery_app
from core import embedded_postgres
from simulation.clock import CLOCK_ENV
from simulation.cluster import Cluster, answers, free_port
from simulation.in_hand import TASKS_ENV, tasks_in_hand

STARTUP_SECONDS = 90
SETTLE_SECONDS = 60  # the longest wait for the queues to empty before a jump
QUIET_SECONDS = 0.3  # empty for this long: what was taken is done
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"
PREFIX = "simulation-"
WORKER_NAMES = ("payments", "background")  # each worker's node name, before the prefix


@dataclass(frozen=True)
class Deployment:
    web: str  # SERVICE_BASE_URL
    sandbox: str
    database: str  # its name on the server
    cluster: Cluster
    run_dir: Path
    prefix: str  # of its queues' names

    def settle(self) -> None:
        """Wait until the queues have been empty, and the workers have held no task, for a
        moment: the tasks sent so far are done before the clock jumps ahead of them (a task
        in hand across a jump would meet a peer whose clock moved on: a signature's time
        hours old). After SETTLE_SECONDS the clock moves anyway; the retries every outside
        call has are there for that."""
        with Connection(settings.CELERY_BROKER_URL) as broker:
            channel = broker.default_channel
            quiet_since = None
            deadline = time.monotonic() + SETTLE_SECONDS
            while time.monotonic() < deadline:
                waiting = tasks_in_hand(tasks_dir(self.run_dir)) + sum(
                    channel.queue_declare(self.prefix + queue, passive=True).message_count
                    for queue in queues.QUEUES
                )
                now = time.monotonic()
                if waiting:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = now
                elif now - quiet_since >= QUIET_SECONDS:
                    return
                time.sleep(0.05)

    def idle(self) -> None:
        """Wait until the queues are empty and the workers hold no task: a task taken off
        its queue may still be about to send others (beat's retry of the runs waiting for a
        file asks for the runs). Asks the run's workers, so it is kept for the night."""
        names = [f"{name}-{self.prefix}@{socket.gethostname()}" for name in WORKER_NAMES]
        inspector = celery_app.control.inspect(destination=names, timeout=1.0)
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            self.settle()
            held = [inspector.active() or {}, inspector.reserved() or {}]
            if not any(tasks for replies in held for tasks in replies.values()):
                return


def tasks_dir(run_dir: Path) -> Path:
    return run_dir / "tasks"


def run_environment() -> dict[str, str] | None:
    """The environment this process must start with to take part in a run, or None when it
    has it: the run's queue prefix and a real broker are read as the settings load, so the
    simulate command starts itself again with them (it sends tasks to the run's queues)."""
    if os.environ.get("CELERY_QUEUE_PREFIX", "").startswith(PREFIX) and os.environ.get(
        "CELERY_BROKER_URL"
    ):
        return None
    token = f"{os.getpid()}-{secrets.token_hex(3)}"
    return {
        **os.environ,
        "CELERY_BROKER_URL": os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER,
        "CELERY_QUEUE_PREFIX": f"{PREFIX}{token}-",
    }


def _server() -> dict[str, str]:
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "core.embedded_postgres":
        embedded_postgres.ensure_running(Path(db["DATA_DIR"]))
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
    }


def _database_url(server: dict[str, str], name: str) -> str:
    user = quote(server["user"], safe="")
    password = f":{quote(server['password'], safe='')}" if server["password"] else ""
    return f"postgres://{user}{password}@{quote(server['host'], safe='')}:{server['port']}/{name}"


def _admin(server: dict[str, str]) -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", autocommit=True, **server)


@contextmanager
def deployment(
    run_dir: Path, *, clock_file: Path, keep_database: bool = False
) -> Iterator[Deployment]:
    """Make the database and queues, start every process, and remove them all at the end."""
    server = _server()
    prefix = settings.CELERY_QUEUE_PREFIX
    name = prefix.strip("-").replace("-", "_")
    web_port, sandbox_port = free_port(), free_port()
    web, sandbox = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{sandbox_port}"
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("PORT", "BIND")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": _database_url(server, name),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE_PREFIX": prefix,
        "SERVICE_BASE_URL": web,
        "SANDBOX_BASE_URL": sandbox,
        "SANDBOX_PORT": str(sandbox_port),
        # The sandboxes' own waits (a refund landing a minute later) pass a thousand times
        # faster; the simulated clock moves the days.
        "SANDBOX_TIME_SCALE": "1000",
        "VAR_DIR": str(run_dir / "var"),
        "LOG_HUMAN": "0",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
        CLOCK_ENV: str(clock_file),
        TASKS_ENV: str(tasks_dir(run_dir)),
    }
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tasks_dir(run_dir).mkdir(exist_ok=True)
    cluster = Cluster(logs=logs, env=env)
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _use_database(name)
    try:
        call_command("migrate", interactive=False, verbosity=0)
        _start(
            cluster, prefix=prefix, web_port=web_port, sandbox_port=sandbox_port, run_dir=run_dir
        )
        cluster.wait_for(
            lambda: answers(f"{web}/readyz"), what="the web server", seconds=STARTUP_SECONDS
        )
        cluster.wait_for(
            lambda: answers(f"{sandbox}/healthz"), what="the sandboxes", seconds=STARTUP_SECONDS
        )
        yield Deployment(
            web=web, sandbox=sandbox, database=name, cluster=cluster, run_dir=run_dir, prefix=prefix
        )
    finally:
        cluster.stop()
        connections.close_all()
        with Connection(settings.CELERY_BROKER_URL) as broker:
            channel = broker.default_channel
            for queue in queues.QUEUES:
                channel.queue_delete(prefix + queue)
        if not keep_database:
            with _admin(server) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def _use_database(name: str) -> None:
    """This process's ORM on the run's database, as the test runner switches to its own."""
    connections.close_all()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name


def web_command() -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]


def worker_command(prefix: str, *queue_names: str, name: str) -> list[str]:
    # Without mingle and gossip a worker neither waits for nor talks to other runs' workers.
    return [
        *(sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO"),
        *("--concurrency=2", "--without-mingle", "--without-gossip"),
        *("-Q", ",".join(prefix + queue for queue in queue_names), "-n", f"{name}-{prefix}@%h"),
    ]


def _start(
    cluster: Cluster, *, prefix: str, web_port: int, sandbox_port: int, run_dir: Path
) -> None:
    metrics = run_dir / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    cluster.start(
        "web",
        web_command(),
        BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics),
    )
    cluster.start(
        "sandboxes", [sys.executable, "manage.py", "sandboxes", "--port", str(sandbox_port)]
    )
    payments, background = WORKER_NAMES
    cluster.start("worker-payments", worker_command(prefix, queues.PAYMENTS, name=payments))
    cluster.start(
        "worker-background",
        worker_command(prefix, queues.RECONCILIATION, queues.HOUSEKEEPING, name=background),
    )
