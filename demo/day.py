"""The demo business day, seeded once per database, and reconciled so the console opens on it.

``demo_day_seed(sandbox_url=...)`` needs the service answering at SERVICE_BASE_URL and the
sandboxes at ``sandbox_url`` (they are its outside parties, over HTTP). It works with tasks
in-process (the embedded run) and with a Celery worker, whose work it waits for.

The day is today, in Beijing: payments are paid now, so their business date is today's.
The processors transfer each clearing (清分) on its settlement date, the next business
day, so the bank leg reconciles that date: the sandbox bank is told to end both days
early, as if the statements were in, and the credits are booked for the settlement date,
which drains the processors' clearing accounts. Then the day is closed: its settlement
reports (结报) approved, their nets remitted (缴库) today, and today's statements read again
for the remittances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Receipt, ReceiptStatus, RevenueRecord, RevenueRecordStatus, RevenueSystem
from core.audit import audit_record
from core.business_days import add_business_days
from core.models import ApiClient, AuditRecord
from demo import close, sandboxes, settlement, trouble
from demo.access import DEMO_STAFF, SCOPED_DEPARTMENT_CODE, demo_portal_client, demo_staff_ensure
from demo.payments import (
    Portal,
    expire,
    orders_left_open,
    orders_to_expire,
    the_days_payments,
    waived_fees,
)
from demo.reference import DEMO_REVENUE_SYSTEM, demo_reference_seed
from demo.shipments import the_days_shipments
from demo.waiting import wait_until
from notices.models import NoticeKind, SmsMessage, SmsStatus
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.parties import RECEIPT_PLATFORM, all_parties
from reconciliation.services import auto, runs

__all__ = ["DEMO_USERS", "SCOPED_DEPARTMENT_CODE", "DemoDay", "demo_day_seed", "seeded_day"]

logger = logging.getLogger(__name__)
ACTOR = "system:demo"
SEEDED = "demo.day_seeded"
SEED_FAILED = "demo.day_seed_failed"
DEMO_USERS = tuple(staff.username for staff in DEMO_STAFF)
UNFINISHED_RUNS = (RunStatus.QUEUED, RunStatus.RUNNING)
RUNS_SECONDS = 300.0  # a day's runs, one after another on a single worker


@dataclass(frozen=True)
class DemoDay:
    business_date: date
    settlement_dates: tuple[date, ...]  # when the processors' transfers reach the banks
    logins: dict[str, str]  # username -> password, for the staff logins this call created
    open_discrepancy_ids: list[int]
    seeded_now: bool  # False when an earlier call had seeded this database


def seeded_day() -> date | None:
    """The business date of the demo day this database holds, if one was seeded."""
    marker = AuditRecord.objects.filter(action__in=(SEEDED, SEED_FAILED)).order_by("-id").first()
    if marker is None or marker.action == SEED_FAILED:
        return None
    return date.fromisoformat(marker.data["business_date"])


def demo_day_seed(*, sandbox_url: str) -> DemoDay:
    """Seed the demo day unless this database has one, and return it."""
    demo_reference_seed()
    with transaction.atomic(durable=True):
        logins = demo_staff_ensure()
        client = demo_portal_client()
        ApiClient.objects.select_for_update().get(pk=client.pk)  # one seeding at a time
        business_date = seeded_day()
        seeded_now = business_date is None
        if seeded_now:
            business_date = timezone.localdate()
            audit_record(
                actor=ACTOR,
                action=SEEDED,
                obj=client,
                data={"business_date": business_date.isoformat()},
            )
    if seeded_now:
        started = time.monotonic()
        try:
            _seed(sandbox_url.rstrip("/"), client, business_date)
        except BaseException:
            # Marked first so that a second caller does not seed the same day too; a day
            # left half-made is marked failed, and the next start seeds again.
            audit_record(actor=ACTOR, action=SEED_FAILED, obj=client)
            raise
        logger.info("demo day %s seeded in %.1f s", business_date, time.monotonic() - started)
    settlement_dates = _settlement_dates(business_date)
    return DemoDay(
        business_date=business_date,
        settlement_dates=settlement_dates,
        logins=logins,
        open_discrepancy_ids=list(
            Discrepancy.objects.filter(
                business_date__in=(business_date, *settlement_dates),
                status=DiscrepancyStatus.OPEN,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        seeded_now=seeded_now,
    )


def _seed(sandbox_url: str, client: ApiClient, business_date: date) -> None:
    portal = Portal(client, business_date)
    step = _Steps(business_date)
    due = orders_to_expire(portal)
    the_days_payments(portal)
    waived_fees(portal)
    orders_left_open(portal)
    trouble.duplicate_payment(portal)
    trouble.missing_bill_line(portal, sandbox_url)
    step("payments")
    the_days_shipments(portal, sandbox_url)
    step("shipments")
    expire(due)
    wait_until(
        lambda: not RevenueRecord.objects.filter(
            status__in=(RevenueRecordStatus.PENDING, RevenueRecordStatus.DELIVERED)
        ).exists(),
        what="the revenue records of the day so far to be acknowledged",
    )
    system = RevenueSystem.objects.get(code=DEMO_REVENUE_SYSTEM["code"])
    trouble.revenue_outage(portal, sandbox_url, system)
    # Last, so that no status query settles it before the channel's run finds it.
    trouble.lost_notification(portal)
    step("trouble")

    # The bank statements of both days are made now rather than after the days end.
    for day in (business_date, *_settlement_dates(business_date)):
        sandboxes.end_bank_day(sandbox_url, day)
    _reconcile(runs.runs_request_day(business_date=business_date, actor=ACTOR))
    # The lost payment was settled (补单) by its channel's run: that channel is reconciled
    # again, as finance would, so that its clearing counts the payment it transfers.
    _reconcile(
        [
            runs.run_request(
                business_date=business_date, party_code=trouble.NOTIFICATION_LOST_AT, actor=ACTOR
            )
        ]
    )
    step("the day's reconciliation")
    settlement.book_credits(sandbox_url, business_date)
    banks = [party for party in all_parties() if party.kind == PartyKind.BANK]
    _reconcile(
        [
            runs.run_request(business_date=day, party_code=party.code, actor=ACTOR)
            for day in _settlement_dates(business_date)
            for party in banks
        ]
    )
    step("the settlement date's bank statements")
    # The lost payment was settled (补单) by its channel's run and its receipt asked for then:
    # once every receipt is issued, the receipts leg is run again, as finance would.
    wait_until(
        lambda: not Receipt.objects.filter(status=ReceiptStatus.REQUESTED).exists(),
        what="the day's fiscal receipts to be issued",
    )
    _reconcile(
        [runs.run_request(business_date=business_date, party_code=RECEIPT_PLATFORM, actor=ACTOR)]
    )
    wait_until(
        lambda: not SmsMessage.objects.filter(
            kind__in=(NoticeKind.PAYMENT_RECEIVED, NoticeKind.RECEIPT_ISSUED),
            status=SmsStatus.QUEUED,
        ).exists(),
        what="the payers' notices of their payments and receipts to be sent",
    )
    step("fiscal receipts")

    _close(sandbox_url, business_date)
    step("settlement reports and remittances")


def _close(sandbox_url: str, business_date: date) -> None:
    """The date's reports approved and their nets remitted. The bank books each remittance
    on its execution date, today: once that day is ended, its statements show them, and
    each remitting account's leg 6 runs on them."""
    remitted = close.approve_the_days_reports(business_date, actor=ACTOR)
    execution_dates = sorted({remittance.execution_date for remittance in remitted})
    for day in execution_dates:
        sandboxes.end_bank_day(sandbox_url, day)
    remitting = [party for party in all_parties() if party.kind == PartyKind.REMITTANCE]
    requested = [
        runs.run_request(business_date=day, party_code=party.code, actor=ACTOR)
        for day in execution_dates
        for party in remitting
    ]
    _reconcile(requested)
    close.record_remittances(requested)


def _settlement_dates(business_date: date) -> tuple[date, ...]:
    """When the processors pay the date's clearings: the date plus each one's lag, in
    business days (a Friday's T+1 is Monday's transfer)."""
    lags = settings.RECONCILIATION["settlement_lag_days"].values()
    return tuple(sorted({add_business_days(business_date, lag) for lag in lags}))


def _reconcile(requested: list[ReconciliationRun]) -> None:
    """Wait for the runs, then settle what can be settled now (补单, refunded duplicates):
    a worker does so after each run too, and doing it twice changes nothing."""
    ids = [run.pk for run in requested]
    unfinished = ReconciliationRun.objects.filter(pk__in=ids, status__in=UNFINISHED_RUNS)
    wait_until(
        lambda: not unfinished.exists(),
        what=f"{len(ids)} reconciliation runs",
        seconds=RUNS_SECONDS,
    )
    for run in ReconciliationRun.objects.filter(pk__in=ids, status=RunStatus.SUCCEEDED):
        auto.run_auto_resolve(run_id=run.pk)
    for run in ReconciliationRun.objects.filter(pk__in=ids, status=RunStatus.FAILED):
        logger.warning("demo day: %s run of %s failed: %s", run.party, run.business_date, run.error)


class _Steps:
    """Logs how long each part of the day took."""

    def __init__(self, business_date: date) -> None:
        self.business_date = business_date
        self.since = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        logger.info("demo day %s: %s in %.1f s", self.business_date, name, now - self.since)
        self.since = now
