"""What must hold after every simulated day, each checked with the figure that shows it.

The payers' side of the money is the simulator's own record of what it paid at the
cashiers (``Truth``); everything else is read from the service's database, the sandboxes'
records and the portal's webhook receiver. A check never repairs anything: it reports.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from billing.models import (
    AttemptStatus,
    FeeKind,
    PaymentAttempt,
    Receipt,
    ReceiptStatus,
    Refund,
    RefundStatus,
    RevenueRecord,
    RevenueRecordStatus,
    WebhookDelivery,
    WebhookEvent,
)
from billing.models.webhooks import DeliveryStatus
from closing.models import Remittance, ReportStatus, SettlementReport
from notices.models import SmsMessage, SmsStatus
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.services.runs import WAITING_FOR_FILE
from simulation.fault_items import ExpectedItem, Item, explain
from simulation.portal import Receiver

OPEN = (DiscrepancyStatus.OPEN, DiscrepancyStatus.ASSIGNED, DiscrepancyStatus.PROPOSED)


@dataclass(frozen=True)
class Check:
    name: str
    held: bool
    figure: str

    def line(self) -> str:
        return f"  {'ok  ' if self.held else 'FAIL'} {self.name}: {self.figure}"


@dataclass
class Truth:
    """What the simulated outside world knows for certain."""

    paid_at_cashiers: int = 0  # fen the payers paid, every cashier payment
    cashier_payments: int = 0
    personal_data: set[str] = field(default_factory=set)  # names, phones, ID numbers given
    expected_items: list[ExpectedItem] = field(default_factory=list)  # the faults' items
    trades: dict[str, str] = field(default_factory=dict)  # a bent order's out_trade_no
    ledger_fingerprint: tuple[int, str] = (0, "")  # (last entry id, digest) at the last check
    # Parties a fault has down or slow now (a processor's code, or "revenue", "receipts").
    down: set[str] = field(default_factory=set)


def money_conserved(truth: Truth) -> list[Check]:
    """Every fen paid is on our books, and every fen on our books is in a department's
    report, in a refund of money that could not settle its order, or not yet reported."""
    booked = _sum(PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED), "amount")
    unseen = _sum(
        Discrepancy.objects.filter(
            type=DiscrepancyType.MISSING_IN_LEDGER, kind="payment", status__in=OPEN
        ),
        "their_amount",
    )
    reported = _sum(_latest_reports(), "collected")
    settling = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED, settles_order=True)
    # The applicants' freight is the couriers' money, owed to them: in no department's report.
    freight = _sum(settling.filter(order__purpose=FeeKind.FREIGHT), "amount")
    settling = settling.filter(order__purpose=FeeKind.FEE)
    closed = set(_latest_reports().values_list("business_date", flat=True))
    unreported = sum(
        attempt.amount
        for attempt in settling.select_related("order")
        if attempt.order.paid_at is not None and _beijing_date(attempt.order.paid_at) not in closed
    )
    given_back = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED, refund_due=True)
    unsettled = _sum(given_back, "amount")
    return [
        Check(
            "payers' money on the books",
            truth.paid_at_cashiers == booked + unseen,
            f"paid at cashiers {truth.paid_at_cashiers} fen ({truth.cashier_payments} payments)"
            f" = booked {booked} + open missing_in_ledger {unseen}",
        ),
        Check(
            "books in reports, refunds or the open day",
            booked == reported + unsettled + unreported + freight,
            f"booked {booked} = reported {reported} + owed back (paid twice) {unsettled}"
            f" + not yet reported {unreported} + freight owed to couriers {freight}",
        ),
    ]


def treasury_paid() -> Check:
    approved = _latest_reports().filter(status=ReportStatus.APPROVED)
    owed = sum(report.net - report.remitted_before for report in approved)
    remitted = _sum(Remittance.objects.all(), "amount")
    return Check(
        "approved nets remitted",
        owed == remitted,
        f"approved nets {owed} fen, remitted {remitted} fen "
        f"({Remittance.objects.count()} remittances)",
    )


def ledger_balanced(truth: Truth) -> list[Check]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT posting_id FROM billing_ledgerentry "
            "GROUP BY posting_id HAVING sum(debit) <> sum(credit)) unbalanced"
        )
        unbalanced = cursor.fetchone()[0]
        cursor.execute(
            "SELECT coalesce(sum(debit), 0), coalesce(sum(credit), 0), coalesce(max(id), 0), "
            "count(*) FROM billing_ledgerentry"
        )
        debits, credits, last_id, entries = cursor.fetchone()
    before_id, before_digest = truth.ledger_fingerprint
    unchanged = _ledger_digest(before_id) == before_digest if before_id else True
    truth.ledger_fingerprint = (last_id, _ledger_digest(last_id))
    return [
        Check(
            "ledger balanced",
            unbalanced == 0 and debits == credits,
            f"debits {debits} = credits {credits} fen, {unbalanced} unbalanced postings",
        ),
        Check(
            "ledger append-only",
            unchanged,
            f"the entries of the last check unchanged, {entries} entries now",
        ),
    ]


def _ledger_digest(last_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.id, e.posting_id, e.account_id, e.debit, e.credit, p.kind, p.reference "
            "FROM billing_ledgerentry e JOIN billing_ledgerposting p ON p.id = e.posting_id "
            "WHERE e.id <= %s ORDER BY e.id",
            [last_id],
        )
        digest = hashlib.sha256()
        for row in cursor:
            digest.update(repr(row).encode())
    return digest.hexdigest()


def runs_succeeded(truth: Truth, through: date) -> Check:
    """Every party's run of every date reconciled by now succeeded: a damaged file was
    fetched again, a party that had nothing to bill said so. One waiting for the file of a
    party a fault has down or slow right now (or had, until the next hourly retry) is
    waiting."""
    runs = ReconciliationRun.objects.filter(business_date__lte=through)
    stuck, waiting = [], []
    for run in runs.exclude(status=RunStatus.SUCCEEDED).order_by("business_date", "party"):
        down = run.step == WAITING_FOR_FILE and run.party.split(":")[0] in truth.down
        (waiting if down else stuck).append(f"{run.business_date} {run.party}: {run.step}")
    return Check(
        "every run succeeded",
        not stuck,
        f"{runs.count()} runs of the dates up to {through}; waiting for a party that is down: "
        f"{waiting or 'none'}; else not succeeded: {stuck or 'none'}",
    )


def paid_at_most_once() -> Check:
    twice = (
        PaymentAttempt.objects.filter(settles_order=True)
        .values("order_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    extra = PaymentAttempt.objects.filter(status=AttemptStatus.SUCCEEDED, settles_order=False)
    not_owed_back = extra.filter(refund_due=False).count()
    refunded = (
        Refund.objects.filter(attempt__in=extra, status=RefundStatus.SUCCEEDED).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return Check(
        "each order paid at most once",
        twice == 0 and not_owed_back == 0,
        f"{twice} orders settled twice; {extra.count()} extra payments "
        f"({_sum(extra, 'amount')} fen), {not_owed_back} not owed back, {refunded} fen refunded",
    )


def delivered(receiver: Receiver, outside: dict[str, Counter], *, final: bool) -> list[Check]:
    """Every outbox message delivered at least once and applied once by its receiver: the
    portal's webhook receiver, and the revenue system, the receipt platform and the SMS
    gateway as their sandboxes hold what they took (``outside``: our id -> times held).
    During the run one still inside its retry schedule is waiting; by the end none is."""
    events = set(WebhookEvent.objects.values_list("public_id", flat=True))
    failed = WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).count()
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
    heard = set(receiver.applied)
    checks = [
        Check(
            "webhooks delivered, applied once",
            failed == 0
            and not receiver.rejected
            and heard <= events
            and (not final or (pending == 0 and heard == events)),
            f"{len(events)} events, {len(heard)} applied by the portal, {pending} pending, "
            f"{failed} failed, {len(receiver.rejected)} rejected",
        )
    ]
    receipts = Receipt.objects.select_related("order", "refund")
    for name, ours, waiting, failed_count, held in (
        (
            "revenue records",
            set(RevenueRecord.objects.values_list("public_id", flat=True)),
            RevenueRecord.objects.filter(status=RevenueRecordStatus.PENDING).count(),
            RevenueRecord.objects.filter(status=RevenueRecordStatus.FAILED).count(),
            outside["revenue"],
        ),
        (
            "receipts",
            {(r.refund or r.order).public_id for r in receipts},
            receipts.filter(status=ReceiptStatus.REQUESTED).count(),
            receipts.filter(status=ReceiptStatus.FAILED).count(),
            outside["receipts"],
        ),
        (
            "SMS",
            set(
                SmsMessage.objects.exclude(status=SmsStatus.SKIPPED).values_list(
                    "public_id", flat=True
                )
            ),
            SmsMessage.objects.filter(status=SmsStatus.QUEUED).count(),
            SmsMessage.objects.filter(status=SmsStatus.FAILED).count(),
            outside["sms"],
        ),
    ):
        twice = sorted(key for key, n in held.items() if n > 1)
        invented = sorted(set(held) - ours)
        unseen = len(ours - set(held))
        checks.append(
            Check(
                f"{name} delivered, applied once",
                failed_count == 0
                and not twice
                and not invented
                and unseen <= waiting
                and (not final or unseen == 0),
                f"{len(ours)} ours, {len(held)} held by the receiver ({unseen} not yet: "
                f"{waiting} waiting), {failed_count} failed, held twice {twice or 'none'}, "
                f"not ours {invented or 'none'}",
            )
        )
    return checks


def faults_explained(truth: Truth, through: date, *, final: bool) -> Check:
    """Every open item is exactly the one a fault should have left (simulation.fault_items),
    and every fault of a date reconciled by now that leaves an item for a person left it."""
    items = [_item(row) for row in Discrepancy.objects.select_related("run", "department")]
    explanation = explain(truth.expected_items, items, truth.trades, through=through, final=final)
    unexplained = Counter(
        (item.type, item.party_kind, item.party) for item in explanation.unexplained
    )
    not_made = [f"{e.type} {e.party_kind} {e.party} {e.shown_on}" for e in explanation.not_made]
    person = sum(1 for e in truth.expected_items if not e.auto and e.shown_on <= through)
    return Check(
        "faults shown as exactly their items",
        explanation.exact,
        f"{person} items for a person expected, {sum(item.open for item in items)} items open;"
        f" unexplained {dict(unexplained) or 'none'}, not made {not_made or 'none'}",
    )


def _item(row: Discrepancy) -> Item:
    kind = row.run.party_kind
    if kind == PartyKind.BANK:
        party = row.department.code if row.department else ""
    elif kind == PartyKind.REVENUE:
        party = ""
    else:
        party = row.party
    return Item(
        id=row.pk,
        type=row.type,
        party_kind=kind,
        party=party,
        business_date=row.business_date,
        our_ref=row.our_ref,
        our_amount=row.our_amount,
        their_amount=row.their_amount,
        open=row.status in OPEN,
    )


def no_personal_data_in_logs(truth: Truth, logs: Iterable[Path]) -> Check:
    needles = sorted(value for value in truth.personal_data if len(value) >= 4)
    # Whole values only: a phone number inside a longer run of digits (a task's duration,
    # 0.0217541380000056s) is not that phone in the log.
    alternatives = "|".join(re.escape(value) for value in needles)
    pattern = re.compile(f"(?<![0-9])(?:{alternatives})(?![0-9])") if needles else None
    found = Counter()
    for path in logs:
        with path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                if pattern is not None and pattern.search(line):
                    found[path.name] += 1
    return Check(
        "no personal data in any log",
        not found,
        f"{len(needles)} names, phones and ID numbers looked for in every process's log: "
        f"{f'found in {dict(found)} lines' if found else 'none found'}",
    )


def _latest_reports():
    """The latest version of each department's report of each date."""
    latest = SettlementReport.objects.order_by("department_id", "business_date", "-version")
    return SettlementReport.objects.filter(
        pk__in=latest.distinct("department_id", "business_date").values("pk")
    )


def _sum(rows, column: str) -> int:
    return rows.aggregate(total=Sum(column))["total"] or 0


def _beijing_date(moment):
    return timezone.localtime(moment).date()
