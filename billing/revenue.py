"""The real-time push of paid and refunded records to the revenue-collection systems.

A record is written to the outbox in the transaction of the payment or refund it
records, routed to the system of the department's region (the longest configured prefix
of its 行政区划代码 wins), and sent by a task queued on commit. A failed send is retried
on a schedule by the periodic sweep, which also picks up whatever a lost task left
behind. Records of one order go in sequence: a refund waits until the payment record is
accepted. Every send carries the record's public id, on which the receiver dedupes.
The wire protocol is described in docs/revenue_push.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from billing.models import (
    FeeKind,
    PaymentOrder,
    Refund,
    RevenuePushAttempt,
    RevenueRecord,
    RevenueRecordKind,
    RevenueRecordStatus,
    RevenueSystem,
)
from billing.states import check_transition
from core import pii
from core.audit import audit_record
from core.errors import IllegalTransition, NotFound
from core.queueing import enqueue
from integrations.revenue.base import ProviderError, PushRequest, PushResult, ReceiptStatus
from integrations.revenue.http_json import HttpJsonRevenueSystem

logger = logging.getLogger(__name__)

SECRET_COLUMN = "revenue_system.secret"  # noqa: S105 - a column name for pii
NO_SYSTEM = "no revenue system for region"
S = RevenueRecordStatus

# 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 6 h: about three days in all.
DEFAULT_RETRY_SCHEDULE = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    *(timedelta(hours=6),) * 10,
)
# After a push accepted without a receipt number, ask for it at these intervals.
DEFAULT_RECEIPT_QUERY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)
# How long a call in flight keeps the sweep away from its record.
SEND_LEASE = timedelta(minutes=2)

RECORD_TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.DELIVERED, S.ACKNOWLEDGED, S.FAILED}),
    # A receiver that has lost a record it accepted gets it pushed again.
    S.DELIVERED: frozenset({S.ACKNOWLEDGED, S.PENDING}),
    S.FAILED: frozenset({S.PENDING}),
    S.ACKNOWLEDGED: frozenset(),
}
ACCEPTED_STATUSES = (S.DELIVERED, S.ACKNOWLEDGED)


@dataclass(frozen=True)
class _Call:
    action: str  # RevenuePushAttempt.Action
    base_url: str
    app_key: str
    secret: str
    request: PushRequest


@dataclass(frozen=True)
class _Outcome:
    result: PushResult | None
    status_code: int | None
    error: str
    duration_ms: int


# Systems


def revenue_system_configure(
    *,
    code: str,
    name: str,
    region_prefix: str,
    base_url: str,
    app_key: str,
    secret: str,
    actor: str,
) -> RevenueSystem:
    """Create or update the system with this code, sealing its secret."""
    with transaction.atomic(durable=True):
        system, created = RevenueSystem.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "region_prefix": region_prefix,
                "base_url": base_url,
                "app_key": app_key,
                "secret_encrypted": pii.encrypt(secret, column=SECRET_COLUMN),
                "active": True,
            },
        )
        audit_record(
            actor=actor,
            action="revenue_system.create" if created else "revenue_system.update",
            obj=system,
            data={"region_prefix": region_prefix, "base_url": base_url},
        )
    return system


def revenue_system_for_region(region_code: str) -> RevenueSystem | None:
    """The system of the longest configured prefix of ``region_code``, if it is active."""
    prefixes = [region_code[:length] for length in range(len(region_code), 1, -1)]
    by_prefix = {
        s.region_prefix: s for s in RevenueSystem.objects.filter(region_prefix__in=prefixes)
    }
    longest = next((by_prefix[prefix] for prefix in prefixes if prefix in by_prefix), None)
    return longest if longest is not None and longest.active else None


# The outbox


def revenue_record_emit(
    *, order: PaymentOrder, kind: str, refund: Refund | None = None
) -> RevenueRecord | None:
    """Write the record of a payment or refund in the caller's transaction; send it on commit.

    A region without an active system gets a failed record, so finance sees it. Freight
    is not public revenue: a freight order has no record.
    """
    if order.purpose == FeeKind.FREIGHT:
        return None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("revenue_record_emit must run inside the transaction of its change")
    if (kind == RevenueRecordKind.REFUND) != (refund is not None):
        raise ValueError("a refund record needs its refund, and only a refund record has one")
    system = revenue_system_for_region(order.department.region_code)
    record = RevenueRecord.objects.create(
        kind=kind,
        order=order,
        refund=refund,
        revenue_system=system,
        sequence=_next_sequence(order),
        payload=_payload(order, refund),
        status=S.PENDING if system else S.FAILED,
        next_attempt_at=timezone.now() if system else None,
        last_error="" if system else NO_SYSTEM,
    )
    if system is None:
        logger.warning(
            "revenue record %s of order %s: %s %s",
            record.public_id,
            order.public_id,
            NO_SYSTEM,
            order.department.region_code,
        )
    else:
        transaction.on_commit(partial(_enqueue, record.pk), robust=True)
    return record


def _next_sequence(order: PaymentOrder) -> int:
    last = order.revenue_records.order_by("-sequence").values_list("sequence", flat=True).first()
    return (last or 0) + 1


def _payload(order: PaymentOrder, refund: Refund | None) -> dict:
    """What the receiver needs, and no more: the payer appears by name and masked id."""
    attempt = refund.attempt if refund else order.attempts.get(settles_order=True)
    payload = {
        "payment_code": order.payment_code,
        "department_code": order.department.code,
        "region_code": order.department.region_code,
        "total_fen": refund.amount if refund else order.amount,
        "currency": order.currency,
        "paid_time": _beijing(attempt.paid_at),
        "channel": attempt.channel,
        "channel_trade_no": attempt.provider_trade_no,
        "items": [
            {
                "code": line.fee_item.code,
                "name": line.fee_item.name,
                "quantity": line.quantity,
                "unit_fen": line.unit_amount,
                "amount_fen": line.amount,
            }
            for line in order.lines.select_related("fee_item")
        ],
        "payer": {"name": order.payer_name, "id_number_masked": order.payer_id_number_masked},
    }
    if refund:
        payload["refund"] = {
            "refund_no": refund.public_id,
            "refunded_time": _beijing(refund.refunded_at or timezone.now()),
            "reason": refund.reason,
        }
    return payload


def _beijing(moment: datetime) -> str:
    return timezone.localtime(moment, timezone.get_fixed_timezone(480)).isoformat("T", "seconds")


def _enqueue(record_id: int) -> None:
    enqueue("billing.tasks.push_revenue_record", record_id)


# Sending


def revenue_record_send(*, record_id: int) -> None:
    """Push one record (or ask for its receipt) if it is due and its turn has come.

    Lease it and commit; call the receiver outside any transaction; lock and apply.
    ``record_id`` is the row's primary key.
    """
    call = _lease(record_id)
    if call is None:
        return
    outcome = _call_receiver(call)
    _record(record_id, call.action, outcome)


def _lease(record_id: int) -> _Call | None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        record = (
            RevenueRecord.objects.select_for_update(of=("self",))
            .select_related("revenue_system")
            .filter(pk=record_id)
            .first()
        )
        if record is None or record.status not in (S.PENDING, S.DELIVERED):
            return None
        if record.next_attempt_at is None or record.next_attempt_at > now:
            return None
        if record.status == S.PENDING and _waits_for_earlier_record(record):
            return None
        system = record.revenue_system
        if not system.active:
            _give_up(record, error=f"revenue system {system.code} is inactive")
            return None
        record.next_attempt_at = now + SEND_LEASE
        record.save(update_fields=["next_attempt_at"])
    action = RevenuePushAttempt.Action
    return _Call(
        action=action.PUSH if record.status == S.PENDING else action.QUERY,
        base_url=system.base_url,
        app_key=system.app_key,
        secret=pii.decrypt(system.secret_encrypted, column=SECRET_COLUMN),
        request=PushRequest(
            record_id=record.public_id,
            kind=record.kind,
            sequence=record.sequence,
            content=record.payload,
        ),
    )


def _waits_for_earlier_record(record: RevenueRecord) -> bool:
    return (
        RevenueRecord.objects.filter(order_id=record.order_id, sequence__lt=record.sequence)
        .exclude(status__in=ACCEPTED_STATUSES)
        .exists()
    )


def revenue_receiver(system: RevenueSystem) -> HttpJsonRevenueSystem:
    """The adapter of a revenue system, with its secret, for calls outside the outbox."""
    return HttpJsonRevenueSystem(
        base_url=system.base_url,
        app_key=system.app_key,
        secret=pii.decrypt(system.secret_encrypted, column=SECRET_COLUMN),
        timeout=settings.REVENUE_PUSH_TIMEOUT_SECONDS,
    )


def _call_receiver(call: _Call) -> _Outcome:
    receiver = HttpJsonRevenueSystem(
        base_url=call.base_url,
        app_key=call.app_key,
        secret=call.secret,
        timeout=settings.REVENUE_PUSH_TIMEOUT_SECONDS,
    )
    started = time.monotonic()
    try:
        if call.action == RevenuePushAttempt.Action.PUSH:
            result = receiver.push(call.request)
        else:
            result = receiver.query(call.request.record_id)
        status_code, error = result.http_status, ""
    except ProviderError as exc:
        result, status_code, error = None, exc.http_status, f"{type(exc).__name__}: {exc}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return _Outcome(result, status_code, error[:255], duration_ms)


def _record(record_id: int, action: str, outcome: _Outcome) -> None:
    now = timezone.now()
    with transaction.atomic(durable=True):
        record = RevenueRecord.objects.select_for_update().get(pk=record_id)
        RevenuePushAttempt.objects.create(
            record=record,
            action=action,
            status_code=outcome.status_code,
            receipt_no=outcome.result.receipt_no if outcome.result else "",
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        record.last_attempt_at = now
        record.last_error = outcome.error
        if action == RevenuePushAttempt.Action.PUSH:
            record.attempt_count += 1
            if record.status == S.PENDING:
                _apply_push(record, outcome.result, now)
        else:
            record.query_count += 1
            if record.status == S.DELIVERED:
                _apply_query(record, outcome.result, now)
        record.save()
    logger.info(
        "revenue record %s %s: HTTP %s, %s",
        record.public_id,
        action,
        outcome.status_code,
        record.status,
    )


def _apply_push(record: RevenueRecord, result: PushResult | None, now: datetime) -> None:
    if result is not None:
        _accept(record, result, now)
        _enqueue_next_of_order(record)
        return
    schedule = _schedule("REVENUE_PUSH_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE)
    if record.attempt_count <= len(schedule):
        record.next_attempt_at = now + schedule[record.attempt_count - 1]
    else:
        _move(record, S.FAILED)
        record.next_attempt_at = None


def _apply_query(record: RevenueRecord, result: PushResult | None, now: datetime) -> None:
    if result is not None and result.status == ReceiptStatus.NOT_FOUND:
        _move(record, S.PENDING)
        record.last_error = "the receiver has no such record: pushing it again"
        record.next_attempt_at = now
        transaction.on_commit(partial(_enqueue, record.pk), robust=True)
    elif result is not None and result.status == ReceiptStatus.RECEIPTED:
        _accept(record, result, now)
    else:
        schedule = _schedule("REVENUE_RECEIPT_QUERY_SCHEDULE", DEFAULT_RECEIPT_QUERY_SCHEDULE)
        more = record.query_count < len(schedule)
        record.next_attempt_at = now + schedule[record.query_count] if more else None


def _accept(record: RevenueRecord, result: PushResult, now: datetime) -> None:
    """The receiver holds the record: stop pushing it; ask for the receipt if it has none."""
    record.delivered_at = record.delivered_at or now
    if result.status == ReceiptStatus.RECEIPTED:
        _move(record, S.ACKNOWLEDGED)
        record.receipt_no = result.receipt_no
        record.acknowledged_at = now
        record.next_attempt_at = None
    else:
        _move(record, S.DELIVERED)
        schedule = _schedule("REVENUE_RECEIPT_QUERY_SCHEDULE", DEFAULT_RECEIPT_QUERY_SCHEDULE)
        record.next_attempt_at = now + schedule[0]


def _enqueue_next_of_order(record: RevenueRecord) -> None:
    successor = (
        RevenueRecord.objects.filter(
            order_id=record.order_id, sequence=record.sequence + 1, status=S.PENDING
        )
        .values_list("pk", flat=True)
        .first()
    )
    if successor is not None:
        transaction.on_commit(partial(_enqueue, successor), robust=True)


def _schedule(setting: str, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    return tuple(getattr(settings, setting, default))


def _give_up(record: RevenueRecord, *, error: str) -> None:
    _move(record, S.FAILED)
    record.next_attempt_at = None
    record.last_error = error
    record.save(update_fields=["status", "next_attempt_at", "last_error"])


def _move(record: RevenueRecord, new: str) -> None:
    check_transition(RECORD_TRANSITIONS, kind="revenue record", current=record.status, new=new)
    record.status = new


# The sweep and staff actions


def revenue_records_redispatch(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue the records that are due and whose turn has come: retries, receipt queries,
    and what a lost task left behind."""
    earlier_not_accepted = RevenueRecord.objects.filter(
        order_id=OuterRef("order_id"), sequence__lt=OuterRef("sequence")
    ).exclude(status__in=ACCEPTED_STATUSES)
    due_ids = list(
        RevenueRecord.objects.filter(
            status__in=(S.PENDING, S.DELIVERED), next_attempt_at__lte=now or timezone.now()
        )
        .exclude(Q(status=S.PENDING) & Exists(earlier_not_accepted))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for record_id in due_ids:
        _enqueue(record_id)
    return len(due_ids)


def revenue_record_retry_now(*, record_id: int, actor: str) -> RevenueRecord:
    """Make a record due now; a failed one is routed again and gets a fresh schedule."""
    with transaction.atomic(durable=True):
        record = (
            RevenueRecord.objects.select_for_update(of=("self",))
            .select_related("order__department")
            .filter(pk=record_id)
            .first()
        )
        if record is None:
            raise NotFound("No such revenue record.")
        if record.status == S.ACKNOWLEDGED:
            raise IllegalTransition("An acknowledged revenue record has nothing to retry.")
        from_status = record.status
        if from_status == S.FAILED:
            _route_again(record)
        if record.status != S.FAILED:
            record.next_attempt_at = timezone.now()
            transaction.on_commit(partial(_enqueue, record.pk), robust=True)
        record.save()
        audit_record(
            actor=actor,
            action="revenue_record.retry_now",
            obj=record,
            from_status=from_status,
            to_status=record.status,
            reason=record.last_error,
        )
    return record


def _route_again(record: RevenueRecord) -> None:
    system = revenue_system_for_region(record.order.department.region_code)
    if system is None:
        record.last_error = NO_SYSTEM
        return
    _move(record, S.PENDING)
    record.revenue_system = system
    record.attempt_count = 0
    record.last_error = ""
