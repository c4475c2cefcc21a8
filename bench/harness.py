"""What the benchmarks share: the database, the servers, the channels, the load, the figures."""

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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import TypeVar

import dj_database_url
import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gov_payments_bench"
SERVER_LOG = ROOT / "var" / "bench-server.log"
SANDBOX_LOG = ROOT / "var" / "bench-sandbox.log"
STARTUP_SECONDS = 60

# The licensed processors, as tests/billing/test_processor_flows.py registers them.
LICENSED = {
    "alipay": "支付宝（中国）网络技术有限公司",
    "wechatpay": "财付通支付科技有限公司",
    "unionpay": "银联商务股份有限公司",
}
CHANNELS = ("public_platform", *LICENSED)

# One request's work: send it with the session and return the HTTP status, or None when
# there is nothing left to send.
Send = Callable[[requests.Session], int | None]
T = TypeVar("T")


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


def setup_django(port: int, sandbox_port: int | None = None) -> None:
    """Configure this process as the servers will be: the bench settings, PostgreSQL, no broker.

    PORT decides SERVICE_BASE_URL, so the channels' notify_url points at the server under
    test. The providers' base URLs point at the sandboxes of the server on ``sandbox_port``
    when it is given (bench/settings.py), else at the server under test. The servers
    inherit this environment. The database is created if missing, then migrated.
    """
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["PORT"] = str(port)
    if sandbox_port is not None:
        os.environ["BENCH_SANDBOX_PORT"] = str(sandbox_port)
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


def open_every_channel() -> None:
    """Let every department take every channel: each licensed processor registered with a
    valid licence, every channel in accepted_channels, every circuit breaker closed."""
    from datetime import date, timedelta

    from billing.models import ChannelHealth, Department, Processor

    for priority, (code, legal_name) in enumerate(LICENSED.items(), start=20):
        Processor.objects.update_or_create(
            code=code,
            defaults={
                "legal_name": legal_name,
                "licensed": True,
                "licence_number": f"Z20000{priority}000011",
                "licence_scope": ["internet_payment", "mobile_payment", "bank_card_acquiring"],
                "licence_valid_until": date.today() + timedelta(days=365),
                "status": Processor.Status.ACTIVE,
                "min_amount": 1,
                "max_amount": 5_000_000,
                "priority": priority,
            },
        )
    Department.objects.update(accepted_channels=list(CHANNELS))
    ChannelHealth.objects.filter(channel__in=CHANNELS).delete()


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


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used so far (from /proc)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_server(port: int, threads: int, log_path: Path = SERVER_LOG) -> Iterator[Server]:
    """The app under waitress in a child process, as `make run` serves it."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "waitress",
        f"--listen=127.0.0.1:{port}",
        f"--threads={threads}",
        "config.wsgi:application",
    ]
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log)  # noqa: S603 (our argv)
        try:
            _wait_until_healthy(url, server, log_path)
            yield Server(url, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)


@contextmanager
def running_service_and_sandboxes(
    port: int, sandbox_port: int, threads: int
) -> Iterator[dict[str, Server]]:
    """The server under test ("service") and a second one, the same app, that only plays
    the providers ("sandboxes"; its URL is that of the /sandbox/ mount)."""
    with (
        running_server(sandbox_port, threads, SANDBOX_LOG) as sandboxes,
        running_server(port, threads) as service,
    ):
        yield {"service": service, "sandboxes": Server(f"{sandboxes.url}/sandbox", sandboxes.pid)}


def _wait_until_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not start; see {log_path}")


@dataclass
class Figures:
    """What one measured run did: completed requests, their latencies, failures by status."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by server, during the run

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

    def cpu_line(self, unit: str = "request") -> str:
        """The CPU time each watched server spent per completed request."""
        each = (
            f"{name} {cpu * 1000 / len(self.latencies):.1f} ms"
            for name, cpu in self.cpu_seconds.items()
        )
        return f"CPU per {unit}: {', '.join(each)}"


def prepare(make: Callable[[requests.Session], T], *, count: int, clients: int) -> list[T]:
    """Setup, not measured: ``count`` results of ``make``, called from ``clients`` threads."""

    def one(_: int) -> T:
        with requests.Session() as session:
            return make(session)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


def once_each(items: Iterable[T], send_one: Callable[[requests.Session, T], int]) -> Send:
    """A Send that sends each item once, from whichever client thread asks next."""
    pending: SimpleQueue[T] = SimpleQueue()
    for item in items:
        pending.put(item)

    def send(session: requests.Session) -> int | None:
        try:
            item = pending.get_nowait()
        except Empty:
            return None
        return send_one(session, item)

    return send


def measure(
    send: Send,
    *,
    clients: int,
    seconds: float | None = None,
    servers: dict[str, Server] | None = None,
) -> Figures:
    """Run ``send`` from ``clients`` threads, each with its own session, until ``seconds``
    have passed or ``send`` says there is nothing left; successful requests are timed, and
    the CPU time each of ``servers`` spent meanwhile is recorded."""
    figures = Figures()
    servers = servers or {}
    cpu_before = {name: server.cpu_seconds() for name, server in servers.items()}
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
    for name, server in servers.items():
        figures.cpu_seconds[name] = server.cpu_seconds() - cpu_before[name]
    return figures
