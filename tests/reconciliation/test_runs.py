"""A processor's day reconciled end to end: payments through the platform's sandbox, its bill
fetched over HTTP, matched, stored, auto-resolved, re-run, reported."""

from __future__ import annotations

import io
import uuid

import openpyxl
import pytest
import requests
from django.utils import timezone

from billing.models import AttemptStatus, PaymentAttempt, Refund
from core.models import AuditRecord
from core.money import business_date_of
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementLine,
)
from reconciliation.services import auto, runs
from sandboxes import state
from tests.billing.conftest import create_order
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
PARTY = "public_platform"


@pytest.fixture
def http(live_service, portal, fixed_fee):
    # The sandboxes are one per test process: forget earlier tests' trades, so today's bill
    # holds this test's only.
    state.reset_all()
    session = requests.Session()
    session.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    session.base = live_service.url
    session.portal = portal
    return session


def pay(http, *, notify: bool = True) -> dict:
    order = create_order(http.portal)
    attempt = http.post(
        f"{http.base}/api/v1/payment-orders/{order['id']}/payments", json={"channel": PARTY}
    ).json()
    requests.post(attempt["pay_url"], json={"result": "success", "notify": notify}, timeout=5)
    if notify:
        eventually(
            lambda: PaymentAttempt.objects.get(public_id=attempt["id"]).status == "succeeded"
        )
    return attempt


def refund(http, attempt: dict, amount: int) -> Refund:
    order_id = PaymentAttempt.objects.get(public_id=attempt["id"]).order.public_id
    answer = http.post(
        f"{http.base}/api/v1/payment-orders/{order_id}/refunds",
        json={"amount": amount, "reason": "申请人撤回"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert answer.status_code == 201, answer.text
    return eventually(
        lambda: Refund.objects.filter(public_id=answer.json()["id"], status="succeeded").first()
    )


def run_today() -> ReconciliationRun:
    """Queue the run (its task is never consumed here) and execute it in this process."""
    today = business_date_of(timezone.now())
    run = runs.run_request(business_date=today, party_code=PARTY, actor="user:test")
    return runs.run_execute(run_id=run.pk)


def test_a_day_at_the_platform_matches_and_a_lost_notification_is_applied_late(http):
    kept = pay(http)
    refunded = pay(http)
    lost = pay(http, notify=False)  # the channel has the money; we never heard of it
    refund(http, refunded, 1000)

    run = run_today()

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.statement.sha256 and run.statement.source == StatementFile.Source.FETCHED
    totals = run.totals
    assert totals["theirs"]["count"] == 4  # three payments and a refund
    assert totals["ours"]["count"] == 3
    assert totals["matched"]["count"] == 3
    lines = StatementLine.objects.filter(statement=run.statement).order_by("line_no")
    assert sorted(lines.values_list("kind", flat=True)) == ["payment"] * 3 + ["refund"]
    assert set(lines.values_list("ref", flat=True)) >= {kept["id"], lost["id"]}
    [missing] = Discrepancy.objects.filter(run=run)
    assert (missing.type, missing.our_ref, missing.their_amount) == (
        "missing_in_ledger",
        lost["id"],
        3000,
    )
    clearing = Clearing.objects.get(processor=PARTY)
    assert clearing.payments_count == 2
    assert clearing.net_amount == 3000 + 3000 - 1000 - clearing.fees_amount

    assert auto.run_auto_resolve(run_id=run.pk) == 1

    missing.refresh_from_db()
    assert missing.status == DiscrepancyStatus.AUTO_RESOLVED
    assert "补单" in missing.resolution
    assert PaymentAttempt.objects.get(public_id=lost["id"]).status == AttemptStatus.SUCCEEDED
    assert PaymentAttempt.objects.get(public_id=kept["id"]).status == AttemptStatus.SUCCEEDED


def test_running_a_date_again_replaces_its_results_and_doubles_nothing(http):
    pay(http)
    pay(http, notify=False)
    first = run_today()
    fields = [f.name for f in Clearing._meta.fields if f.name != "id"]
    first_totals, first_clearing = first.totals, list(Clearing.objects.values(*fields))

    again = run_today()

    assert again.pk == first.pk and again.tries == 2
    assert again.totals == first_totals
    assert list(Clearing.objects.values(*fields)) == first_clearing
    assert Discrepancy.objects.count() == 1


def test_a_crash_before_the_results_are_stored_leaves_nothing_and_a_retry_gives_the_same(
    http, monkeypatch
):
    pay(http)
    pay(http, notify=False)
    clean = run_today()
    expected = (clean.totals, list(Discrepancy.objects.values_list("type", "key")))
    Discrepancy.objects.all().delete()
    Clearing.objects.all().delete()

    def crash(*args, **kwargs):
        raise RuntimeError("the worker died here")

    monkeypatch.setattr(runs, "_replace_clearing", crash)
    with pytest.raises(RuntimeError):
        run_today()
    assert not Discrepancy.objects.exists() and not Clearing.objects.exists()
    assert ReconciliationRun.objects.get().status == RunStatus.FAILED

    monkeypatch.undo()
    retried = run_today()
    assert (retried.totals, list(Discrepancy.objects.values_list("type", "key"))) == expected


def test_a_malformed_file_fails_the_run_with_its_line_and_touches_nothing_else(http):
    pay(http, notify=False)
    good = run_today()
    before = list(Discrepancy.objects.values_list("type", "key", "status"))
    runs.statements.statement_store(
        party=runs.parse_party(PARTY),
        business_date=good.business_date,
        content=b"this is not a bill\n\x00\x01",
        source=StatementFile.Source.UPLOADED,
        actor="user:test",
    )

    failed = run_today()

    assert failed.status == RunStatus.FAILED
    assert "line" in failed.error or "the file" in failed.error
    assert list(Discrepancy.objects.values_list("type", "key", "status")) == before
    assert AuditRecord.objects.filter(action="reconciliation_run.failed").exists()


def test_the_runs_report_downloads_as_a_workbook_and_as_csv(http, finance):
    pay(http, notify=False)
    run = run_today()

    workbook = finance.get(f"/api/v1/reconciliation/runs/{run.pk}/report.xlsx")
    csv_file = finance.get(f"/api/v1/reconciliation/runs/{run.pk}/report.csv")

    assert workbook.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(b"".join(workbook.streaming_content)))
    assert len(book.sheetnames) == 3
    assert csv_file.status_code == 200
    text = b"".join(csv_file.streaming_content).decode("utf-8-sig")
    assert "missing_in_ledger" in text


def test_a_run_started_through_the_api_is_executed_by_the_worker(
    http, finance, monkeypatch, task_worker
):
    monkeypatch.undo()  # this one goes through the queue, as the nightly schedule does
    pay(http)
    today = business_date_of(timezone.now()).isoformat()

    started = finance.post(
        "/api/v1/reconciliation/runs", {"business_date": today, "party": PARTY}, format="json"
    )

    assert started.status_code == 202, started.content
    [queued] = started.json()
    done = eventually(
        lambda: ReconciliationRun.objects.filter(
            pk=queued["id"], status=RunStatus.SUCCEEDED
        ).first()
    )
    detail = finance.get(f"/api/v1/reconciliation/runs/{done.pk}").json()
    assert (detail["progress"], detail["totals"]["matched"]["count"]) == (100, 1)
