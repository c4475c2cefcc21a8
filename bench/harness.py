"""What the benchmarks share: the database, the server under test, the load loop, the figures."""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dj_database_url
import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gov_payments_bench"
SERVER_LOG = ROOT / "var" / "bench-server.log"
STARTUP_SECONDS = 60

# One request's work: send it with the session and return the HTTP status, or None when
# there is nothing left to send.
Send = Callable[[requests.Session], int | None]


def arguments(description: str, **defaults: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--threads", type=int, default=16, help="waitress threads of the server")
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_django(port: int) -> None:
    """Configure this process as the server will be: the bench settings, PostgreSQL, no broker.

    PORT decides SERVICE_BASE_URL, so the channel's notify_url and the sandbox's base URL
    point at the server under test. The database is created if missing, then migrated.
    """
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["PORT"] = str(port)
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks run in-process, as in the embedded run
    _create_database_if_missing(os.environ["DATABASE_URL"])

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def portal_key() -> str:
    """Load the demo catalogue and return the key of a new portal client for this run."""
    from billing.demo import DEMO_CATALOGUE
    from billing.services.catalogue import catalogue_load
    from core.auth import api_client_create
    from core.models import ApiRole

    catalogue_load(data=json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")))
    _, key = api_client_create(name=f"bench-portal-{uuid.uuid4().hex[:8]}", role=ApiRole.PORTAL)
    return key


def _create_database_if_missing(url: str) -> None:
    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(f"the benchmarks run against PostgreSQL, not {config['ENGINE']}")
    server = {
        "host": config["HOST"] or None,
        "port": config["PORT"] or None,
        "user": config["USER"] or None,
        "password": config["PASSWORD"] or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **server) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


@contextmanager
def running_server(port: int, threads: int) -> Iterator[str]:
    """The service under waitress in a child process, as `make run` serves it; yields its URL."""
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "waitress",
        f"--listen=127.0.0.1:{port}",
        f"--threads={threads}",
        "config.wsgi:application",
    ]
    with SERVER_LOG.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)  # noqa: S603 (our argv)
        try:
            _wait_until_healthy(url, server)
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not start; see {SERVER_LOG}")


@dataclass
class Figures:
    """What one measured run did: completed requests, their latencies, failures by status."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile_ms(self, percent: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1] * 1000

    def line(self, label: str, unit: str = "requests") -> str:
        done = f"{len(self.latencies)} in {self.seconds:.1f} s"
        if self.failures:
            done += f", {sum(self.failures.values())} failed {dict(self.failures)}"
        return (
            f"{label:<28} {self.per_second:8.1f} {unit}/s   p50 {self.percentile_ms(50):6.1f} ms"
            f"   p95 {self.percentile_ms(95):6.1f} ms   ({done})"
        )


def measure(send: Send, *, clients: int, seconds: float | None = None) -> Figures:
    """Run ``send`` from ``clients`` threads, each with its own session, until ``seconds``
    have passed or ``send`` says there is nothing left; successful requests are timed."""
    figures = Figures()
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + seconds if seconds is not None else float("inf")

    def client() -> None:
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                before = time.perf_counter()
                status = send(session)
                took = time.perf_counter() - before
                if status is None:
                    return
                with lock:
                    if 200 <= status < 300:
                        figures.latencies.append(took)
                    else:
                        figures.failures[status] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures.seconds = time.perf_counter() - started
    return figures
