"""Resolving what the truth can be established for, without a person.

- missing_in_ledger: the channel has a payment we do not; it is asked about the attempt
  and, if paid, the answer is applied as a late notification (补单);
- duplicate: a second payment of one order is refunded (billing does so on its own; this
  confirms the refund exists and queues one if not);
- timing_cutoff: an item on one side of the day's turn (24:00, or the processor's own) is
  looked for on the other date; found, both are resolved; not yet, it is carried over,
  and escalated after some days. A fiscal receipt still being asked of the platform
  (pending) is resolved once it is issued: the run of the date it was issued on checks it
  against that day's file.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.models import PaymentAttempt, Receipt, ReceiptKind, ReceiptStatus, Refund
from billing.services import attempts, refunds
from core.audit import audit_record
from core.errors import DomainError
from core.money import business_date_of
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
)

logger = logging.getLogger(__name__)
ACTOR = "system:reconciliation"
# Applied now: paid, or money that cannot settle its order and is refunded (still booked).
APPLIED_OUTCOMES = ("applied", "refund_due")
# Resolutions, as templates: the rows keep them in English, the console says them in its
# reader's language (console.stored_texts).
LATE_NOTIFICATION = "the channel confirmed the payment: applied as a late notification (补单)"
SECOND_PAYMENT_REFUNDED = "the second payment is refunded ({refund})"
RECEIPT_ISSUED = "the receipt was issued on {day} ({receipt})"
ACROSS_THE_CUTOFF = "matched across the cut-off: {other_day} ↔ {day}"
COUNTED_LATE = "counted late by the revenue system: {other_day} → {day}"


def run_auto_resolve(*, run_id: int) -> int:
    """Settle what can be settled among the run's open discrepancies; returns how many."""
    run = ReconciliationRun.objects.get(pk=run_id)
    open_items = Discrepancy.objects.filter(run=run, status=DiscrepancyStatus.OPEN)
    settled = 0
    if run.party_kind == PartyKind.PROCESSOR:
        for item in open_items.filter(type=DiscrepancyType.MISSING_IN_LEDGER):
            settled += _late_notification(item)
        for item in open_items.filter(type=DiscrepancyType.DUPLICATE, kind="payment"):
            settled += _duplicate_refunded(item)
    if run.party_kind == PartyKind.RECEIPT:
        settled += _receipts_issued_since(run)
    if run.party_kind == PartyKind.REVENUE:
        theirs_only = open_items.filter(
            type=DiscrepancyType.REVENUE_MISMATCH, our_amount__isnull=True
        )
        for item in theirs_only:
            settled += _counted_late(item)
    for item in open_items.filter(type=DiscrepancyType.TIMING_CUTOFF):
        settled += _across_the_cutoff(item)
    escalate_carried_over(today=run.business_date)
    return settled


def _late_notification(item: Discrepancy) -> int:
    if not PaymentAttempt.objects.filter(public_id=item.our_ref).exists():
        return 0  # not ours at all: a person must look
    try:
        outcome = attempts.payment_attempt_query(public_id=item.our_ref, actor=ACTOR)
    except DomainError as exc:
        logger.info("late notification for %s not settled: %s", item.our_ref, exc)
        return 0
    if outcome not in APPLIED_OUTCOMES:
        return 0
    return discrepancy_auto_resolve(item, LATE_NOTIFICATION)


def _duplicate_refunded(item: Discrepancy) -> int:
    attempt = PaymentAttempt.objects.filter(public_id=item.our_ref, refund_due=True).first()
    if attempt is None:
        return 0
    refund = Refund.objects.filter(attempt=attempt, kind=Refund.Kind.UNSETTLED_PAYMENT).first()
    if refund is None:
        refund = refunds.refund_unsettled_payment(attempt_id=attempt.pk)
    if refund is None:
        return 0
    return discrepancy_auto_resolve(item, SECOND_PAYMENT_REFUNDED.format(refund=refund.public_id))


def _receipts_issued_since(run: ReconciliationRun) -> int:
    """The party's pending receipts, of this date and earlier ones, that are issued now."""
    pending = Discrepancy.objects.filter(
        party=run.party,
        type=DiscrepancyType.TIMING_CUTOFF,
        status__in=(DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER),
        business_date__lte=run.business_date,
    )
    settled = 0
    for item in pending:
        owed_for = "refund" if item.kind == ReceiptKind.RED else "order"
        receipt = Receipt.objects.filter(
            kind=item.kind, status=ReceiptStatus.ISSUED, **{f"{owed_for}__public_id": item.our_ref}
        ).first()
        if receipt is not None:
            why = RECEIPT_ISSUED.format(
                day=business_date_of(receipt.issued_at), receipt=f"{receipt.code}_{receipt.number}"
            )
            settled += discrepancy_auto_resolve(item, why)
    return settled


def _counted_late(item: Discrepancy) -> int:
    """The earlier day's item that found this record missing, if there is one."""
    window = settings.RECONCILIATION["carry_over_days"]
    missing = (
        Discrepancy.objects.filter(
            party=item.party,
            type=DiscrepancyType.REVENUE_MISMATCH,
            kind=item.kind,
            our_ref=item.our_ref,
            department_id=item.department_id,
            our_amount=item.their_amount,
            their_amount__isnull=True,
            status__in=(DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER),
            business_date__lt=item.business_date,
            business_date__gte=item.business_date - timedelta(days=window),
        )
        .order_by("business_date")
        .first()
    )
    if missing is None:
        return 0
    why = COUNTED_LATE.format(day=item.business_date, other_day=missing.business_date)
    return discrepancy_auto_resolve(missing, why) + discrepancy_auto_resolve(item, why)


def _across_the_cutoff(item: Discrepancy) -> int:
    refs = Q(our_ref=item.our_ref) if item.our_ref else Q()
    if item.their_ref:
        refs |= Q(their_ref=item.their_ref)
    counterpart = (
        Discrepancy.objects.filter(
            refs,
            party=item.party,
            type=DiscrepancyType.TIMING_CUTOFF,
            status__in=(DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER),
            business_date__in=(
                item.business_date - timedelta(days=1),
                item.business_date + timedelta(days=1),
            ),
        )
        .exclude(pk=item.pk)
        .first()
    )
    if counterpart is None:
        with transaction.atomic(durable=True):
            Discrepancy.objects.filter(pk=item.pk, status=DiscrepancyStatus.OPEN).update(
                status=DiscrepancyStatus.CARRIED_OVER
            )
            audit_record(actor=ACTOR, action="discrepancy.carried_over", obj=item)
        return 0
    why = ACROSS_THE_CUTOFF.format(other_day=counterpart.business_date, day=item.business_date)
    return discrepancy_auto_resolve(item, why) + discrepancy_auto_resolve(counterpart, why)


def escalate_carried_over(*, today) -> int:
    """Timing items still unmatched after the configured days go to a person."""
    limit = today - timedelta(days=settings.RECONCILIATION["carry_over_days"])
    stale = Discrepancy.objects.filter(
        status=DiscrepancyStatus.CARRIED_OVER, business_date__lte=limit
    )
    count = 0
    for item in stale:
        with transaction.atomic(durable=True):
            changed = Discrepancy.objects.filter(
                pk=item.pk, status=DiscrepancyStatus.CARRIED_OVER
            ).update(status=DiscrepancyStatus.ESCALATED)
            if changed:
                audit_record(actor=ACTOR, action="discrepancy.escalated", obj=item)
                count += 1
    return count


def discrepancy_auto_resolve(item: Discrepancy, why: str) -> int:
    with transaction.atomic(durable=True):
        changed = Discrepancy.objects.filter(
            pk=item.pk, status__in=(DiscrepancyStatus.OPEN, DiscrepancyStatus.CARRIED_OVER)
        ).update(
            status=DiscrepancyStatus.AUTO_RESOLVED,
            resolution=why[:255],
            resolved_by=ACTOR,
            resolved_at=timezone.now(),
        )
        if changed:
            audit_record(
                actor=ACTOR,
                action="discrepancy.auto_resolved",
                obj=item,
                from_status=item.status,
                to_status=DiscrepancyStatus.AUTO_RESOLVED,
                reason=why,
            )
    return changed
