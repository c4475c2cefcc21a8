"""Leg 5 through a run: the receipts of the day's paid orders and refunds against the day's
file of the receipt platform's sandbox, issued and fetched over HTTP."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from datetime import timedelta

import pandas as pd
import pytest
import requests
from django.db import transaction
from django.utils import timezone

from billing.models import PaymentOrder, Receipt, ReceiptStatus, Refund
from billing.receipts import _receipt_request_of, _request_from_json, receipt_red_request
from core.money import business_date_of
from core.outside import get_receipt_platform
from integrations.receipts.platform import build_receipt_platform
from reconciliation.matching import match_receipts
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    PartyKind,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementLine,
)
from reconciliation.ours import day_bounds
from reconciliation.parties import RECEIPT_PLATFORM
from reconciliation.services import auto, runs
from tests.billing.test_receipts import held_back, request_paid, send_now
from tests.billing.test_revenue_push import department_in, paid_order, refund_of
from tests.console.conftest import logged_in, make_staff
from tests.reconciliation.conftest import run_on_statement
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]


class Sandbox:
    """The receipt platform's sandbox as the live server serves it, emptied for the test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        requests.post(f"{base_url}/sandbox/_control/reset", timeout=5).raise_for_status()

    def mode(self, mode: str) -> None:
        answer = requests.post(
            f"{self.base_url}/sandbox/receipts/_control/mode", json={"mode": mode}, timeout=5
        )
        answer.raise_for_status()

    def forget(self, business_id: str) -> None:
        answer = requests.post(
            f"{self.base_url}/sandbox/receipts/_control/business/{business_id}/forget",
            timeout=5,
        )
        answer.raise_for_status()


@pytest.fixture
def sandbox(live_service):
    platform = Sandbox(live_service.url)
    yield platform
    platform.mode("up")


@pytest.fixture
def department(transactional_db):
    return department_in("330100", code="330100-SCJG")


@pytest.fixture
def today():
    return business_date_of(timezone.now())


def sent(receipt: Receipt, status: str = ReceiptStatus.ISSUED) -> Receipt:
    """The receipt sent now and settled in ``status``. A worker that other tests of this
    process started may take the send over once it is due: its answer is waited for."""
    send_now(receipt)

    def settled() -> Receipt | None:
        receipt.refresh_from_db()
        return receipt if receipt.status != ReceiptStatus.REQUESTED else None

    assert eventually(settled).status == status, receipt.last_error
    return receipt


def issued(order: PaymentOrder) -> Receipt:
    """The order's receipt, asked for and issued by the platform now."""
    return sent(request_paid(order))


def red_issued(refund: Refund) -> Receipt:
    with transaction.atomic():
        red = held_back(receipt_red_request(order=refund.order, refund=refund))
    return sent(red)


def reconcile(day) -> ReconciliationRun:
    run = runs.run_request(business_date=day, party_code=RECEIPT_PLATFORM, actor="user:test")
    run = runs.run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    return run


def found(**filters) -> dict[tuple[str, str, str], Discrepancy]:
    items = Discrepancy.objects.filter(party=RECEIPT_PLATFORM, **filters)
    return {(item.type, item.kind, item.our_ref): item for item in items}


def platform_request(order: PaymentOrder):
    """What the outbox sends the platform for the order's receipt."""
    return _receipt_request_of(order, order.attempts.get(settles_order=True))


def test_the_platform_is_reconciled_each_day_after_the_processors(public_platform, today):
    queued = runs.runs_request_day(business_date=today)

    kinds = [run.party_kind for run in queued]
    assert [run.party for run in queued if run.party_kind == PartyKind.RECEIPT] == ["receipts"]
    assert PartyKind.PROCESSOR in kinds
    assert kinds.index(PartyKind.RECEIPT) > max(
        i for i, kind in enumerate(kinds) if kind == PartyKind.PROCESSOR
    )


def test_a_day_of_issued_receipts_matches_and_its_file_is_final_once_the_day_is_over(
    sandbox, department, today
):
    first, second = paid_order(department), paid_order(department)
    receipts = [issued(first), issued(second)]
    receipts.append(red_issued(refund_of(first)))

    run = reconcile(today)

    assert not Discrepancy.objects.exists()
    assert run.party_kind == PartyKind.RECEIPT
    assert run.totals["matched"] == {"count": 3, "amount": 3000 + 3000 - 1500}
    assert run.totals["theirs"] == run.totals["ours"] == run.totals["matched"]
    assert run.statement.source == StatementFile.Source.FETCHED
    lines = StatementLine.objects.filter(statement=run.statement).order_by("line_no")
    assert [(line.kind, line.ref, line.their_ref, line.amount) for line in lines] == [
        (r.kind, (r.refund or r.order).public_id, f"{r.code}_{r.number}", r.amount)
        for r in receipts
    ]
    assert {line.account for line in lines} == {department.code}

    # Fetched while the day was not over, the file was provisional: a re-run fetches again.
    issued(paid_order(department))
    later = reconcile(today)

    assert later.statement_id != run.statement_id and StatementFile.objects.count() == 2
    assert later.totals["theirs"]["count"] == later.totals["matched"]["count"] == 4

    # A file fetched once the day was over is the day's: a re-run reads it again.
    _, day_end = day_bounds(today)
    StatementFile.objects.filter(pk=later.statement_id).update(received_at=day_end)
    issued(paid_order(department))
    again = reconcile(today)

    assert again.statement_id == later.statement_id and StatementFile.objects.count() == 2
    assert again.totals["theirs"]["count"] == 4


def test_paid_orders_and_refunds_without_their_receipt_are_found_and_a_pending_one_settles(
    sandbox, department, today, settings
):
    never_asked = paid_order(department)
    refunded = paid_order(department)
    issued(refunded)
    refund = refund_of(refunded)  # its red-letter receipt never asked for
    settings.RECEIPT_RETRY_SCHEDULE = ()
    sandbox.mode("down")
    given_up = sent(request_paid(paid_order(department)), ReceiptStatus.FAILED)
    pending = request_paid(paid_order(department))  # the platform is still being asked
    sandbox.mode("up")

    run = reconcile(today)

    items = found()
    assert set(items) == {
        ("missing_in_channel", "normal", never_asked.public_id),
        ("missing_in_channel", "normal", given_up.order.public_id),
        ("missing_in_channel", "red", refund.public_id),
        ("timing_cutoff", "normal", pending.order.public_id),
    }
    red = items["missing_in_channel", "red", refund.public_id]
    assert (red.our_amount, red.their_amount, red.department) == (-1500, None, department)
    assert {item.owner for item in items.values()} == {"finance"}
    assert run.totals["discrepancies"]["missing_in_channel"] == {"count": 3, "amount": 4500}

    auto.run_auto_resolve(run_id=run.pk)  # the pending receipt waits, as a timing item does
    waiting = Discrepancy.objects.get(type="timing_cutoff")
    assert waiting.status == DiscrepancyStatus.CARRIED_OVER
    reconcile(today)  # run again: the same items, their states kept
    assert {key: item.pk for key, item in found().items()} == {
        key: item.pk for key, item in items.items()
    }
    assert Discrepancy.objects.get(pk=waiting.pk).status == DiscrepancyStatus.CARRIED_OVER

    receipt = sent(pending)  # the platform answers at last
    auto.run_auto_resolve(run_id=run.pk)

    waiting.refresh_from_db()
    assert waiting.status == DiscrepancyStatus.AUTO_RESOLVED
    assert f"{receipt.code}_{receipt.number}" in waiting.resolution
    assert found(status=DiscrepancyStatus.OPEN).keys() == items.keys() - {
        ("timing_cutoff", "normal", pending.order.public_id)
    }


def test_what_the_platform_holds_otherwise_is_found_and_a_rerun_settles_what_was_corrected(
    sandbox, department, today
):
    platform = get_receipt_platform()
    lost_answer = paid_order(department)
    request_paid(lost_answer)  # ours still requested: the platform's answer never came
    platform.issue(platform_request(lost_answer))
    stranger = platform.issue(replace(platform_request(lost_answer), business_id="po_not_ours"))
    twice = issued(paid_order(department))
    sandbox.forget(twice.order.public_id)
    second = platform.issue(_request_from_json(twice.request))
    changed = paid_order(department)
    issued(changed)
    PaymentOrder.objects.filter(pk=changed.pk).update(amount=2900)
    refund = refund_of(changed)
    red_issued(refund)
    Refund.objects.filter(pk=refund.pk).update(amount=1000)

    run = reconcile(today)

    items = found()
    assert set(items) == {
        ("status_mismatch", "normal", lost_answer.public_id),
        ("missing_in_ledger", "normal", "po_not_ours"),
        ("duplicate", "normal", twice.order.public_id),
        ("amount_mismatch", "normal", changed.public_id),
        ("amount_mismatch", "red", refund.public_id),
    }
    assert items["missing_in_ledger", "normal", "po_not_ours"].their_ref == (
        f"{stranger.code}_{stranger.number}"
    )
    duplicate = items["duplicate", "normal", twice.order.public_id]
    assert duplicate.their_ref == f"{second.code}_{second.number}"
    assert second.number != twice.number
    amounts = {
        kind: (item.our_amount, item.their_amount)
        for (kind_of, kind, _), item in items.items()
        if kind_of == "amount_mismatch"
    }
    assert amounts == {"normal": (2900, 3000), "red": (-1000, -1500)}
    assert run.totals["matched"]["count"] == 1  # the first receipt of the order issued twice

    PaymentOrder.objects.filter(pk=changed.pk).update(amount=3000)  # the order corrected
    reconcile(today)

    corrected = ("amount_mismatch", "normal", changed.public_id)
    settled = Discrepancy.objects.get(pk=items[corrected].pk)
    assert settled.status == DiscrepancyStatus.AUTO_RESOLVED
    assert settled.resolution == "not found when the date was reconciled again"
    assert {key: item.pk for key, item in found(status=DiscrepancyStatus.OPEN).items()} == {
        key: item.pk for key, item in items.items() if key != corrected
    }


def test_numbers_of_the_range_missing_or_twice_in_the_day_are_found(
    sandbox, department, today, settings
):
    """Another system issues from the department's range too; the file as uploaded holds a
    receipt twice; our first receipt of the range was issued the day before."""
    other_app = next(
        app
        for app in settings.SANDBOX_RECEIPTS["apps"].values()
        if app["app_id"] != settings.RECEIPTS["app_id"]
    )
    counter = build_receipt_platform({**settings.RECEIPTS, **other_app})

    yesterdays = issued(paid_order(department))

    def issued_elsewhere(n: int) -> None:
        counter.issue(replace(platform_request(yesterdays.order), business_id=f"counter-{n}"))

    issued_elsewhere(1)
    mine = [issued(paid_order(department)) for _ in range(2)]
    issued_elsewhere(2)
    mine.append(issued(paid_order(department)))
    day_before = timezone.now() - timedelta(days=1)
    Receipt.objects.filter(pk=yesterdays.pk).update(issued_at=day_before)
    PaymentOrder.objects.filter(pk=yesterdays.order_id).update(paid_at=day_before)

    fetched = get_receipt_platform().fetch_day_file(today)
    with zipfile.ZipFile(io.BytesIO(fetched)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    twice = f"{mine[1].code}_{mine[1].number}"
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w") as written:
        for name, content in members.items():
            if name != f"{yesterdays.code}_{yesterdays.number}.xml":  # the day before's
                written.writestr(name, content)
        written.writestr(f"{twice}-again.xml", members[f"{twice}.xml"])

    run = run_on_statement(RECEIPT_PLATFORM, today, file.getvalue())

    assert run.status == RunStatus.SUCCEEDED, run.error
    code, first = yesterdays.code, int(yesterdays.number)
    assert [int(receipt.number) - first for receipt in mine] == [2, 3, 5]
    items = Discrepancy.objects.filter(party=RECEIPT_PLATFORM)
    assert {(item.type, item.kind, item.their_ref, item.department) for item in items} == {
        ("missing_in_ledger", "number", f"{code}_{first + 1:010d}", department),  # since the
        ("missing_in_ledger", "number", f"{code}_{first + 4:010d}", department),  # day before
        ("duplicate", "number", twice, department),
    }
    assert items.get(type="duplicate").our_ref == mine[1].order.public_id
    assert {item.our_ref for item in items.filter(type="missing_in_ledger")} == {""}
    assert run.totals["matched"]["count"] == 3

    clerk = logged_in(make_staff("clerk"))  # the console shows the run and its items
    listed = clerk.get(f"/console/runs/?kind={PartyKind.RECEIPT}")
    assert f'href="/console/runs/{run.pk}/"' in listed.content.decode()
    pages = [f"/console/runs/{run.pk}/", f"/console/runs/{run.pk}/report.xlsx"]
    pages += [f"/console/discrepancies/{item.pk}/" for item in items]
    assert {page: clerk.get(page).status_code for page in pages} == dict.fromkeys(pages, 200)


def test_a_receipt_we_hold_as_issued_that_the_days_file_leaves_out_is_found(
    sandbox, department, today
):
    receipt = issued(paid_order(department))
    nothing = io.BytesIO()
    zipfile.ZipFile(nothing, "w").close()

    run_on_statement(RECEIPT_PLATFORM, today, nothing.getvalue())

    [item] = Discrepancy.objects.all()
    assert (item.type, item.kind, item.our_ref, item.their_ref) == (
        "missing_in_channel",
        "normal",
        receipt.order.public_id,
        f"{receipt.code}_{receipt.number}",
    )
    assert (item.our_amount, item.their_amount) == (3000, None)


def test_a_receipt_issued_on_another_day_is_left_to_that_days_file():
    ours = pd.DataFrame(
        {
            "kind": ["normal", "normal"],
            "ref": ["po_today", "po_paid_today_issued_tomorrow"],
            "department": ["SCJG01", "SCJG01"],
            "amount": [3000, 2000],
            "status": ["issued", "issued"],
            "code": ["33010126", "33010126"],
            "number": ["0000000001", "0000000002"],
            "on_day": [True, False],
        }
    )
    theirs = pd.DataFrame(
        {
            "line_no": [1],
            "business_id": ["po_today"],
            "kind": ["normal"],
            "code": ["33010126"],
            "number": ["0000000001"],
            "department": ["SCJG01"],
            "amount": [3000],
            "issued_at": pd.to_datetime(["2026-12-07T02:00:00Z"], utc=True),
        }
    )

    result = match_receipts(ours, theirs)

    result.check_conservation()
    assert result.discrepancies.empty
    assert (result.totals["ours_count"], result.totals["matched_count"]) == (1, 1)


def test_a_day_file_holding_a_receipt_that_does_not_verify_fails_the_run_naming_it(
    sandbox, department, today
):
    receipt = issued(paid_order(department))
    forged = bytes(receipt.xml).replace(b"<TotalAmount>30.00", b"<TotalAmount>3.00")
    file = io.BytesIO()
    with zipfile.ZipFile(file, "w") as written:
        written.writestr(f"{receipt.code}_{receipt.number}.xml", forged)

    run = run_on_statement(RECEIPT_PLATFORM, today, file.getvalue())

    assert run.status == RunStatus.FAILED
    assert run.error.startswith(f"receipts file of {today}: line 1: ")
    assert not Discrepancy.objects.exists()
