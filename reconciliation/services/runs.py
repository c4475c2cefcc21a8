"""Reconciliation runs: one per (business date, party), safe to run again at any point.

A run reads the party's file and our side, matches them, and writes every result in one
transaction at the end: a crash before that commit leaves nothing half-written, and a
retry or a re-run replaces the run's results. Discrepancies are kept by their key, so a
re-run updates them in place and keeps their resolution; one it no longer finds is
auto-resolved. Progress is written as it goes, in short transactions of its own.
"""

from __future__ import annotations

import logging
from datetime import date

import pandas as pd
from django.db import transaction
from django.utils import timezone

from core.audit import audit_record
from core.commit_hooks import after_commit
from core.errors import IllegalTransition
from core.queueing import enqueue
from integrations.statements import StatementInvalid
from reconciliation import canonical, legs, statements
from reconciliation.memory import release_freed
from reconciliation.models import (
    OPEN_STATUSES,
    Clearing,
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.parties import Party, all_parties, parse_party
from reconciliation.services import postings, settlement

logger = logging.getLogger(__name__)

# Who looks at a type first; department-scoped staff see their departments' items.
OWNERS = {
    PartyKind.COURIER: "logistics",
    PartyKind.BANK: "treasury",
    PartyKind.REMITTANCE: "treasury",
}
WAITING_FOR_FILE = "waiting for the file"
# The resolution of an item a run of its date again no longer finds (console.stored_texts).
GONE = "not found when the date was reconciled again"


def run_request(*, business_date: date, party_code: str, actor: str) -> ReconciliationRun:
    """Queue a run of the date for the party, or queue it again; a running run is a 409."""
    party = parse_party(party_code)
    with transaction.atomic(durable=True):
        run, _ = ReconciliationRun.objects.select_for_update().get_or_create(
            business_date=business_date,
            party=party.code,
            defaults={"party_kind": party.kind},
        )
        if run.status == RunStatus.RUNNING:
            raise IllegalTransition("This date is being reconciled for the party right now.")
        run.status, run.step, run.progress, run.error = RunStatus.QUEUED, "queued", 0, ""
        run.requested_by = actor
        run.save()
        audit_record(
            actor=actor, action="reconciliation_run.requested", obj=run, to_status=run.status
        )
        after_commit(_enqueue, run.pk)
    return run


def runs_request_day(*, business_date: date, actor: str = "schedule") -> list[ReconciliationRun]:
    """The day's runs, one per party; processors first, as banks match their clearing."""
    order = {
        PartyKind.PROCESSOR: 0,
        PartyKind.REVENUE: 1,
        PartyKind.COURIER: 1,
        PartyKind.RECEIPT: 1,
        PartyKind.BANK: 2,
        PartyKind.REMITTANCE: 2,
    }
    parties = sorted(all_parties(), key=lambda party: order[party.kind])
    return [
        run_request(business_date=business_date, party_code=p.code, actor=actor) for p in parties
    ]


def _enqueue(run_id: int) -> None:
    enqueue("reconciliation.tasks.execute_run", run_id)


def run_execute(*, run_id: int) -> ReconciliationRun:
    run = _start(run_id)
    if run is None:
        return ReconciliationRun.objects.get(pk=run_id)
    party = parse_party(run.party)
    try:
        _reconcile(run, party)
    except statements.StatementNotReady as exc:
        return _fail(run, str(exc), step=WAITING_FOR_FILE)
    except StatementInvalid as exc:
        return _fail(run, f"{party.code} file of {run.business_date}: {exc}")
    except Exception as exc:
        logger.exception("reconciliation run %s failed", run.pk)
        _fail(run, f"unexpected error: {type(exc).__name__}")
        raise
    finally:
        release_freed()
    after_commit(_after, run.pk)
    return ReconciliationRun.objects.get(pk=run_id)


def _reconcile(run: ReconciliationRun, party: Party) -> None:
    """The file read and parsed, then our side read and matched while the file's canonical
    lines are written, and the results stored; what it held is garbage once it returns,
    for run_execute to hand back.

    The file's bytes are let go before our side is read: a ten-million-payment day's
    revenue file and its parsed lines are 2.3 GB together, our side another 1 GB."""
    statement = statements.statement_for(party, run.business_date)
    _progress(run, "parsing the file", 20)
    theirs = statements.statement_frame(party, statement)
    lines = canonical.lines_writing(statement, party.kind, theirs)
    _progress(run, "matching", 35)
    our_side = legs.our_side(party, run.business_date)
    release_freed()  # what parsing and reading our side left behind, before matching
    outcome = legs.reconcile(party, run.business_date, our_side, theirs)
    _progress(run, "storing the results", 80)
    lines.result()  # the file's canonical lines, written meanwhile
    _store(run, party, statement, outcome)


def _start(run_id: int) -> ReconciliationRun | None:
    with transaction.atomic(durable=True):
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.status == RunStatus.SUCCEEDED:
            return None  # a duplicate task after the work was done
        run.status, run.step, run.progress, run.error = RunStatus.RUNNING, "reading the file", 5, ""
        run.tries += 1
        run.started_at, run.finished_at = timezone.now(), None
        run.save()
    return run


def _progress(run: ReconciliationRun, step: str, percent: int) -> None:
    ReconciliationRun.objects.filter(pk=run.pk).update(
        step=step, progress=percent, updated_at=timezone.now()
    )


def _fail(run: ReconciliationRun, message: str, *, step: str = "failed") -> ReconciliationRun:
    with transaction.atomic(durable=True):
        run = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
        run.status, run.error, run.finished_at = RunStatus.FAILED, message[:2000], timezone.now()
        run.step = step
        run.save()
        audit_record(actor="system", action="reconciliation_run.failed", obj=run, reason=message)
    return run


def _store(run: ReconciliationRun, party: Party, statement, outcome: legs.LegOutcome) -> None:
    found = outcome.result.discrepancies
    with transaction.atomic(durable=True):
        run = ReconciliationRun.objects.select_for_update().get(pk=run.pk)
        departments = legs.department_ids(found["department"]) if len(found) else {}
        keys = _upsert_discrepancies(run, party, found, departments)
        # A clearing not drained is kept by its clearing's date, and settles when it drains.
        gone = (
            Discrepancy.objects.filter(
                party=party.code, business_date=run.business_date, status__in=OPEN_STATUSES
            )
            .exclude(key__in=keys)
            .exclude(type=DiscrepancyType.CLEARING_NOT_DRAINED)
        )
        gone.update(
            status=DiscrepancyStatus.AUTO_RESOLVED,
            resolution=GONE,
            resolved_at=timezone.now(),
        )
        if outcome.clearing is not None:
            _replace_clearing(run, party, outcome.clearing)
        if party.kind == PartyKind.BANK:
            settlement.transfers_record(
                run=run, party=party, matched=outcome.result.matched, found=found
            )
            settlement.undrained_clearings_flag(run=run, party=party, owner=OWNERS[party.kind])
        if party.kind == PartyKind.COURIER:
            postings.courier_freight_post(courier=party.name, business_date=run.business_date)
        run.statement = statement
        run.totals = nested_totals(outcome.result.totals)
        run.status, run.step, run.progress = RunStatus.SUCCEEDED, "done", 100
        run.finished_at = timezone.now()
        run.save()
        audit_record(
            actor="system",
            action="reconciliation_run.succeeded",
            obj=run,
            to_status=run.status,
            data={"discrepancies": len(found)},
        )


def nested_totals(flat: dict[str, int]) -> dict:
    """The engine's flat totals as {"ours", "theirs", "matched", "discrepancies": {type}}."""
    sides = ("ours", "theirs", "matched")
    nested: dict = {side: {"count": flat[f"{side}_count"]} for side in sides}
    for side in sides:
        nested[side]["amount"] = flat.get(f"{side}_amount", 0)
    types = {name.removesuffix("_count") for name in flat if name.endswith("_count")}
    nested["discrepancies"] = {
        kind: {"count": flat[f"{kind}_count"], "amount": flat.get(f"{kind}_amount", 0)}
        for kind in sorted(types - set(sides))
    }
    return nested


def _upsert_discrepancies(
    run: ReconciliationRun, party: Party, found: pd.DataFrame, departments: dict[str, int]
) -> list[str]:
    owner = OWNERS.get(party.kind, "finance")
    rows = [
        Discrepancy(
            run=run,
            business_date=run.business_date,
            party=party.code,
            type=row.type,
            key=str(row.key)[:200],
            kind=_text(row.kind),
            department_id=departments.get(_text(row.department)),
            our_ref=_text(row.our_ref)[:80],
            their_ref=_text(row.their_ref)[:80],
            our_amount=_amount(row.our_amount),
            their_amount=_amount(row.their_amount),
            owner=owner,
        )
        for row in found.itertuples(index=False)
    ]
    Discrepancy.objects.bulk_create(
        rows,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["party", "business_date", "type", "key"],
        update_fields=[
            "run",
            "kind",
            "department",
            "our_ref",
            "their_ref",
            "our_amount",
            "their_amount",
        ],
    )
    return [row.key for row in rows]


def _text(value: object) -> str:
    return (
        ""
        if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value))
        else str(value)
    )


def _amount(value: object) -> int | None:
    return None if value is None or value is pd.NA or pd.isna(value) else int(value)


def _replace_clearing(run: ReconciliationRun, party: Party, clearing: pd.DataFrame) -> None:
    """The processor's clearing of the date, per department, in place of the last run's,
    and its fees posted. What a bank statement showed credited stays: a changed net is
    matched against it again."""
    departments = legs.department_ids(clearing["department"]) if len(clearing) else {}
    previous = {
        c.department_id: c
        for c in Clearing.objects.filter(
            business_date=run.business_date, processor=party.name
        ).select_related("department")
    }
    fees = {c.department.code: 0 for c in previous.values()}  # none, unless cleared again
    fresh = []
    for row in clearing.itertuples(index=False):
        department_id = departments.get(str(row.department))
        if department_id is None:
            continue
        old = previous.pop(department_id, None)
        fresh.append(
            Clearing(
                business_date=run.business_date,
                processor=party.name,
                department_id=department_id,
                settlement_date=pd.Timestamp(row.settlement_date).date(),
                payments_count=int(row.payments_count),
                payments_amount=int(row.payments_amount),
                refunds_amount=int(row.refunds_amount),
                fees_amount=int(row.fees_amount),
                net_amount=int(row.amount),
                credited_amount=old.credited_amount if old else 0,
                credited_on=old.credited_on if old else None,
                bank_refs=old.bank_refs if old else [],
            )
        )
        fresh[-1].arrival = _arrival(fresh[-1], old)
        fees[str(row.department)] = int(row.fees_amount)
    Clearing.objects.filter(business_date=run.business_date, processor=party.name).delete()
    Clearing.objects.bulk_create(fresh)
    postings.clearing_fees_post(
        processor=party.name, business_date=run.business_date, fees=sorted(fees.items())
    )


def _arrival(clearing: Clearing, old: Clearing | None) -> str:
    """The arrival of a clearing made again: as it was for the same net, else what the
    credit seen (if any) says of the new one."""
    if old is not None and old.net_amount == clearing.net_amount:
        return old.arrival
    if clearing.credited_on is None:
        return Clearing.Arrival.PENDING
    if clearing.credited_amount != clearing.net_amount:
        return Clearing.Arrival.MISMATCH
    if clearing.credited_on > clearing.settlement_date:
        return Clearing.Arrival.LATE
    return Clearing.Arrival.ARRIVED


def _after(run_id: int) -> None:
    enqueue("reconciliation.tasks.auto_resolve", run_id)
