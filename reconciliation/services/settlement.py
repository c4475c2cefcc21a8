"""What a bank run records of the transfers it matched, and of those that never came.

A transfer is what a processor pays a department for one settlement date: the clearings of
the business dates that settle on it (reconciliation/legs.py ``expected_clearings``).
Credited in full by its settlement date it has `arrived`; after it, `late`; with another
amount, `mismatch` (and a settlement_mismatch discrepancy). What the statement shows
credited moves from the processor's clearing account to the bank account in the ledger.
A clearing whose transfer has not come once the window has passed is still in the
clearing account: a `clearing_not_drained` discrepancy, auto-resolved when it drains.

Called inside the transaction that stores the bank run's results.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from core.audit import audit_entry, audit_records
from core.business_days import add_business_days
from reconciliation.legs import clearings_open_on
from reconciliation.models import (
    OPEN_STATUSES,
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    ReconciliationRun,
)
from reconciliation.parties import Party
from reconciliation.services.postings import bank_credit_post

ACTOR = "system:reconciliation"


def transfers_record(
    *, run: ReconciliationRun, party: Party, matched: pd.DataFrame, found: pd.DataFrame
) -> None:
    """Each transfer the statement was matched against: credited in full, with another
    amount, or not at all (which takes back what an earlier run of the date recorded)."""
    short = found[found["settlement_date"].notna()]
    for rows, in_full in ((matched, True), (short, False)):
        for row in rows.itertuples(index=False):
            _transfer_record(
                run,
                party,
                processor=str(row.processor),
                department=str(row.department),
                settlement_date=pd.Timestamp(row.settlement_date).date(),
                credited=0 if pd.isna(row.their_amount) else int(row.their_amount),
                bank_refs=[] if pd.isna(row.their_ref) else str(row.their_ref).split(","),
                in_full=in_full,
            )


def _transfer_record(
    run: ReconciliationRun,
    party: Party,
    *,
    processor: str,
    department: str,
    settlement_date: date,
    credited: int,
    bank_refs: list[str],
    in_full: bool,
) -> None:
    day = run.business_date
    clearings = list(
        clearings_open_on(day)
        .select_for_update(of=("self",))
        .filter(processor=processor, department__code=department, settlement_date=settlement_date)
        .order_by("business_date")
    )
    seen = in_full or credited > 0
    if not seen:
        arrival = Clearing.Arrival.PENDING
    elif not in_full:
        arrival = Clearing.Arrival.MISMATCH
    else:
        arrival = Clearing.Arrival.LATE if day > settlement_date else Clearing.Arrival.ARRIVED
    nets = [clearing.net_amount for clearing in clearings]
    shares = nets if in_full else _spread(credited, nets)
    audits = []
    for clearing, share in zip(clearings, shares, strict=True):
        before = clearing.arrival
        clearing.arrival, clearing.credited_amount = arrival, share
        clearing.credited_on, clearing.bank_refs = (day if seen else None), bank_refs
        if before != arrival:
            audits.append(
                audit_entry(
                    actor=ACTOR,
                    action=f"clearing.{arrival}",
                    obj=clearing,
                    from_status=before,
                    to_status=arrival,
                    data={"credited_amount": share, "statement_date": str(day)},
                )
            )
    Clearing.objects.bulk_update(
        clearings, ["arrival", "credited_amount", "credited_on", "bank_refs"]
    )
    audit_records(*audits)
    bank_credit_post(
        account=party.account,
        processor=processor,
        department=department,
        settlement_date=settlement_date,
        credited=credited,
        statement_date=day,
    )
    if arrival in (Clearing.Arrival.ARRIVED, Clearing.Arrival.LATE):
        # What earlier statements did not show has come: their items are settled.
        _auto_resolve(
            Discrepancy.objects.filter(
                party=party.code,
                type=DiscrepancyType.SETTLEMENT_MISMATCH,
                our_ref=f"{processor}:{department}:{settlement_date}",  # as the leg names it
                business_date__lt=day,
            ),
            why=f"credited in full on the statement of {day}",
        )


def _spread(credited: int, nets: list[int]) -> list[int]:
    """A transfer's credit over its clearings, earliest first: each up to its net, the last
    one whatever remains."""
    shares = []
    for net in nets[:-1]:
        share = max(0, min(net, credited - sum(shares)))
        shares.append(share)
    return [*shares, credited - sum(shares)] if nets else []


def undrained_clearings_flag(*, run: ReconciliationRun, party: Party, owner: str) -> None:
    """The account's clearings whose transfer nothing has shown by the end of the window
    (``settlement_window_days`` business days after the settlement date, before the run's
    date) are discrepancies, one per clearing, kept by key across runs; those drained since
    (credited, or their clearing gone) are auto-resolved."""
    window = settings.RECONCILIATION["settlement_window_days"]
    pending = (
        Clearing.objects.filter(
            department__settlement_account_number=party.account,
            arrival=Clearing.Arrival.PENDING,
        )
        .exclude(net_amount=0)
        .select_related("department")
    )
    overdue = [
        clearing
        for clearing in pending.filter(settlement_date__lt=run.business_date)
        if add_business_days(clearing.settlement_date, window) < run.business_date
    ]
    Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                run=run,
                business_date=clearing.business_date,
                party=party.code,
                type=DiscrepancyType.CLEARING_NOT_DRAINED,
                key=_undrained_key(clearing),
                kind="settlement",
                department=clearing.department,
                our_ref=f"{clearing.processor}:{clearing.department.code}:{clearing.settlement_date}",
                our_amount=clearing.net_amount - clearing.credited_amount,
                owner=owner,
            )
            for clearing in overdue
        ],
        update_conflicts=True,
        unique_fields=["party", "business_date", "type", "key"],
        update_fields=["run", "department", "our_ref", "our_amount"],
    )
    _auto_resolve(
        Discrepancy.objects.filter(
            party=party.code, type=DiscrepancyType.CLEARING_NOT_DRAINED
        ).exclude(key__in=[_undrained_key(clearing) for clearing in pending]),
        why="drained: the transfer was credited, or its clearing is no more",
    )


def _undrained_key(clearing: Clearing) -> str:
    return (
        f"{DiscrepancyType.CLEARING_NOT_DRAINED.value}:{clearing.processor}:"
        f"{clearing.department.code}:{clearing.business_date}"
    )


def _auto_resolve(items: QuerySet[Discrepancy], *, why: str) -> None:
    """The open ones among ``items`` settled without a person, each audited."""
    settled = list(items.select_for_update().filter(status__in=OPEN_STATUSES))
    now = timezone.now()
    audits = []
    for item in settled:
        audits.append(
            audit_entry(
                actor=ACTOR,
                action="discrepancy.auto_resolved",
                obj=item,
                from_status=item.status,
                to_status=DiscrepancyStatus.AUTO_RESOLVED,
                reason=why,
            )
        )
        item.status, item.resolution = DiscrepancyStatus.AUTO_RESOLVED, why[:255]
        item.resolved_by, item.resolved_at, item.updated_at = ACTOR, now, now
    Discrepancy.objects.bulk_update(
        settled, ["status", "resolution", "resolved_by", "resolved_at", "updated_at"]
    )
    audit_records(*audits)
