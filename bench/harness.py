"""What the benchmarks share: the database, the servers, the channels, the load, the figures."""

from __future__ import annotations

import argparse
import json
import os
import runpy
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import dj_database_url
import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/gov_payments_bench"
SERVER_LOG = ROOT / "var" / "bench-server.log"
SANDBOX_LOG = ROOT / "var" / "bench-sandbox.log"
GUNICORN_CONFIG = ROOT / "config" / "gunicorn.py"
DEFAULT_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
STARTUP_SECONDS = 60
STOP_SECONDS = 40  # gunicorn's graceful timeout (30 s) and some
WARM_UP_SECONDS = 3
REPLAY_SCRIPT = ROOT / "bench" / "replay.lua"
WRK_THREADS = 2  # as the targets were first measured: wrk -t2 -c16
REPLAY_LIMIT_SECONDS = 3600  # wrk's -d: replays end when their requests are answered
ANSWER_SECONDS = 60  # the longest wait for one answer
# The baselines (bench/urls.py): the bare DRF endpoint that the targets name, and a plain
# Django view, the least a Django write endpoint can cost.
BARE_DRF = "/bench/insert-one-drf"
BARE_DJANGO = "/bench/insert-one"

# The licensed processors, as tests/billing/test_processor_flows.py registers them.
LICENSED = {
    "alipay": "支付宝（中国）网络技术有限公司",
    "wechatpay": "财付通支付科技有限公司",
    "unionpay": "银联商务股份有限公司",
}
CHANNELS = ("public_platform", *LICENSED)

T = TypeVar("T")
U = TypeVar("U")


def arguments(description: str, **defaults: int) -> argparse.Namespace:
    workers, threads = gunicorn_defaults()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--clients", type=int, default=16, help="concurrent connections of the load (wrk)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds, each path measured once in each (bench/harness.py: interleaved)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=workers,
        help=f"gunicorn worker processes of the server under test (config/gunicorn.py: {workers})",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help=f"threads of each worker (config/gunicorn.py: {threads})",
    )
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()


def gunicorn_defaults() -> tuple[int, int]:
    """The workers and threads config/gunicorn.py gives on this machine (WEB_CONCURRENCY and
    WEB_THREADS if set)."""
    config = runpy.run_path(str(GUNICORN_CONFIG))
    return config["workers"], config["threads"]


def served_by(args: argparse.Namespace) -> str:
    """The server under test, for the figures' heading."""
    return f"gunicorn {args.workers} workers x {args.threads} threads"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setup_django(port: int, sandbox_port: int | None = None) -> None:
    """Configure this process as the servers will be: the bench settings, PostgreSQL, no broker.

    PORT decides SERVICE_BASE_URL, so the channels' notify_url points at the server under
    test. SANDBOX_BASE_URL decides the providers' base URLs (config/settings/local.py): the
    sandboxes' own server on ``sandbox_port`` when it is given, else the server under test,
    whose URLconf (bench/urls.py) mounts the sandboxes too. The servers inherit this
    environment. The database is created if missing, then migrated.
    """
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ["PORT"] = str(port)
    os.environ["SANDBOX_BASE_URL"] = f"http://127.0.0.1:{sandbox_port or port}"
    os.environ.pop("CELERY_BROKER_URL", None)  # tasks run in-process, as in the embedded run
    _create_database_if_missing(os.environ["DATABASE_URL"])

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


@contextmanager
def queued_tasks() -> Iterator[list[str]]:
    """The servers started inside hand their tasks to RabbitMQ as production does
    (CELERY_BROKER_URL, default the local one), on queues of this run's own, deleted on
    leaving; yields the queues' names. No worker consumes them unless the caller starts one:
    what a request queues (a webhook, a revenue record) is then not done inside the request,
    as it is with tasks in-process."""
    from kombu import Connection

    from config.queues import QUEUES

    broker = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL
    prefix = f"bench-{uuid.uuid4().hex[:8]}-"
    os.environ.update(CELERY_BROKER_URL=broker, CELERY_QUEUE_PREFIX=prefix)
    queues = [prefix + queue for queue in QUEUES]
    try:
        yield queues
    finally:
        with Connection(broker) as connection:
            for queue in queues:
                connection.default_channel.queue_delete(queue)


def portal_key() -> str:
    """Load the demo catalogue and return the key of a new portal client for this run."""
    from billing.services.catalogue import catalogue_load
    from core.auth import api_client_create
    from core.models import ApiRole
    from demo.reference import DEMO_CATALOGUE

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
    pid: int  # gunicorn's master: its workers are its children

    def cpu_seconds(self) -> float:
        """User and system CPU time the server has used so far: the process, its children
        (gunicorn's workers) and theirs, and the children that have exited (from /proc)."""
        return tree_cpu_seconds(self.pid)


def tree_cpu_seconds(pid: int) -> float:
    """The CPU seconds of ``pid`` and every live descendant, each with its reaped children's
    (cutime and cstime: a worker gunicorn replaced still counts, through its master)."""
    total = 0.0
    for each in _process_tree(pid):
        try:
            stat = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # exited meanwhile: in its parent's
            continue
        total += sum(int(ticks) for ticks in stat[11:15]) / os.sysconf("SC_CLK_TCK")
    return total


def _process_tree(pid: int) -> list[int]:
    tree, pending = [], [pid]
    while pending:
        each = pending.pop()
        tree.append(each)
        for task in Path(f"/proc/{each}/task").glob("*"):
            with suppress(FileNotFoundError, ProcessLookupError):  # exited meanwhile
                pending += [int(child) for child in (task / "children").read_text().split()]
    return tree


@contextmanager
def running_server(
    port: int, workers: int, threads: int, log_path: Path = SERVER_LOG
) -> Iterator[Server]:
    """The app under gunicorn (config/gunicorn.py, gthread) in a child process, as production
    serves it, with ``workers`` processes of ``threads`` threads each and the bench settings
    (DJANGO_SETTINGS_MODULE, which config/wsgi.py keeps). The workers share their metrics
    through a directory of their own, as under `manage.py serve`. Its fresh workers are
    warmed up before it is handed over (``_warm_up``)."""
    command = [
        sys.executable, "-m", "gunicorn",
        "--config", str(GUNICORN_CONFIG),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "config.wsgi:application",
    ]  # fmt: skip
    metrics = tempfile.mkdtemp(prefix="bench-metrics-")
    try:
        with _child(command, f"http://127.0.0.1:{port}", log_path, metrics) as server:
            _warm_up(server.url, workers * threads, log_path)
            yield server
    finally:
        shutil.rmtree(metrics, ignore_errors=True)


@contextmanager
def running_sandboxes(port: int, log_path: Path = SANDBOX_LOG) -> Iterator[Server]:
    """The sandboxes' own server, `manage.py sandboxes` (one gunicorn process, 32 threads),
    as `manage.py serve` runs it beside the service; its URL is that of the /sandbox/ mount."""
    command = [sys.executable, "manage.py", "sandboxes", "--port", str(port)]
    with _child(command, f"http://127.0.0.1:{port}", log_path) as server:
        yield Server(f"{server.url}/sandbox", server.pid)


@contextmanager
def running_service_and_sandboxes(
    port: int, sandbox_port: int, workers: int, threads: int
) -> Iterator[dict[str, Server]]:
    """The server under test ("service") and the sandboxes' server, which plays the
    providers ("sandboxes")."""
    with (
        running_sandboxes(sandbox_port) as sandboxes,
        running_server(port, workers, threads) as service,
    ):
        yield {"service": service, "sandboxes": sandboxes}


@contextmanager
def _child(
    command: list[str], url: str, log_path: Path, metrics_dir: str | None = None
) -> Iterator[Server]:
    """Start ``command`` in ROOT, wait until ``url``/healthz answers; stop it at the end
    (SIGTERM: gunicorn's graceful shutdown, then SIGKILL if it hangs)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": metrics_dir} if metrics_dir else None
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)  # noqa: S603 (our argv)
        try:
            _wait_until_healthy(url, server, log_path)
            yield Server(url, server.pid)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _warm_up(url: str, connections: int, log_path: Path) -> None:
    """A fresh worker's first API request also builds the OpenAPI schema that the API's
    permission check reads (core/roles.py), once per process. So before anything is set up
    or measured: GET /api/v1/payment-orders without credentials (answered 401) from as many
    client threads as the server has threads, on a new connection each time so that every
    worker takes some, for WARM_UP_SECONDS. Prints how many, the slowest and any 5xx."""
    statuses: Counter = Counter()
    slowest = 0.0
    lock = threading.Lock()
    deadline = time.monotonic() + WARM_UP_SECONDS

    def client(_: int) -> None:
        nonlocal slowest
        while time.monotonic() < deadline:
            before = time.perf_counter()
            status = requests.get(f"{url}/api/v1/payment-orders", timeout=60).status_code
            with lock:
                statuses[status] += 1
                slowest = max(slowest, time.perf_counter() - before)

    with ThreadPoolExecutor(connections) as pool:
        list(pool.map(client, range(connections)))
    failed = sum(count for status, count in statuses.items() if status >= 500)
    print(
        f"warm-up: {statuses.total()} unauthenticated API requests, slowest {slowest * 1000:.0f} ms"
        + (f", {failed} answered 5xx (see {log_path})" if failed else ""),
        flush=True,
    )


def _wait_until_healthy(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):  # not listening, workers booting
            pass
        time.sleep(0.2)
    raise SystemExit(f"the server did not start; see {log_path}")


PERCENTILES = (50, 95, 99)


@dataclass
class Figures:
    """What one measured run did: completed requests, their latency percentiles, failures."""

    completed: int = 0
    seconds: float = 0.0
    percentiles_ms: dict[int, float] = field(default_factory=dict)  # by PERCENTILES
    failures: Counter = field(default_factory=Counter)  # by status; "no answer" for the rest
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # by server, during the run
    client_cpu_seconds: float = 0.0  # the load generator's

    @classmethod
    def combined(cls, rounds: list[Figures]) -> Figures:
        """Several rounds of one path as one: every request over all their time, and each
        percentile from the round where it was worst."""
        cpu = Counter()
        for each in rounds:
            cpu.update(each.cpu_seconds)
        return cls(
            sum(each.completed for each in rounds),
            sum(each.seconds for each in rounds),
            {p: max(each.percentiles_ms[p] for each in rounds) for p in PERCENTILES},
            sum((each.failures for each in rounds), Counter()),
            dict(cpu),
            sum(each.client_cpu_seconds for each in rounds),
        )

    @property
    def per_second(self) -> float:
        return self.completed / self.seconds

    def percentile_ms(self, percent: int) -> float:
        return self.percentiles_ms[percent]

    def line(self, label: str, unit: str = "requests") -> str:
        done = f"{self.completed} in {self.seconds:.1f} s"
        if self.failures:
            done += f", {sum(self.failures.values())} failed {dict(self.failures)}"
        return (
            f"{label:<28} {self.per_second:8.1f} {unit}/s   p50 {self.percentile_ms(50):6.1f} ms"
            f"   p95 {self.percentile_ms(95):6.1f} ms   p99 {self.percentile_ms(99):6.1f} ms"
            f"   ({done})"
        )

    def cpu_line(self, unit: str = "request") -> str:
        """The CPU time each watched server (all its processes) spent per completed request,
        and the load generator's."""
        each = (f"{name} {self.cpu_ms(name):.1f} ms" for name in self.cpu_seconds)
        clients = self.client_cpu_seconds * 1000 / self.completed
        return f"CPU per {unit}: {', '.join(each)} (wrk {clients:.2f} ms)"

    def cpu_ms(self, server: str) -> float:
        return self.cpu_seconds[server] * 1000 / self.completed


def prepare(make: Callable[[requests.Session], T], *, count: int, clients: int) -> list[T]:
    """Setup, not measured: ``count`` results of ``make``, called from ``clients`` threads."""
    return prepare_each(lambda session, _: make(session), range(count), clients=clients)


def prepare_each(
    make: Callable[[requests.Session, U], T], items: Iterable[U], *, clients: int
) -> list[T]:
    """Setup, not measured: ``make`` of each item, in order, called from ``clients`` threads,
    each with a session of its own (its connections kept alive between calls)."""
    sessions = threading.local()

    def one(item: U) -> T:
        if not hasattr(sessions, "session"):
            sessions.session = requests.Session()
        return make(sessions.session, item)

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, items))


def raw_request(
    url: str, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One HTTP/1.1 request to the server at ``url``, as bytes on the wire (for ``replay``)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {urlsplit(url).netloc}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def replay(
    url: str,
    wire: list[bytes],
    *,
    clients: int,
    servers: dict[str, Server] | None = None,
    rate: int | None = None,
) -> Figures:
    """Send each request of ``wire`` once, with wrk (bench/replay.lua) over ``clients``
    keep-alive connections, each sending its next request when the last is answered (with
    ``rate``, a request every 1/rate s while a connection is free: an open loop); the
    figures are wrk's (latencies from its histogram, the rate over the first request to the
    last answer) with the CPU time each of ``servers`` spent meanwhile. wrk is written in C
    and costs about 0.02 ms of CPU a request: a load generator in Python costs 1-2 ms, taken
    from the two cores the server under test runs on."""
    threads = min(WRK_THREADS, clients, len(wire))
    servers = servers or {}
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        requests_file, result = Path(folder) / "requests", Path(folder) / "result.json"
        with requests_file.open("wb") as out:
            for each in wire:
                out.write(b"%d\n%s" % (len(each), each))
        cpu_before = {name: server.cpu_seconds() for name, server in servers.items()}
        command = [
            "wrk", f"-t{threads}", f"-c{clients}", f"-d{REPLAY_LIMIT_SECONDS}s",
            "--timeout", f"{ANSWER_SECONDS}s", "-s", str(REPLAY_SCRIPT), url,
        ]  # fmt: skip
        env = {
            **os.environ,
            "REPLAY_REQUESTS": str(requests_file),
            "REPLAY_RESULT": str(result),
            "REPLAY_THREADS": str(threads),
            **({"REPLAY_RATE": str(rate)} if rate else {}),
        }
        wrk = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
        _wait_for_answers(wrk, result, threads)
        cpu = {name: server.cpu_seconds() - cpu_before[name] for name, server in servers.items()}
        client_cpu = tree_cpu_seconds(wrk.pid)
        wrk.send_signal(signal.SIGINT)  # wrk then writes its figures (done() in the script)
        wrk.wait()
        figures = json.loads(result.read_text())
    failures = Counter()
    for status, count in figures["statuses"]:
        if not 200 <= status < 300:
            failures[status] += count
    completed = sum(count for status, count in figures["statuses"]) - failures.total()
    if unanswered := len(wire) - completed - failures.total():
        failures["no answer"] = unanswered
    percentiles = {percent: figures[f"p{percent}_us"] / 1000 for percent in PERCENTILES}
    return Figures(completed, figures["seconds"], percentiles, failures, cpu, client_cpu)


def _wait_for_answers(wrk: subprocess.Popen, result: Path, threads: int) -> None:
    """Until every wrk thread has its answers, or ANSWER_SECONDS after the last request was
    sent (a request lost with its connection is never answered)."""
    sent = [Path(f"{result}.sent.{index}") for index in range(threads)]
    done = [Path(f"{result}.done.{index}") for index in range(threads)]
    all_sent_at = None
    while wrk.poll() is None and not all(path.exists() for path in done):
        if all_sent_at is None and all(path.exists() for path in sent):
            all_sent_at = time.monotonic()
        if all_sent_at is not None and time.monotonic() - all_sent_at > ANSWER_SECONDS:
            return
        time.sleep(0.02)


def interleaved(
    url: str,
    wires: dict[str, list[bytes]],
    *,
    rounds: int,
    clients: int,
    servers: dict[str, Server] | None = None,
) -> dict[str, Figures]:
    """Each path's requests cut into ``rounds`` parts, sent round by round, the paths one
    after another in each (``replay``); the figures of each path over its rounds.

    Each replay opens new connections, and whichever worker process accepts one keeps it:
    16 may land 8 and 8, or 11 and 5, and a process of 8 threads given 11 connections has a
    queue while the other idles. Rounds, and the paths side by side in each, let every path
    meet the same luck."""
    measured: dict[str, list[Figures]] = {name: [] for name in wires}
    for round_ in range(rounds):
        for name, wire in wires.items():
            part = wire[len(wire) * round_ // rounds : len(wire) * (round_ + 1) // rounds]
            measured[name].append(replay(url, part, clients=clients, servers=servers))
    return {name: Figures.combined(each) for name, each in measured.items()}


def bare_inserts(url: str, count: int, path: str = BARE_DJANGO) -> list[bytes]:
    """Baseline requests (bench/urls.py), one ORM insert each: the plain Django view's, or
    with ``path=BARE_DRF`` the bare DRF endpoint's."""
    return [raw_request(url, "POST", path)] * count


def baselines(url: str, count: int) -> dict[str, list[bytes]]:
    """``count`` requests of each baseline, to measure beside a path: "drf" and "django"."""
    return {"drf": bare_inserts(url, count, BARE_DRF), "django": bare_inserts(url, count)}


def per_channel_figures(
    figures: dict[str, Figures],
    baseline: Figures,
    *,
    clients: int,
    django_baseline: Figures | None = None,
) -> dict:
    """What bench/results.py reads of a per-channel run: each channel's rate and latencies,
    and the bare DRF insert's rate measured in the same run (and the plain Django view's)."""
    return {
        "clients": clients,
        "baseline_rate": baseline.per_second,
        **({"django_baseline_rate": django_baseline.per_second} if django_baseline else {}),
        "channels": {
            channel: {
                "rate": measured.per_second,
                "p50_ms": measured.percentile_ms(50),
                "p95_ms": measured.percentile_ms(95),
                "p99_ms": measured.percentile_ms(99),
            }
            for channel, measured in figures.items()
        },
    }
