"""`make run` end to end: the embedded service in a subprocess, started as a user starts it.

No settings module, database or broker in the environment: manage.py's default settings,
an embedded PostgreSQL in a var folder of the test's own, tasks and periodic jobs
in-process, the sandboxes in a process of their own notifying the service over HTTP.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PORTAL_KEY = re.compile(r"Portal API key\s+(gpk_[\w-]+)")
DEMO_DAY_READY = re.compile(r"Demo day \S+ ready in [\d.]+ s: (\S+)")
STAFF_LOGIN = re.compile(r"Staff login\s+(\S+) / (\S+) \(shown this once\)")
STARTUP_SECONDS = 120
CONCURRENT_ORDERS = 40


@dataclass(frozen=True)
class Service:
    url: str
    headers: dict[str, str]
    output: list[str]
    var_dir: Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def var_dir() -> Iterator[Path]:
    """The run's var folder. Not under tmp_path: as root the embedded server runs as nobody,
    who must be able to traverse every parent folder, and pytest's own are closed (0700)."""
    folder = Path(tempfile.mkdtemp(prefix="gov-payments-run-"))
    folder.chmod(0o711)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def serve_started(var_dir: Path, port: int, sandbox_port: int) -> subprocess.Popen:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_SETTINGS_MODULE", "CELERY_BROKER_URL", "DATABASE_URL")
    }
    env.update(PORT=str(port), SANDBOX_PORT=str(sandbox_port), VAR_DIR=str(var_dir))
    return subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def embedded_service(var_dir: Path) -> Iterator[Service]:
    port = _free_port()
    process = serve_started(var_dir, port, _free_port())
    output: list[str] = []
    threading.Thread(target=_collect, args=(process, output), daemon=True).start()
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_healthy(url, process, output)
        deadline = time.monotonic() + STARTUP_SECONDS
        while not (key := PORTAL_KEY.search("".join(output))):
            assert time.monotonic() < deadline, "no banner with a portal key:\n" + "".join(output)
            time.sleep(0.1)
        yield Service(
            url=url,
            headers={"Authorization": f"Bearer {key.group(1)}"},
            output=output,
            var_dir=var_dir,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _collect(process: subprocess.Popen, output: list[str]) -> None:
    for line in process.stdout:
        output.append(line)


def _wait_until_healthy(url: str, process: subprocess.Popen, output: list[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve exited with {process.returncode}:\n" + "".join(output))
        try:
            if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or no worker booted yet
            pass
        time.sleep(0.2)
    pytest.fail("serve did not answer /healthz in time:\n" + "".join(output))


def order_body(case_number: str) -> dict:
    return {
        "case_number": case_number,
        "service_item_code": "330100-GACRJ-CRJ-PTHZ",
        "department": "330100-GACRJ",
        "region_code": "330100",
        "payer": {"type": "natural", "name": "王小明", "id_number": "11010519491231002X"},
        "lines": [{"fee_item": "CRJ-PTHZ", "quantity": 1, "amount": 12000}],
    }


def test_embedded_run_takes_concurrent_orders_and_gets_one_paid(embedded_service: Service):
    service = embedded_service
    start = threading.Barrier(CONCURRENT_ORDERS)

    def create_order(index: int) -> requests.Response:
        start.wait()
        return requests.post(
            f"{service.url}/api/v1/payment-orders",
            json=order_body(f"ZJ2025-{index:04d}"),
            headers={**service.headers, "Idempotency-Key": str(uuid.uuid4())},
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=CONCURRENT_ORDERS) as pool:
        responses = list(pool.map(create_order, range(CONCURRENT_ORDERS)))

    failures = [f"{r.status_code} {r.text[:300]}" for r in responses if r.status_code != 201]
    assert not failures, failures
    assert len({r.json()["id"] for r in responses}) == CONCURRENT_ORDERS

    order_url = f"{service.url}/api/v1/payment-orders/{responses[0].json()['id']}"
    attempt = requests.post(
        f"{order_url}/payments",
        json={"channel": "public_platform"},
        headers=service.headers,
        timeout=30,
    )
    assert attempt.status_code == 201, attempt.text
    paid = requests.post(attempt.json()["pay_url"], json={"result": "success"}, timeout=30)
    assert paid.status_code == 200, paid.text

    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline and status != "paid":
        time.sleep(0.2)
        status = requests.get(order_url, headers=service.headers, timeout=10).json()["status"]
    assert status == "paid"
    assert "Payments back-office: database PostgreSQL 18" in "".join(service.output)


def test_a_second_run_from_the_same_clone_says_one_is_running_and_changes_nothing(
    embedded_service: Service,
):
    second = serve_started(embedded_service.var_dir, _free_port(), _free_port())
    output, _ = second.communicate(timeout=60)
    assert second.returncode == 1, output
    assert "The service is already running from this clone" in output
    assert "Traceback" not in output and "migrat" not in output.lower()
    health = requests.get(f"{embedded_service.url}/readyz", timeout=10)
    assert health.status_code == 200, health.text


def test_stopping_the_service_stops_its_processes_and_its_database(var_dir: Path):
    port = _free_port()
    process = serve_started(var_dir, port, _free_port())
    output: list[str] = []
    threading.Thread(target=_collect, args=(process, output), daemon=True).start()
    _wait_until_healthy(f"http://127.0.0.1:{port}", process, output)
    assert (var_dir / "postgres" / "postmaster.pid").exists()

    process.terminate()
    assert process.wait(timeout=60) == 0, "".join(output)
    assert not (var_dir / "postgres" / "postmaster.pid").exists(), "".join(output)
    server_log = (var_dir / "postgres" / "server.log").read_text()
    assert server_log.rstrip().endswith("database system is shut down"), server_log[-2000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_the_demo_day_is_ready_on_the_console_with_the_staff_logins(embedded_service: Service):
    service = embedded_service
    deadline = time.monotonic() + STARTUP_SECONDS
    while not (ready := DEMO_DAY_READY.search("".join(service.output))):
        assert time.monotonic() < deadline, "no ready line:\n" + "".join(service.output)
        time.sleep(0.5)
    assert ready.group(1) == f"{service.url}/console/"
    logins = dict(STAFF_LOGIN.findall("".join(service.output)))
    assert set(logins) == {"finance", "reviewer", "auditor", "crj-finance"}

    staff = requests.Session()
    page = staff.get(f"{service.url}/console/login/", timeout=10)
    assert page.status_code == 200
    signed_in = staff.post(
        f"{service.url}/console/login/",
        data={
            "username": "finance",
            "password": logins["finance"],
            "csrfmiddlewaretoken": staff.cookies["csrftoken"],
        },
        headers={"Referer": f"{service.url}/console/login/"},
        timeout=30,
    )
    assert signed_in.status_code == 200 and signed_in.url == ready.group(1)

    # Whatever the hour it was started at, the day holds the five planted troubles and
    # nothing else: a payment put on the wrong business day would be a one-sided item.
    found = staff.get(
        f"{service.url}/api/v1/reconciliation/discrepancies", params={"page_size": 200}, timeout=30
    )
    assert found.status_code == 200, found.text
    by_type = Counter(item["type"] for item in found.json()["results"])
    assert by_type == {
        "missing_in_ledger": 1,  # the lost notification
        "missing_in_channel": 1,  # the line left out of Alipay's bill
        "duplicate": 1,  # the order paid twice
        "settlement_mismatch": 1,  # the late bank credit
        "revenue_mismatch": 3,  # the revenue system's outage, one per record it missed
    }, found.json()["results"]
