"""/metrics, read with Prometheus' own text parser, says what the database and the requests say."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

import metrics
from billing.models import (
    ChannelHealth,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    Processor,
)
from logistics.models import CourierPush, PushStatus
from metrics import business
from outbox.models import AppEvent, AppEventStatus
from reconciliation.models import Discrepancy, PartyKind, ReconciliationRun
from tests.billing.conftest import create_order, paid_at_platform, portal_api

TOKEN = "metrics-token-for-tests-0001"


class Scrape:
    """The samples of one /metrics answer, parsed by prometheus_client's parser."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float | None:
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, f"{name}{labels} is ambiguous"
        return found[0] if found else None

    def total(self, name: str, **labels: str) -> float:
        """The sum over the samples whose labels include ``labels``."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )


def scrape(client: Client, **headers: str) -> Scrape:
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return Scrape(response.content.decode())


@pytest.mark.django_db(transaction=True)
def test_orders_and_attempts_are_the_databases_figures(live_service, fixed_fee):
    portal = portal_api()
    for n in range(2):
        create_order(portal, case_number=f"M-{n}")
    paid, _ = paid_at_platform(portal, live_service.url, case_number="M-paid")

    figures = scrape(Client())

    assert figures.value("backoffice_collector_up") == 1
    assert PaymentOrder.objects.count() == 3
    assert figures.value("backoffice_payment_orders_created_total") == 3
    assert figures.value("backoffice_payment_orders", status="paid") == 1
    assert figures.value("backoffice_payment_orders", status="unpaid") == 2
    assert figures.value("backoffice_payment_orders", status="refunded") == 0
    attempt = PaymentAttempt.objects.get(order__public_id=paid["id"])
    assert (attempt.channel, attempt.status) == ("public_platform", "succeeded")
    assert (
        figures.value("backoffice_payment_attempts", channel="public_platform", status="succeeded")
        == 1
    )
    assert figures.total("backoffice_payment_attempts") == PaymentAttempt.objects.count() == 1

    # The latency of the notification that applied the payment, as the rows record it.
    notification = PaymentNotification.objects.filter(attempt=attempt, outcome="applied").latest(
        "received_at"
    )
    expected = max((notification.received_at - attempt.paid_at).total_seconds(), 0)
    assert figures.value("backoffice_notifications_applied_last_hour", channel="public_platform")
    for quantile in ("0.5", "0.95"):
        latency = figures.value(
            "backoffice_notification_apply_latency_seconds",
            channel="public_platform",
            quantile=quantile,
        )
        assert latency == pytest.approx(expected, abs=1e-3)

    # The same figures from the running server, over HTTP on loopback.
    over_http = requests.get(f"{live_service.url}/metrics", timeout=10)
    assert over_http.status_code == 200
    served = Scrape(over_http.text)
    assert served.value("backoffice_payment_orders_created_total") == 3
    assert (
        served.value("backoffice_payment_attempts", channel="public_platform", status="succeeded")
        == 1
    )


@pytest.mark.django_db
def test_outboxes_pushes_breakers_reconciliation_and_licences(public_platform):
    now = timezone.now()
    CourierPush.objects.create(
        courier="sf", status=PushStatus.RECEIVED, body_encrypted="x", body_sha256="0" * 64
    )
    CourierPush.objects.create(
        courier="sf", status=PushStatus.APPLIED, body_encrypted="x", body_sha256="1" * 64
    )
    CourierPush.objects.filter(status=PushStatus.RECEIVED).update(
        received_at=now - timedelta(minutes=10), next_attempt_at=now - timedelta(minutes=10)
    )
    AppEvent.objects.create(
        topic="billing.payment_order.status_changed",
        subscriber="logistics.freight_order_changed",
        payload={},
        status=AppEventStatus.FAILED,
    )
    ChannelHealth.objects.create(channel="alipay", state="open", consecutive_failures=5)
    day = timezone.localdate()
    ReconciliationRun.objects.create(
        business_date=day - timedelta(days=2),
        party="alipay",
        party_kind=PartyKind.PROCESSOR,
        status="succeeded",
        started_at=now - timedelta(days=1, seconds=100),
        finished_at=now - timedelta(days=1),
    )
    last = ReconciliationRun.objects.create(
        business_date=day - timedelta(days=1),
        party="alipay",
        party_kind=PartyKind.PROCESSOR,
        status="failed",
        started_at=now - timedelta(seconds=42),
        finished_at=now,
    )
    for n, status in enumerate(("open", "open", "escalated", "resolved")):
        Discrepancy.objects.create(
            run=last,
            business_date=last.business_date,
            party="alipay",
            type="amount_mismatch",
            key=f"trade-{n}",
            owner="finance",
            status=status,
        )
    Processor.objects.create(
        code="alipay",
        legal_name="支付宝（中国）网络技术有限公司",
        licence_number="Z2002433000018",
        licence_scope=["internet_payment"],
        licence_valid_until=day + timedelta(days=10),
        max_amount=10**9,
    )

    figures = scrape(Client())

    assert figures.value("backoffice_collector_up") == 1
    assert figures.value("backoffice_courier_pushes_unapplied", courier="sf") == 1
    age = figures.value("backoffice_courier_push_oldest_unapplied_age_seconds", courier="sf")
    assert 600 <= age < 700
    assert figures.value("backoffice_courier_pushes_unapplied", courier="ems") == 0
    # The outbox, one family per figure with every kind: the push waits 10 minutes.
    assert figures.value("backoffice_outbox_open", outbox="courier_push") == 1
    assert figures.value("backoffice_outbox_oldest_due_age_seconds", outbox="courier_push") >= 600
    assert figures.value("backoffice_outbox_open", outbox="webhook_delivery") == 0
    assert figures.value("backoffice_outbox_oldest_due_age_seconds", outbox="revenue_record") == 0
    assert figures.value("backoffice_outbox_failed", outbox="app_event") == 1
    assert figures.value("backoffice_outbox_failed", outbox="courier_push") == 0
    assert figures.value("backoffice_channel_breaker_state", channel="alipay", state="open") == 1
    assert figures.value("backoffice_channel_breaker_state", channel="alipay", state="closed") == 0
    assert figures.value("backoffice_channel_breaker_consecutive_failures", channel="alipay") == 5
    # The last finished run is the failed one of 42 s, not the earlier one of 100 s.
    assert figures.value(
        "backoffice_reconciliation_last_run_duration_seconds", party="alipay"
    ) == pytest.approx(42)
    assert figures.value("backoffice_reconciliation_last_run_succeeded", party="alipay") == 0
    assert (
        figures.value("backoffice_discrepancies_open", type="amount_mismatch", status="open") == 2
    )
    assert (
        figures.value("backoffice_discrepancies_open", type="amount_mismatch", status="escalated")
        == 1
    )
    assert (
        figures.value("backoffice_discrepancies_open", type="amount_mismatch", status="resolved")
        is None
    )
    assert figures.value("backoffice_processor_licence_days_left", processor="alipay") == 10
    assert (
        figures.value("backoffice_processor_licence_days_left", processor="public_platform") is None
    )
    assert figures.value("backoffice_processor_licences_expiring") == 1


@pytest.mark.django_db
def test_request_counters_count_by_route_template_method_and_status(public_platform):
    portal = portal_api()
    route = "/api/v1/payment-orders/<str:public_id>"
    before = scrape(Client())

    for n in range(2):
        assert portal.get(f"/api/v1/payment-orders/po_missing_{n}").status_code == 404
    assert portal.get("/api/v1/payment-orders").status_code == 200
    assert Client().get("/no/such/page/13800138000").status_code == 404
    Client().get("/static/console/no-such-file.css")  # static files are served before routing

    after = scrape(Client())

    def grew(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    requests_total = "backoffice_http_requests_total"
    assert grew(requests_total, route=route, method="GET", status="404") == 2
    assert grew(requests_total, route=route, method="GET", status="200") == 0
    assert grew(requests_total, route="/api/v1/payment-orders", method="GET", status="200") == 1
    assert grew(requests_total, route="unmatched", method="GET", status="404") == 1
    assert grew(requests_total, route="static", method="GET") == 1
    assert grew("backoffice_http_request_duration_seconds_count", route=route, method="GET") == 2
    # Labels hold templates, never what a caller put in a path.
    body = Client().get("/metrics").content.decode()
    assert "po_missing" not in body
    assert "13800138000" not in body
    assert "/metrics" in {s.labels.get("route") for s in after.samples}


@pytest.mark.django_db
def test_a_token_is_required_when_one_is_set(settings):
    settings.METRICS_TOKEN = TOKEN
    client = Client()

    missing = client.get("/metrics")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-for-tests-0002")
    not_bearer = client.get("/metrics", HTTP_AUTHORIZATION=TOKEN)

    for refused in (missing, wrong, not_bearer):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "not_authenticated"
        assert refused["WWW-Authenticate"].startswith("Bearer")
    figures = scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert figures.value("backoffice_collector_up") == 1
    # With a token, the address no longer matters.
    scrape(client, HTTP_AUTHORIZATION=f"Bearer {TOKEN}", REMOTE_ADDR="203.0.113.7")


@pytest.mark.django_db
def test_without_a_token_only_loopback_is_served(settings):
    settings.METRICS_TOKEN = None
    client = Client()

    scrape(client, REMOTE_ADDR="127.0.0.1")
    scrape(client, REMOTE_ADDR="::1")
    for refused in (
        client.get("/metrics", REMOTE_ADDR="10.0.0.8"),
        client.get("/metrics", REMOTE_ADDR="203.0.113.7"),
        # A reverse proxy on this machine connects from loopback for anyone.
        client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.7"),
    ):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_a_failing_database_figure_still_serves_the_request_metrics(monkeypatch):
    def broken():
        raise OperationalError("the database went away")

    monkeypatch.setattr(business, "_attempts", broken)
    Client().get("/healthz")

    figures = scrape(Client())

    assert figures.value("backoffice_collector_up") == 0
    assert figures.value("backoffice_payment_orders_created_total") is None
    assert figures.total("backoffice_http_requests_total", route="/healthz") >= 1
    with connection.cursor() as cursor:  # the failed read left the connection usable
        cursor.execute("SELECT 1")


SERVE_REQUESTS = textwrap.dedent(
    """
    import os, sys
    import django
    django.setup()
    from django.test.utils import setup_test_environment
    setup_test_environment()
    from django.test import Client
    client = Client()
    for _ in range(int(sys.argv[1])):
        assert client.get("/healthz").status_code == 200
    print(os.getpid())
    """
)


@pytest.mark.django_db
def test_multiprocess_mode_sums_what_each_worker_process_counted(tmp_path, monkeypatch):
    """Two processes, as two gunicorn workers, write to the directory; a scrape sums them."""
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
    }
    workers = [
        subprocess.Popen(  # noqa: S603  (this interpreter, this module's script)
            [sys.executable, "-c", SERVE_REQUESTS, str(count)],
            cwd=settings.BASE_DIR,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count in (2, 3)
    ]
    pids = set()
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        pids.add(int(out.split()[-1]))
    assert len(pids) == 2
    assert {path.name for path in tmp_path.iterdir()} >= {f"counter_{pid}.db" for pid in pids}

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    figures = scrape(Client())

    healthz = {"route": "/healthz", "method": "GET"}
    assert figures.value("backoffice_http_requests_total", **healthz, status="200") == 5
    assert figures.value("backoffice_http_request_duration_seconds_count", **healthz) == 5
    # This process's own counters are not in the directory, so not in the sum.
    assert figures.total("backoffice_http_requests_total", route="/metrics") == 0
    assert figures.value("backoffice_collector_up") == 1


def test_worker_exit_forgets_an_exited_workers_live_gauges(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / "gauge_livesum_4242.db"
    live.write_bytes(b"")
    kept = tmp_path / "counter_4242.db"
    kept.write_bytes(b"")

    metrics.worker_exit(server=None, worker=type("Worker", (), {"pid": 4242})())

    assert not live.exists()
    assert kept.exists()  # what it counted still counts
