"""Remittances as the bank's statement shows them, after their account's leg 6 has run.

A run keeps its discrepancies, not its matched pairs; so once a remittance party's run has
succeeded, the leg is read again from the file the run read (the same file, the same
remittances: their statuses change only here) and each remittance takes what it shows:
seen (the debit, its amount and the bank's reference), seen with another amount, or
overdue. A remittance seen after it was found overdue settles that earlier discrepancy.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from django.db import transaction

from closing.models import Remittance, RemittanceStatus
from core.audit import audit_record
from reconciliation import legs, statements
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.parties import parse_party
from reconciliation.services.auto import discrepancy_auto_resolve

ACTOR = "system:closing"
R = RemittanceStatus
# What a statement may move a remittance to, from what it was.
TRANSITIONS: dict[str, frozenset[str]] = {
    R.INSTRUCTED: frozenset({R.SEEN, R.MISMATCH, R.OVERDUE}),
    R.OVERDUE: frozenset({R.SEEN, R.MISMATCH}),
    R.MISMATCH: frozenset({R.SEEN}),  # the date run again on a corrected file
    R.SEEN: frozenset({R.MISMATCH}),
}


def remittances_record_statement(*, run_id: int) -> int:
    """Each remittance of a succeeded remittance run as its statement shows it; how many
    changed."""
    run = ReconciliationRun.objects.select_related("statement").get(pk=run_id)
    if run.party_kind != PartyKind.REMITTANCE or run.status != RunStatus.SUCCEEDED:
        return 0
    party = parse_party(run.party)
    ours = legs.our_side(party, run.business_date)
    theirs = statements.statement_frame(party, run.statement)
    result = legs.reconcile(party, run.business_date, ours, theirs).result
    found = result.discrepancies
    shown: dict[str, tuple[str, int | None, str]] = {
        row.our_ref: (R.SEEN, int(row.their_amount), _text(row.their_ref))
        for row in result.matched.itertuples(index=False)
    }
    for row in found[found["type"] == "amount_mismatch"].itertuples(index=False):
        shown[row.our_ref] = (R.MISMATCH, int(row.their_amount), _text(row.their_ref))
    for row in found[found["type"] == "missing_in_channel"].itertuples(index=False):
        shown[row.our_ref] = (R.OVERDUE, None, "")
    return _record(run, shown)


def _record(run: ReconciliationRun, shown: dict[str, tuple[str, int | None, str]]) -> int:
    changed = 0
    with transaction.atomic(durable=True):
        remittances = Remittance.objects.select_for_update().filter(end_to_end_id__in=shown)
        for remittance in remittances.order_by("pk"):
            status, amount, bank_ref = shown[remittance.end_to_end_id]
            changed += _apply(remittance, status, amount, bank_ref, run.business_date)
    for remittance in Remittance.objects.filter(
        end_to_end_id__in=shown, status=R.SEEN, seen_on=run.business_date
    ):
        _settle_overdue(run.party, remittance)
    return changed


def _apply(
    remittance: Remittance, status: str, amount: int | None, bank_ref: str, day: date
) -> int:
    previous = remittance.status
    if status == R.OVERDUE:
        remittance.overdue_on = remittance.overdue_on or day
    else:
        remittance.seen_on, remittance.seen_amount, remittance.bank_ref = day, amount, bank_ref
    if status != previous and status not in TRANSITIONS[previous]:
        return 0  # seen on a statement, it is not missing from a later one
    remittance.status = status
    remittance.save()
    if status == previous:
        return 0
    audit_record(
        actor=ACTOR,
        action=f"remittance.{status}",
        obj=remittance,
        from_status=previous,
        to_status=status,
        data={"statement": day.isoformat(), "bank_ref": bank_ref, "amount": amount},
    )
    return 1


def _settle_overdue(party: str, remittance: Remittance) -> None:
    """The overdue item an earlier statement left: settled, the remittance arrived late."""
    earlier = Discrepancy.objects.filter(
        party=party,
        type=DiscrepancyType.MISSING_IN_CHANNEL,
        our_ref=remittance.end_to_end_id,
        business_date__lt=remittance.seen_on,
        status__in=(DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER),
    )
    for item in earlier:
        discrepancy_auto_resolve(
            item, f"the remittance was on the statement of {remittance.seen_on}, late"
        )


def _text(value: object) -> str:
    return "" if value is None or value is pd.NA else str(value)
