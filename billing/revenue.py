"""The real-time push of paid and refunded records to the revenue-collection systems.

A record is written in the transaction of the payment or refund it records, routed to
the system of the department's region (the longest configured prefix of its 行政区划代码
wins), and sent as an outbox row of kind ``revenue_record`` (outbox.engine: leased,
retried on the schedule below, swept, retried by a person). Records of one order go in
sequence: a refund waits until the payment record is accepted. Every send carries the
record's public id, on which the receiver dedupes. The wire protocol is described in
docs/revenue_push.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from billing import rows
from billing.models import (
    FeeItem,
    FeeKind,
    PaymentAttempt,
    PaymentOrder,
    PaymentOrderLine,
    Refund,
    RevenuePushAttempt,
    RevenueRecord,
    RevenueRecordKind,
    RevenueRecordStatus,
    RevenueSystem,
)
from core import pii, reference_data
from core.audit import audit_record
from core.errors import IllegalTransition
from integrations.revenue.base import ProviderError, PushRequest, PushResult, ReceiptStatus
from integrations.revenue.http_json import HttpJsonRevenueSystem
from outbox.engine import dispatch_on_commit, give_up, retry_later
from outbox.kinds import FIRST_HOURS_BACKOFF, RemoteKind

logger = logging.getLogger(__name__)

SECRET_COLUMN = "revenue_system.secret"  # noqa: S105 - a column name for pii
NO_SYSTEM = "no revenue system for region"
S = RevenueRecordStatus

# 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, then every 6 h: about three days in all.
DEFAULT_RETRY_SCHEDULE = (*FIRST_HOURS_BACKOFF, *(timedelta(hours=6),) * 10)
# After a push accepted without a receipt number, ask for it at these intervals.
DEFAULT_RECEIPT_QUERY_SCHEDULE = (
    timedelta(minutes=1),
    timedelta(minutes=10),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(hours=24),
)

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
    receiver: HttpJsonRevenueSystem
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
    *,
    order: PaymentOrder,
    kind: str,
    refund: Refund | None = None,
    settled_by: PaymentAttempt | None = None,
) -> RevenueRecord | None:
    """Write the record of a payment or refund in the caller's transaction; send it on commit.

    ``settled_by`` is the attempt that paid the order, when the caller holds it (it is read
    otherwise). A region without an active system gets a failed record, so finance sees it.
    Freight is not public revenue: a freight order has no record.
    """
    if order.purpose == FeeKind.FREIGHT:
        return None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("revenue_record_emit must run inside the transaction of its change")
    if (kind == RevenueRecordKind.REFUND) != (refund is not None):
        raise ValueError("a refund record needs its refund, and only a refund record has one")
    system_id = _revenue_system_id_for_region(order.department.region_code)
    attempt = refund.attempt if refund else settled_by or order.attempts.get(settles_order=True)
    record = RevenueRecord(
        kind=kind,
        order=order,
        refund=refund,
        revenue_system_id=system_id,
        # An order is paid once, before any refund: its payment is its first record.
        sequence=_next_sequence(order) if refund else 1,
        payload=_payload(order, attempt, refund),
        status=S.PENDING if system_id else S.FAILED,
        next_attempt_at=timezone.now() if system_id else None,
        last_error="" if system_id else NO_SYSTEM,
    )
    rows.row_insert(record)
    if system_id is None:
        logger.warning(
            "revenue record %s of order %s: %s %s",
            record.public_id,
            order.public_id,
            NO_SYSTEM,
            order.department.region_code,
        )
    else:
        dispatch_on_commit(REVENUE_RECORDS, record.pk)
    return record


def _revenue_system_id_for_region(region_code: str) -> int | None:
    """``revenue_system_for_region``'s id, through the reference data's cache."""

    def load() -> int | None:
        system = revenue_system_for_region(region_code)
        return system.pk if system else None

    return reference_data.cached(("revenue_system_of_region", region_code), load)


def _next_sequence(order: PaymentOrder) -> int:
    last = order.revenue_records.order_by("-sequence").values_list("sequence", flat=True).first()
    return (last or 0) + 1


def _payload(order: PaymentOrder, attempt: PaymentAttempt, refund: Refund | None) -> dict:
    """What the receiver needs, and no more: the payer appears by name and masked id."""
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
                "code": code,
                "name": name,
                "quantity": quantity,
                "unit_fen": unit,
                "amount_fen": amount,
            }
            for code, name, quantity, unit, amount in _items(order)
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


def _items(order: PaymentOrder) -> list[tuple]:
    """The order's lines with their fee items' codes and names, in the order they were given."""
    with connection.cursor() as cursor:
        cursor.execute(_ITEMS_SQL, [order.pk])
        return cursor.fetchall()


_ITEMS_SQL = (
    "SELECT item.code, item.name, line.quantity, line.unit_amount, line.amount "  # noqa: S608
    f"FROM {PaymentOrderLine._meta.db_table} line "  # the models' tables
    f"JOIN {FeeItem._meta.db_table} item ON item.id = line.fee_item_id "
    "WHERE line.order_id = %s ORDER BY line.id"
)


def _beijing(moment: datetime) -> str:
    return timezone.localtime(moment, timezone.get_fixed_timezone(480)).isoformat("T", "seconds")


# Sending


class RevenueRecordOutbox(RemoteKind):
    """Push a record, or ask for the receipt of one accepted without it.

    Records of one order go in sequence: a record is not sent before the earlier ones
    are accepted.
    """

    name = "revenue_record"
    label = "revenue record"
    model = RevenueRecord
    transitions = RECORD_TRANSITIONS
    open_statuses = (S.PENDING, S.DELIVERED)
    failed_status = S.FAILED
    retry_permission = "billing.retry_revenuerecord"

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return _schedule("REVENUE_PUSH_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE)

    def rows(self):
        return RevenueRecord.objects.select_related("revenue_system")

    def due(self, rows, now: datetime):
        earlier_not_accepted = RevenueRecord.objects.filter(
            order_id=OuterRef("order_id"), sequence__lt=OuterRef("sequence")
        ).exclude(status__in=ACCEPTED_STATUSES)
        return super().due(rows, now).exclude(Q(status=S.PENDING) & Exists(earlier_not_accepted))

    def reopen(self, row: RevenueRecord) -> None:
        """A failed record is routed again (the region may have a system now) and starts over."""
        if row.status == S.ACKNOWLEDGED:
            raise IllegalTransition("An acknowledged revenue record has nothing to retry.")
        if row.status == S.FAILED:
            _route_again(row)

    def claim(self, row: RevenueRecord, now: datetime) -> _Call | None:
        if not self.due(RevenueRecord.objects.filter(pk=row.pk), now).exists():
            return None  # an earlier record of its order is not accepted yet
        system = row.revenue_system
        if not system.active:
            give_up(self, row, error=f"revenue system {system.code} is inactive")
            row.save(update_fields=["status", "next_attempt_at", "last_error"])
            return None
        action = RevenuePushAttempt.Action
        return _Call(
            action=action.PUSH if row.status == S.PENDING else action.QUERY,
            receiver=revenue_receiver(system),
            request=PushRequest(
                record_id=row.public_id,
                kind=row.kind,
                sequence=row.sequence,
                content=row.payload,
            ),
        )

    def send(self, call: _Call) -> _Outcome:
        started = time.monotonic()
        try:
            if call.action == RevenuePushAttempt.Action.PUSH:
                result = call.receiver.push(call.request)
            else:
                result = call.receiver.query(call.request.record_id)
            status_code, error = result.http_status, ""
        except ProviderError as exc:
            result, status_code, error = None, exc.http_status, f"{type(exc).__name__}: {exc}"
        duration_ms = int((time.monotonic() - started) * 1000)
        return _Outcome(result, status_code, error[:255], duration_ms)

    def settle(self, row: RevenueRecord, call: _Call, outcome: _Outcome, now: datetime) -> None:
        RevenuePushAttempt.objects.create(
            record=row,
            action=call.action,
            status_code=outcome.status_code,
            receipt_no=outcome.result.receipt_no if outcome.result else "",
            error=outcome.error,
            duration_ms=outcome.duration_ms,
        )
        row.last_error = outcome.error
        if call.action == RevenuePushAttempt.Action.PUSH:
            row.attempt_count += 1
            if row.status == S.PENDING:
                self._apply_push(row, outcome.result, now)
        else:
            row.query_count += 1
            if row.status == S.DELIVERED:
                self._apply_query(row, outcome.result, now)
        logger.info(
            "revenue record %s %s: HTTP %s, %s",
            row.public_id,
            call.action,
            outcome.status_code,
            row.status,
        )

    def _apply_push(self, row: RevenueRecord, result: PushResult | None, now: datetime) -> None:
        if result is not None:
            self._accept(row, result, now)
            _dispatch_next_of_order(row)
        elif not retry_later(self, row, now):
            give_up(self, row, error=row.last_error)

    def _apply_query(self, row: RevenueRecord, result: PushResult | None, now: datetime) -> None:
        if result is not None and result.status == ReceiptStatus.NOT_FOUND:
            self.move(row, S.PENDING)
            row.last_error = "the receiver has no such record: pushing it again"
            row.next_attempt_at = now
            dispatch_on_commit(self, row.pk)
        elif result is not None and result.status == ReceiptStatus.RECEIPTED:
            self._accept(row, result, now)
        else:
            schedule = _receipt_query_schedule()
            more = row.query_count < len(schedule)
            row.next_attempt_at = now + schedule[row.query_count] if more else None

    def _accept(self, row: RevenueRecord, result: PushResult, now: datetime) -> None:
        """The receiver holds the record: stop pushing it; ask for the receipt if it has none."""
        row.delivered_at = row.delivered_at or now
        if result.status == ReceiptStatus.RECEIPTED:
            self.move(row, S.ACKNOWLEDGED)
            row.receipt_no = result.receipt_no
            row.acknowledged_at = now
            row.next_attempt_at = None
        else:
            self.move(row, S.DELIVERED)
            row.next_attempt_at = now + _receipt_query_schedule()[0]


REVENUE_RECORDS = RevenueRecordOutbox()


def revenue_receiver(system: RevenueSystem) -> HttpJsonRevenueSystem:
    """The adapter of a revenue system, with its secret and its agreed signature method."""
    return HttpJsonRevenueSystem(
        base_url=system.base_url,
        app_key=system.app_key,
        secret=pii.decrypt(system.secret_encrypted, column=SECRET_COLUMN),
        signature_method=settings.REVENUE_SIGNATURE_METHODS.get(system.code, "HMAC-SHA256"),
        timeout=settings.REVENUE_PUSH_TIMEOUT_SECONDS,
    )


def _dispatch_next_of_order(record: RevenueRecord) -> None:
    successor = (
        RevenueRecord.objects.filter(
            order_id=record.order_id, sequence=record.sequence + 1, status=S.PENDING
        )
        .values_list("pk", flat=True)
        .first()
    )
    if successor is not None:
        dispatch_on_commit(REVENUE_RECORDS, successor)


def _schedule(setting: str, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
    return tuple(getattr(settings, setting, default))


def _receipt_query_schedule() -> tuple[timedelta, ...]:
    return _schedule("REVENUE_RECEIPT_QUERY_SCHEDULE", DEFAULT_RECEIPT_QUERY_SCHEDULE)


def _route_again(record: RevenueRecord) -> None:
    system = revenue_system_for_region(record.order.department.region_code)
    if system is None:
        record.last_error = NO_SYSTEM
        return
    REVENUE_RECORDS.move(record, S.PENDING)
    record.revenue_system = system
    record.attempt_count = 0
    record.last_error = ""
