"""A restarted sandboxes' server goes on retrying a notification its receiver refused.

`manage.py sandboxes` runs as a process of its own, as it is deployed, and journals into
this test's directory. Alipay's sandbox is paid a trade whose notification the receiver
refuses; the server is stopped (SIGTERM) and started again on the same journal. The
notification it resumes must reach the receiver, now accepting, and be logged by the
process that serves the sandbox: retries resumed in gunicorn's master before the fork
(the application preloaded) are sent from the master, and the worker never learns of them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from sandboxes.alipay import views as alipay
from simulation.cluster import answers, free_port
from tests.e2e.test_scale_out import Cluster
from tests.sandboxes.test_notification_resume import (
    Receiver,
    pay,
    precreate,
    verified_alipay_form,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(90)

STARTUP_SECONDS = 30
RETRY_DUE_SECONDS = 4  # Alipay's first retry, sped up: the restart comes before it is due
RESUMED_SECONDS = 15
OUT_TRADE_NO = "pay_restarted"


class SandboxClient:
    """The sandboxes' server over HTTP, posted to as Django's test client posts."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(self, path: str, data: dict, content_type: str | None = None) -> requests.Response:
        body = {"json": data} if content_type == "application/json" else {"data": data}
        return requests.post(self.base_url + path, timeout=10, **body)

    def deliveries(self) -> list[dict]:
        url = f"{self.base_url}/sandbox/alipay/_control/trades/{OUT_TRADE_NO}/deliveries"
        return requests.get(url, timeout=10).json()["deliveries"]


@contextmanager
def sandboxes_server(var_dir: Path, port: int, name: str) -> Iterator[Cluster]:
    """`manage.py sandboxes` on ``port``, its journal in ``var_dir``, answering; stopped
    with SIGTERM on leaving."""
    env = {
        **os.environ,
        # The command's settings; the server it starts takes the sandboxes' own.
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "VAR_DIR": str(var_dir),
        "SANDBOX_TIME_SCALE": str(alipay.RETRY_DELAYS[0] / RETRY_DUE_SECONDS),
        "PYTHONUNBUFFERED": "1",
    }
    server = Cluster(logs=var_dir.parent, env=env)
    try:
        server.start(name, [sys.executable, "manage.py", "sandboxes", "--port", str(port)])
        server.wait_for(
            lambda: answers(f"http://127.0.0.1:{port}/healthz"),
            what="the sandboxes' server",
            seconds=STARTUP_SECONDS,
        )
        yield server
    finally:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_a_restarted_sandboxes_server_resends_a_notification_refused_before(tmp_path, receiver):
    port = free_port()
    sandbox = SandboxClient(f"http://127.0.0.1:{port}")
    with sandboxes_server(tmp_path / "var", port, "sandboxes-before"):
        pay(sandbox, precreate(sandbox, OUT_TRADE_NO, receiver.url))
        eventually(lambda: receiver.requests, seconds=10)
    receiver.accept("success")

    with sandboxes_server(tmp_path / "var", port, "sandboxes-after") as restarted:
        restarted.wait_for(
            lambda: any(try_["acknowledged"] for try_ in sandbox.deliveries()),
            what="the sandbox to log the resumed notification as acknowledged",
            seconds=RESUMED_SECONDS,
        )

    *refused, resent = receiver.requests
    assert refused and not any(request.accepted for request in refused)
    assert resent.accepted
    assert verified_alipay_form(resent.body)["out_trade_no"] == OUT_TRADE_NO
