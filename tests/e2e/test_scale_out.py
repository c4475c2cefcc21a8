"""Scale-out, shown: more web processes and more Celery workers on one PostgreSQL and RabbitMQ.

Every piece runs as an OS process of its own, as a deployment runs them (docs/deploy.md):
two gunicorn servers (config/gunicorn.py, two workers each), a Celery worker on the
payments queue and another on the reconciliation and housekeeping queues, Celery beat, and
the sandboxes' server playing every outside party. They share a database made for this
test and queues named after a prefix of its own, both removed at the end.

Orders are created and paid through both web servers in turn, over four channels, and
polled through the other one; webhooks go to a receiver this test runs, revenue records
to the sandbox revenue system; then the day is reconciled. The database is checked last:
each order paid once, the ledger balanced, every webhook and revenue record delivered,
every processor's run clean; the workers' logs show which of them ran which task.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
from django.conf import settings
from kombu import Connection
from psycopg import sql

import simulation.cluster
from billing.webhook_signing import WebhookVerificationError, verify
from config import queues
from simulation.cluster import ROOT, Process, answers, free_port

pytestmark = pytest.mark.timeout(240)

BEIJING = ZoneInfo("Asia/Shanghai")
STARTUP_SECONDS = 60
SETTLE_SECONDS = 30  # payments, webhooks and revenue pushes, once paid at the cashier
RUNS_SECONDS = 60  # the day's runs, on one reconciliation worker
HTTP_TIMEOUT = 30
# UnionPay's settlement date turns at 23:00 Beijing time: later, today's payments are on
# tomorrow's file and today's run waits for it (see tests/e2e/test_demo_day.py).
UNIONPAY_CUTOFF_HOUR = 23
CHANNELS = ("public_platform", "alipay", "wechatpay", "unionpay")
# (department, fee lines) of the demo catalogue (demo/fixtures/demo_catalogue.json).
FEES = (
    ("330100-GACRJ", (("CRJ-PTHZ", 12000),)),
    ("330100-ZRZY", (("BDC-ZZDJ", 8000), ("BDC-ZSGBF", 1000))),
    ("330100-RSJ", (("ZYJN-JD", 15000),)),
    ("330106-SCJG", (("JLQJ-JD", 4800),)),
    ("330100-SCJG", (("TZSB-JYJC", 86000),)),
)
ORDERS = 8  # each channel twice: once through each web process
TASK_RECEIVED = re.compile(r"Task ([\w.]+)\[([0-9a-f-]{36})\] received")
WORKER_READY = re.compile(r"@\S+ ready\.")
SEED_KEY = re.compile(r"^(portal|finance) key: (\S+)$", re.MULTILINE)
SEED = """
import django

django.setup()
from core.auth import api_client_create
from demo.access import demo_seed

print("portal key:", demo_seed().portal_key)
print("finance key:", api_client_create(name="finance-scripts", role="finance")[1])
"""


# -- the processes ----------------------------------------------------------------------


class Cluster(simulation.cluster.Cluster):
    """The processes of ``simulation.cluster``, failing the test (no traceback, the logs' tails)."""

    def fail(self, message: str) -> None:
        pytest.fail(f"{message}\n{self.tails()}", pytrace=False)


# -- the deployment ---------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    web: tuple[str, str]  # the two web processes' base URLs; the first is SERVICE_BASE_URL
    sandbox: str
    portal: dict[str, str]  # the demo portal's Authorization header
    finance: dict[str, str]  # a finance API key's
    database: str  # psycopg conninfo of the test's own database
    cluster: Cluster


def _database_settings() -> dict:
    """Where the test settings' PostgreSQL is: the test's database goes on the same server."""
    db = settings.DATABASES["default"]
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
    }


def _database_url(server: dict, name: str) -> str:
    user = quote(server["user"], safe="")
    password = f":{quote(server['password'], safe='')}" if server["password"] else ""
    return f"postgres://{user}{password}@{server['host']}:{server['port']}/{name}"


def _admin(server: dict) -> psycopg.Connection:
    return psycopg.connect(dbname="postgres", autocommit=True, **server)


def _run_once(command: list[str], env: dict[str, str], *, seconds: float) -> str:
    done = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds, check=False
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(command[1:])} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}",
            pytrace=False,
        )
    return done.stdout


def _keys(output: str, names: tuple[str, ...]) -> tuple[str, ...]:
    keys = dict(SEED_KEY.findall(output))
    assert set(keys) == set(names), f"the seed printed no keys for {names}:\n{output}"
    return tuple(keys[name] for name in names)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    server = _database_settings()
    name = f"scaleout_{os.getpid()}_{secrets.token_hex(4)}"
    prefix = f"scaleout-{os.getpid()}-{secrets.token_hex(4)}-"
    web_ports = (free_port(), free_port())
    sandbox_port = free_port()
    web = tuple(f"http://127.0.0.1:{port}" for port in web_ports)
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **{key: value for key, value in os.environ.items() if key not in ("PORT", "BIND")},
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DATABASE_URL": _database_url(server, name),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE_PREFIX": prefix,
        "SERVICE_BASE_URL": web[0],
        "SANDBOX_BASE_URL": sandbox,
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_TIME_SCALE": "1000",
        # The sandboxes' journal and the metrics files of this cluster, not the clone's var/.
        "VAR_DIR": str(tmp_path / "var"),
        "LOG_HUMAN": "0",  # the JSON lines of production
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    cluster = Cluster(logs=logs, env=env)
    with _admin(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        python, celery = [sys.executable], [sys.executable, "-m", "celery", "-A", "config"]
        gunicorn = [*python, "-m", "gunicorn", "-c", "config/gunicorn.py"]
        gunicorn.append("config.wsgi:application")
        # Without mingle and gossip a worker neither waits for nor talks to the other
        # workers on this broker (other test runs' among them).
        worker = [*celery, "worker", "--loglevel=INFO", "--concurrency=2", "--without-mingle",
                  "--without-gossip"]  # fmt: skip
        # The processes start while the database is migrated: none reads a table to start.
        for index, port in enumerate(web_ports):
            metrics = tmp_path / "metrics" / f"web-{'ab'[index]}"
            metrics.mkdir(parents=True)
            cluster.start(
                f"web-{'ab'[index]}",
                gunicorn,
                BIND=f"127.0.0.1:{port}",
                WEB_CONCURRENCY="2",
                PROMETHEUS_MULTIPROC_DIR=str(metrics),
            )
        cluster.start("sandboxes", [*python, "manage.py", "sandboxes", "--port", str(sandbox_port)])
        cluster.start(
            "worker-payments",
            [*worker, "-Q", prefix + queues.PAYMENTS, "-n", f"payments-{prefix}@%h"],
        )
        cluster.start(
            "worker-reconciliation",
            [
                *worker,
                "-Q", f"{prefix}{queues.RECONCILIATION},{prefix}{queues.HOUSEKEEPING}",
                "-n", f"reconciliation-{prefix}@%h",
            ],
        )  # fmt: skip
        cluster.start(
            "beat", [*celery, "beat", "--loglevel=INFO", f"--schedule={tmp_path / 'beat'}"]
        )
        _run_once([*python, "manage.py", "migrate", "--no-input", "-v0"], env, seconds=120)
        # The demo's reference data (catalogue, processors, revenue system, staff logins) and
        # the portal client's new key, then a finance key to ask for the runs with.
        seeded = _run_once([*python, "-c", SEED], env, seconds=120)
        portal_key, finance_key = _keys(seeded, ("portal", "finance"))
        for url in web:
            cluster.wait_for(
                lambda url=url: answers(f"{url}/readyz"),
                what=f"{url}/readyz",
                seconds=STARTUP_SECONDS,
            )
        cluster.wait_for(
            lambda: answers(f"{sandbox}/healthz"), what="the sandboxes", seconds=STARTUP_SECONDS
        )
        for name_ in ("worker-payments", "worker-reconciliation"):
            process = cluster.processes[name_]
            cluster.wait_for(
                lambda process=process: WORKER_READY.search(process.output()),
                what=f"{name_} to be ready",
                seconds=STARTUP_SECONDS,
            )
        yield Deployment(
            web=web,
            sandbox=sandbox,
            portal={"Authorization": f"Bearer {portal_key}"},
            finance={"Authorization": f"Bearer {finance_key}"},
            database=psycopg.conninfo.make_conninfo(dbname=name, **server),
            cluster=cluster,
        )
    finally:
        cluster.stop()
        with Connection(settings.CELERY_BROKER_URL) as broker:
            channel = broker.default_channel
            for queue in queues.QUEUES:
                channel.queue_delete(prefix + queue)
        with _admin(server) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# -- the portal's webhook receiver ------------------------------------------------------


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    received: list[tuple[str, str, str]] = field(default_factory=list)  # id, type, order
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 that verifies each delivery's signature, as a portal does."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                verify(state.secret, dict(self.headers.items()), body)
                event = json.loads(body)
            except (WebhookVerificationError, ValueError) as exc:
                with state.lock:
                    state.rejected.append(f"{exc}: {body[:200]!r}")
                status = 400
            else:
                with state.lock:
                    state.received.append(
                        (self.headers["webhook-id"], event["type"], event["data"]["id"])
                    )
                status = 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/payments"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


# -- the portal's calls -----------------------------------------------------------------


@dataclass(frozen=True)
class Paid:
    order_id: str
    amount: int
    channel: str
    created_through: str
    polled_through: str


def pay_one(d: Deployment, index: int, channel: str) -> Paid:
    """Create an order and start its payment through one web process; pay at the cashier."""
    created_through, polled_through = d.web[index % 2], d.web[(index + 1) % 2]
    department, lines = FEES[index % len(FEES)]
    body = {
        "case_number": f"SCALE-{index:04d}-{uuid.uuid4().hex[:6]}",
        "service_item_code": f"{department}-{lines[0][0]}",
        "department": department,
        "region_code": department[:6],
        "payer": {"type": "natural", "name": "王小明", "id_number": "11010519491231002X"},
        "lines": [{"fee_item": code, "quantity": 1, "amount": amount} for code, amount in lines],
    }
    created = requests.post(
        f"{created_through}/api/v1/payment-orders",
        json=body,
        headers={**d.portal, "Idempotency-Key": str(uuid.uuid4())},
        timeout=HTTP_TIMEOUT,
    )
    assert created.status_code == 201, f"order {index}: {created.status_code} {created.text}"
    order = created.json()
    attempt = requests.post(
        f"{created_through}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": channel},
        headers=d.portal,
        timeout=HTTP_TIMEOUT,
    )
    assert attempt.status_code == 201, f"order {index}: {attempt.status_code} {attempt.text}"
    paid = requests.post(
        attempt.json()["pay_url"], json={"result": "success"}, timeout=HTTP_TIMEOUT
    )
    assert paid.status_code == 200, f"order {index} at the {channel} cashier: {paid.text}"
    return Paid(order["id"], order["amount"], channel, created_through, polled_through)


def order_status(d: Deployment, paid: Paid) -> str:
    answer = requests.get(
        f"{paid.polled_through}/api/v1/payment-orders/{paid.order_id}",
        headers=d.portal,
        timeout=HTTP_TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["status"]


# -- reading the database and the logs --------------------------------------------------


def rows(d: Deployment, query: str, *params: object) -> list[tuple]:
    with psycopg.connect(d.database) as connection:
        return connection.execute(query, params).fetchall()


def tasks_received(process: Process) -> Counter:
    """How many messages of each task the worker took, from its log ("Task … received")."""
    return Counter(name for name, _ in set(TASK_RECEIVED.findall(process.output())))


def requests_served(process: Process) -> Counter:
    """(method, route, status) of each request the web process logged (core.request_context)."""
    served = Counter()
    for line in process.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "request":
            served[(record.get("method"), record.get("route"), record.get("status"))] += 1
    return served


def business_today() -> date:
    return datetime.now(BEIJING).date()


# -- the test ---------------------------------------------------------------------------


def test_two_web_processes_and_two_workers_share_one_database_and_broker(
    deployment: Deployment, receiver: Receiver
):
    d, cluster = deployment, deployment.cluster
    started = datetime.now(BEIJING)
    if (started.hour, started.minute) >= (23, 55):
        pytest.skip("too close to Beijing's midnight: the business date would change mid-test")
    today = started.date()
    channels = CHANNELS if started.hour < UNIONPAY_CUTOFF_HOUR else CHANNELS[:-1]

    # The portal registers its receiver (through web A) and pays through both processes.
    endpoint = requests.post(
        f"{d.web[0]}/api/v1/webhook-endpoints",
        json={"url": receiver.url, "events": ["payment_order.paid"]},
        headers=d.portal,
        timeout=HTTP_TIMEOUT,
    )
    assert endpoint.status_code == 201, endpoint.text
    receiver.secret = endpoint.json()["secret"]

    # All at once, as payers do: the first requests of each fresh gunicorn worker come
    # together on its threads (they once raced in drf-spectacular: core/roles.py).
    with ThreadPoolExecutor(max_workers=ORDERS) as pool:
        futures = [
            pool.submit(pay_one, d, index, channels[(index // 2) % len(channels)])
            for index in range(ORDERS)
        ]
        paid: list[Paid] = []
        for future in futures:
            try:
                paid.append(future.result())
            except AssertionError as exc:
                cluster.fail(f"paying failed: {exc}")
    ids = [p.order_id for p in paid]
    assert len(set(ids)) == ORDERS
    assert {p.channel for p in paid} == set(channels)

    # Each order is seen paid through the web process that did not create it.
    cluster.wait_for(
        lambda: all(order_status(d, p) == "paid" for p in paid),
        what=f"{ORDERS} orders to be paid, polled through the other web process",
        seconds=SETTLE_SECONDS,
    )
    # The payments worker delivers each webhook and pushes each revenue record.
    cluster.wait_for(
        lambda: {order for _, _, order in receiver.received} >= set(ids),
        what=f"the receiver to hear payment_order.paid for {ORDERS} orders",
        seconds=SETTLE_SECONDS,
    )
    cluster.wait_for(
        lambda: not rows(
            d,
            "SELECT 1 FROM billing_webhookdelivery WHERE status <> 'succeeded' "
            "UNION ALL SELECT 1 FROM billing_revenuerecord WHERE status <> 'acknowledged'",
        ),
        what="every webhook delivery recorded and every revenue record acknowledged",
        seconds=SETTLE_SECONDS,
    )

    # The day's reconciliation: the sandbox bank serves today's statements now rather than
    # after midnight (as demo/day.py has it), and a finance key asks for every party's run.
    ended = requests.post(
        f"{d.sandbox}/sandbox/banks/_control/days/{today.isoformat()}/end", json={}, timeout=10
    )
    assert ended.status_code == 200, ended.text
    requested = requests.post(
        f"{d.web[1]}/api/v1/reconciliation/runs",
        json={"business_date": today.isoformat(), "party": "all"},
        headers=d.finance,
        timeout=HTTP_TIMEOUT,
    )
    assert requested.status_code == 202, requested.text
    run_ids = [run["id"] for run in requested.json()]
    assert {run["party"] for run in requested.json()} >= set(CHANNELS)
    cluster.wait_for(
        lambda: not rows(
            d,
            "SELECT 1 FROM reconciliation_reconciliationrun "
            "WHERE id = ANY(%s) AND status IN ('queued', 'running')",
            run_ids,
        ),
        what=f"{len(run_ids)} reconciliation runs on the reconciliation worker",
        seconds=RUNS_SECONDS,
    )

    # Each order paid exactly once: one succeeded attempt, which settles it.
    orders = rows(
        d,
        "SELECT o.public_id, o.status, o.amount, "
        "count(a.id) FILTER (WHERE a.status = 'succeeded'), "
        "count(a.id) FILTER (WHERE a.settles_order), "
        "count(a.id) FILTER (WHERE a.refund_due) "
        "FROM billing_paymentorder o LEFT JOIN billing_paymentattempt a ON a.order_id = o.id "
        "GROUP BY o.id",
    )
    expected_orders = {p.order_id: ("paid", p.amount, 1, 1, 0) for p in paid}
    assert {row[0]: row[1:] for row in orders} == expected_orders

    # The ledger: one payment posting per paid attempt, of the order's amount, and the
    # processors' fees of the reconciled clearings; every posting balanced, and so the whole.
    [(fees,)] = rows(d, "SELECT coalesce(sum(fees_amount), 0) FROM reconciliation_clearing")
    [(fee_postings, fees_posted)] = rows(
        d,
        "SELECT count(DISTINCT p.id), coalesce(sum(e.debit), 0) FROM billing_ledgerposting p "
        "JOIN billing_ledgerentry e ON e.posting_id = p.id WHERE p.kind = 'processor_fee'",
    )
    assert fees_posted == fees and (fee_postings > 0) == (fees > 0)
    postings = rows(
        d,
        "SELECT o.public_id, p.kind, count(DISTINCT p.id), sum(e.debit), sum(e.credit) "
        "FROM billing_ledgerposting p JOIN billing_ledgerentry e ON e.posting_id = p.id "
        "LEFT JOIN billing_paymentattempt a ON a.public_id = p.reference "
        "LEFT JOIN billing_paymentorder o ON o.id = a.order_id "
        "WHERE p.kind <> 'processor_fee' GROUP BY o.public_id, p.kind",
    )
    assert sorted(postings, key=str) == sorted(
        ((p.order_id, "payment", 1, p.amount, p.amount) for p in paid), key=str
    )
    unbalanced = rows(
        d,
        "SELECT posting_id, sum(debit), sum(credit) FROM billing_ledgerentry "
        "GROUP BY posting_id HAVING sum(debit) <> sum(credit)",
    )
    assert unbalanced == []
    [(debits, credits)] = rows(
        d, "SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0) FROM billing_ledgerentry"
    )
    assert debits == credits == sum(p.amount for p in paid) + fees

    # Every webhook event delivered, once per order, with a signature the receiver verified.
    assert receiver.rejected == []
    events = rows(
        d,
        "SELECT ev.public_id, ev.type, ev.payload->>'id', d.status "
        "FROM billing_webhookevent ev LEFT JOIN billing_webhookdelivery d ON d.event_id = ev.id",
    )
    assert sorted(events) == sorted(
        (event_id, kind, order, "succeeded") for event_id, kind, order in receiver.received
    )
    assert Counter(order for _, _, order in receiver.received) == Counter(ids)
    assert {kind for _, kind, _ in receiver.received} == {"payment_order.paid"}

    # Every revenue record acknowledged, with the revenue system's receipt number.
    records = rows(
        d,
        "SELECT o.public_id, r.kind, r.status, r.receipt_no <> '' "
        "FROM billing_revenuerecord r JOIN billing_paymentorder o ON o.id = r.order_id",
    )
    assert sorted(records) == sorted((i, "payment", "acknowledged", True) for i in ids)

    # Every run of the day succeeded, the processors' included, and nothing is left open.
    runs = rows(
        d,
        "SELECT party, party_kind, status, step, error FROM reconciliation_reconciliationrun "
        "WHERE business_date = %s ORDER BY party",
        today,
    )
    assert len(runs) == len(run_ids)
    late = {"unionpay"} if started.hour >= UNIONPAY_CUTOFF_HOUR else set()
    failed = [run for run in runs if run[2] != "succeeded" and run[0] not in late]
    assert failed == [], f"runs that did not succeed: {failed}"
    assert {run[0] for run in runs if run[1] == "processor"} == set(CHANNELS)
    open_items = rows(
        d,
        "SELECT party, type, our_ref, their_ref, status FROM reconciliation_discrepancy "
        "WHERE business_date = %s AND status NOT IN ('resolved', 'auto_resolved')",
        today,
    )
    assert open_items == [], f"open discrepancies: {open_items}"

    # Which process did what. Web: each created half the orders; the channels notified
    # web A (SERVICE_BASE_URL) only.
    served = {name: requests_served(cluster.processes[name]) for name in ("web-a", "web-b")}
    for name, url in zip(("web-a", "web-b"), d.web, strict=True):
        created = served[name][("POST", "/api/v1/payment-orders", 201)]
        assert created == sum(p.created_through == url for p in paid) == ORDERS // 2, name
    notified = {
        name: sum(n for (_, route, _), n in counts.items() if (route or "").startswith("/notify/"))
        for name, counts in served.items()
    }
    assert notified["web-a"] >= ORDERS and notified["web-b"] == 0, notified
    # Workers: each took only the tasks routed to its queues (config/queues.py).
    on_payments = tasks_received(cluster.processes["worker-payments"])
    on_reconciliation = tasks_received(cluster.processes["worker-reconciliation"])
    # (A periodic sweep may queue a delivery again meanwhile; that send finds it done.)
    # Each paid order's webhook and revenue record are outbox rows, each delivered once.
    assert on_payments["outbox.tasks.deliver"] >= 2 * ORDERS, on_payments
    assert on_reconciliation["reconciliation.tasks.execute_run"] >= len(run_ids), on_reconciliation
    assert {queues.TASK_QUEUES.get(task) for task in on_payments} == {queues.PAYMENTS}
    assert {queues.TASK_QUEUES.get(task) for task in on_reconciliation} <= {
        queues.RECONCILIATION,
        queues.HOUSEKEEPING,
    }
    cluster.check_running()
