"""Payment attempts on a channel, and applying what the channel says about them.

Calls to a channel never happen inside a transaction: lock and record the intent,
commit; call the channel; then record its answer. Every answer about a trade's outcome,
from a notification or a status query, goes through ``_apply_locked`` under the order's
and the attempt's row locks, so it is applied once whatever the order of arrival; the
trade a create call opened is stored by one UPDATE conditional on the attempt being
still ``created`` (``_record_trade``), and under those locks only when an answer came
first.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from billing import rows, states
from billing.errors import ChannelDeclined, ChannelNotAccepted, ChannelUnavailable
from billing.health import channel_failed, channel_succeeded, channel_take_call
from billing.models import (
    AttemptStatus,
    Department,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
)
from billing.receipts import receipt_request
from billing.revenue import revenue_record_emit
from billing.routing import AUTO, RoutingDecision, route
from billing.services.orders import lock_order, payment_order_transition
from billing.services.payables import order_payable_account
from billing.services.reasons import DECLINED, NO_OPEN_ATTEMPT, ORDER_NOT_PAYABLE, WRONG_AMOUNT
from billing.services.refunds import refund_notification_receive, refund_unsettled_payment_queue
from core import reference_data, untrusted
from core.audit import audit_entry, audit_record, audit_records
from core.commit_hooks import after_commit
from core.errors import IllegalTransition, NotFound
from core.models import AuditRecord
from core.money import business_date_of
from core.outside import get_channel
from integrations.payments.base import (
    CreatedTrade,
    CreateTrade,
    InvalidNotification,
    NotificationAck,
    ProviderDeclined,
    ProviderError,
    RenewsPayUrl,
    TradeResult,
    TradeStatus,
)
from ledger import services as ledger
from notices.sms import NoticeKind, notice_request

logger = logging.getLogger(__name__)

# After the notification is overdue, ask the channel at these intervals, then daily.
QUERY_BACKOFF = (
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(days=1),
)
MAX_STORED_BODY = 65_536
# What is kept of a rejected notification's headers.
MAX_REJECTED_HEADERS = 20
MAX_REJECTED_HEADER_CHARS = 256
Outcome = PaymentNotification.Outcome


def payment_attempt_start(
    *,
    order_public_id: str,
    channel_code: str,
    actor: str,
    visible: QuerySet[PaymentOrder] | None = None,
    return_url: str = "",
    payer_ip: str = "",
) -> PaymentAttempt:
    """Open a trade for the order and return the attempt with its pay_url.

    ``return_url``: where the channel's cashier sends the payer back; ``payer_ip``: the
    payer's browser address, for a channel whose cashier needs it. Neither is stored: a
    pending attempt returned again keeps the trade it was opened with, and its pay_url,
    signed afresh when the gateway would refuse it as stale (``_with_fresh_pay_url``).

    ``channel_code`` is a channel or ``auto``. With ``auto`` a channel that does not answer
    is left ``unknown`` (a status query settles it) and the next eligible channel is tried.
    ``visible``: the orders the caller may see (an order outside them is not found), read
    in the one query that reads the order to route it.
    """
    now = timezone.now()
    # A pending attempt whose create answer never came back (a status query found its
    # trade) has no pay_url to hand out: the payer gets a new attempt instead.
    pending = PaymentAttempt.objects.filter(
        order=OuterRef("pk"), status=AttemptStatus.PENDING
    ).exclude(pay_url="")
    if channel_code != AUTO:
        pending = pending.filter(channel=channel_code)
    # Read, not locked: an attempt is recorded under the order's lock, after a fresh check.
    order = (
        (PaymentOrder.objects.all() if visible is None else visible)
        .select_related("department")
        .annotate(pending_attempt_id=Subquery(pending.values("pk")[:1]))
        .filter(public_id=order_public_id)
        .first()
    )
    if order is None:
        raise NotFound("No such payment order.")
    _check_payable(order, now)
    if order.pending_attempt_id is not None:
        return _with_fresh_pay_url(order.attempts.get(pk=order.pending_attempt_id), actor=actor)
    decision = route(order=order, requested=channel_code, now=now)
    if not decision.candidates:
        reasons = "; ".join(f"{code}: {why}" for code, why in decision.rejected.items())
        raise ChannelNotAccepted(
            f"No channel can take this payment ({reasons}).", fields={"channel": [reasons]}
        )
    unanswered = None
    for channel in decision.candidates:
        try:
            return _start_on_channel(
                order.pk,
                channel,
                decision=decision,
                actor=actor,
                cashier={"return_url": return_url, "payer_ip": payer_ip},
            )
        except ChannelUnavailable as exc:
            unanswered = exc
    raise unanswered


def _with_fresh_pay_url(attempt: PaymentAttempt, *, actor: str) -> PaymentAttempt:
    """The pending attempt with a pay_url its gateway accepts now.

    A request signed for the payer's browser (Alipay's page.pay) is refused some minutes
    after signing; the channel signs the same request afresh, for the same trade, and the
    new pay_url is stored in place of the old one, unless another request or an answer
    about the trade changed the attempt meanwhile.
    """
    channel = get_channel(attempt.channel)
    if not isinstance(channel, RenewsPayUrl):
        return attempt
    renewed = channel.renew_pay_url(attempt.pay_url)
    if renewed == attempt.pay_url:
        return attempt
    with transaction.atomic(durable=True):
        stored = PaymentAttempt.objects.filter(
            pk=attempt.pk, status=AttemptStatus.PENDING, pay_url=attempt.pay_url
        ).update(pay_url=renewed, updated_at=timezone.now())
        if stored:
            attempt.pay_url = renewed
            audit_record(actor=actor, action="payment_attempt.pay_url_renewed", obj=attempt)
    return attempt if stored else PaymentAttempt.objects.get(pk=attempt.pk)


def _start_on_channel(
    order_id: int,
    channel_code: str,
    *,
    decision: RoutingDecision,
    actor: str,
    cashier: dict[str, str],
) -> PaymentAttempt:
    now = timezone.now()
    if not channel_take_call(channel_code, now=now):
        raise ChannelUnavailable("The channel is out of rotation while another call tries it.")
    with transaction.atomic(durable=True):
        order = lock_order(order_id)
        _check_payable(order, now)
        attempt = PaymentAttempt.objects.create(
            order=order,
            channel=channel_code,
            amount=order.amount,
            next_query_at=now + settings.NOTIFICATION_OVERDUE_AFTER,
            routing=decision.as_record(channel_code),
        )
        created = audit_entry(
            actor=actor, action="payment_attempt.created", obj=attempt, to_status=attempt.status
        )
        if order.status == OrderStatus.UNPAID:
            payment_order_transition(
                order=order, to=OrderStatus.PAYING, actor=actor, audited_with=[created]
            )
        else:
            audit_records(created)

    channel = get_channel(channel_code)
    try:
        created = channel.create_trade(
            CreateTrade(
                out_trade_no=attempt.out_trade_no,
                payment_code=order.payment_code,
                amount=attempt.amount,
                subject=f"{order.department.name} {order.case_number}",
                department_code=order.department.code,
                notify_url=f"{settings.SERVICE_BASE_URL}/notify/{channel_code}",
                expires_at=order.expires_at,
                opened_at=attempt.created_at,
                **cashier,
            )
        )
    except ProviderDeclined as exc:
        channel_succeeded(channel_code)  # it answered: a refusal is not an outage
        _settle_attempt(
            attempt, to=AttemptStatus.FAILED, actor=actor, reason=DECLINED.format(code=exc.code)
        )
        raise ChannelDeclined(f"The channel refused the payment: {exc}") from exc
    except ProviderError as exc:
        channel_failed(channel_code)
        _settle_attempt(attempt, to=AttemptStatus.UNKNOWN, actor=actor, reason=type(exc).__name__)
        raise ChannelUnavailable(
            "The channel did not answer; the payment's status will be checked with it."
        ) from exc
    channel_succeeded(channel_code)
    return _record_trade(attempt, created, actor=actor)


def _record_trade(attempt: PaymentAttempt, created: CreatedTrade, *, actor: str) -> PaymentAttempt:
    """Store the opened trade and move the attempt to pending, unless an answer came first."""
    trade = {"provider_trade_no": created.provider_trade_no, "pay_url": created.pay_url}
    with transaction.atomic(durable=True):
        # Still created, as it nearly always is: one conditional UPDATE (created -> pending),
        # no lock taken before.
        opened = PaymentAttempt.objects.filter(pk=attempt.pk, status=AttemptStatus.CREATED).update(
            **trade, status=AttemptStatus.PENDING, updated_at=timezone.now()
        )
        if opened:
            for name, value in trade.items():
                setattr(attempt, name, value)
            attempt.status = AttemptStatus.PENDING
            audit_records(_move_entry(attempt, previous=AttemptStatus.CREATED, actor=actor))
            return attempt
        # A notification or a status query moved it meanwhile.
        order = lock_order(attempt.order_id)
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        for name, value in trade.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*trade, "updated_at"])
        if locked.status in (AttemptStatus.CREATED, AttemptStatus.UNKNOWN):
            _move_attempt(locked, to=AttemptStatus.PENDING, actor=actor)
    locked.order = order
    return locked


def _check_payable(order: PaymentOrder, now: datetime) -> None:
    if order.status not in states.PAYABLE_ORDER_STATUSES:
        raise IllegalTransition(
            f"The order is {order.status} and cannot be paid.", code="order_not_payable"
        )
    if order.expires_at <= now:
        raise IllegalTransition("The order has expired.", code="order_expired")


def _settle_attempt(attempt: PaymentAttempt, *, to: str, actor: str, reason: str) -> None:
    with transaction.atomic(durable=True):
        order = lock_order(attempt.order_id)
        locked = PaymentAttempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status in states.OPEN_ATTEMPT_STATUSES and locked.status != to:
            locked.failure_reason = reason[:255]
            _move_attempt(locked, to=to, actor=actor, reason=reason)
            _reopen_order_if_idle(order, actor=actor)


def payment_attempt_apply_result(*, result: TradeResult, actor: str) -> str:
    """Apply a channel's answer from a status query; returns the outcome."""
    with transaction.atomic(durable=True):
        locked = _lock_attempt(result.out_trade_no)
        if locked is None:
            raise NotFound(f"No attempt {result.out_trade_no}.")
        return _apply_locked(*locked, result, actor=actor)


def _lock_attempt(
    public_id: str, *, channel: str | None = None
) -> tuple[PaymentOrder, PaymentAttempt] | None:
    """The attempt of that id (on that channel, when one is given) and its order, both rows
    locked by one statement, the order's first: every path that moves money locks an order
    before its attempts. The department is read with them, not locked (as ``lock_order``
    reads it), and the order carries the reference data's committed version
    (``reference_version``). Written out: compiled by the ORM, the two locking reads this
    statement took the place of cost a third of a notification's CPU."""
    with connection.cursor() as cursor:
        if channel is None:
            cursor.execute(_lock_sql("a.public_id = %s"), [public_id])
        else:
            cursor.execute(_lock_sql("a.public_id = %s AND a.channel = %s"), [public_id, channel])
        row = cursor.fetchone()
    if row is None:
        return None
    order, department, attempt = rows.instances(row, PaymentOrder, Department, PaymentAttempt)
    order.department = department
    order.reference_version = row[-1]
    attempt.order = order
    return order, attempt


@cache
def _lock_sql(condition: str) -> str:
    # FOR UPDATE OF locks in the order it names: the order, then the attempt.
    return (
        f"SELECT {rows.columns(PaymentOrder, 'o')}, {rows.columns(Department, 'd')}, "  # noqa: S608
        f"{rows.columns(PaymentAttempt, 'a')}, {reference_data.VERSION_QUERY} "
        f"FROM {rows.quote(PaymentAttempt._meta.db_table)} a "
        f"JOIN {rows.quote(PaymentOrder._meta.db_table)} o ON o.id = a.order_id "
        f"JOIN {rows.quote(Department._meta.db_table)} d ON d.id = o.department_id "
        f"WHERE {condition} FOR UPDATE OF o, a"
    )


def payment_attempt_query(*, public_id: str, actor: str) -> str:
    """Ask the channel about one attempt now and apply its answer (a late notification, 补单)."""
    attempt = PaymentAttempt.objects.filter(public_id=public_id).first()
    if attempt is None:
        raise NotFound(f"No attempt {public_id}.")
    result = _query_or_unavailable(get_channel(attempt.channel), attempt)
    return payment_attempt_apply_result(result=result, actor=actor)


def payment_notification_receive(
    *, channel_code: str, headers: dict[str, str], body: bytes
) -> NotificationAck:
    """Verify, store and apply one inbound notification; answer as the channel expects."""
    channel = get_channel(channel_code)
    digest = {
        "channel": channel_code,
        "body_size": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    try:
        notification = channel.parse_notification(headers, body)
    except InvalidNotification as exc:
        _store_notification(
            **digest,
            headers=_rejected_headers(headers),
            raw_body=untrusted.excerpt(body),
            outcome=Outcome.REJECTED,
            detail=untrusted.without_nul(str(exc))[:255],
        )
        logger.warning("rejected a %s notification: %s", channel_code, exc)
        return channel.acknowledge(accepted=False)
    raw = {
        **digest,
        "headers": headers,
        "raw_body": body[:MAX_STORED_BODY].decode("utf-8", errors="replace"),
    }

    if notification.refund is not None:
        known = refund_notification_receive(
            channel_code=channel_code,
            notify_id=notification.notify_id,
            result=notification.refund,
            raw=raw,
        )
        return channel.acknowledge(accepted=known)
    result = notification.result
    known = {
        "notify_id": notification.notify_id,
        "out_trade_no": result.out_trade_no,
        "verified": True,
    }
    with transaction.atomic(durable=True):
        locked = _lock_attempt(result.out_trade_no, channel=channel_code)
        if locked is None:
            _store_notification(**raw, **known, outcome=Outcome.UNKNOWN_TRADE)
        else:
            # A notification has no API key: its first statement read the version instead.
            reference_data.observe(locked[0].reference_version)
            outcome = _apply_locked(*locked, result, actor=f"channel:{channel_code}")
            _store_notification(**raw, **known, attempt=locked[1], outcome=outcome)
    if locked is None:
        logger.error(
            "a %s notification names an unknown trade %s", channel_code, result.out_trade_no
        )
    return channel.acknowledge(accepted=locked is not None)


def _store_notification(**fields: object) -> None:
    rows.row_insert(PaymentNotification(**fields))


def _rejected_headers(headers: dict[str, str]) -> dict[str, str]:
    """A bounded copy of an unverified sender's headers, storable as jsonb (no NUL)."""
    kept = list(headers.items())[:MAX_REJECTED_HEADERS]
    return {_bounded(name): _bounded(value) for name, value in kept}


def _bounded(text: str) -> str:
    return untrusted.without_nul(text)[:MAX_REJECTED_HEADER_CHARS]


def _apply_locked(
    order: PaymentOrder, attempt: PaymentAttempt, result: TradeResult, *, actor: str
) -> str:
    if result.status == TradeStatus.SUCCEEDED:
        return _apply_success(order, attempt, result, actor=actor)
    if result.status == TradeStatus.PENDING:
        if attempt.status in (AttemptStatus.CREATED, AttemptStatus.UNKNOWN):
            _move_attempt(attempt, to=AttemptStatus.PENDING, actor=actor)
            return Outcome.APPLIED
        return Outcome.DUPLICATE
    if attempt.status not in states.OPEN_ATTEMPT_STATUSES:
        return Outcome.DUPLICATE
    to = AttemptStatus.CLOSED if result.status == TradeStatus.CLOSED else AttemptStatus.FAILED
    attempt.failure_reason = (result.failure_reason or result.status)[:255]
    _move_attempt(attempt, to=to, actor=actor, reason=attempt.failure_reason)
    _reopen_order_if_idle(order, actor=actor)
    return Outcome.APPLIED


def _apply_success(
    order: PaymentOrder, attempt: PaymentAttempt, result: TradeResult, *, actor: str
) -> str:
    if attempt.status == AttemptStatus.SUCCEEDED:
        return Outcome.DUPLICATE
    attempt.provider_trade_no = result.provider_trade_no or attempt.provider_trade_no
    attempt.paid_at = result.paid_at or timezone.now()
    attempt.received_amount = result.amount
    attempt.next_query_at = None
    if result.amount != attempt.amount:
        refund_reason = WRONG_AMOUNT.format(paid=result.amount, expected=attempt.amount)
    elif order.status not in states.PAYABLE_ORDER_STATUSES:
        refund_reason = ORDER_NOT_PAYABLE.format(status=order.status)
    else:
        refund_reason = ""
    attempt.settles_order = not refund_reason
    attempt.refund_due = bool(refund_reason)
    succeeded = _moved_attempt(
        attempt, to=AttemptStatus.SUCCEEDED, actor=actor, data={"amount": result.amount}
    )
    # The money is at the channel either way; it is owed to the department or back to the payer.
    owed_to = ledger.payer_refunds_due_account() if refund_reason else order_payable_account(order)
    ledger.ledger_post(
        kind="unsettled_payment" if refund_reason else "payment",
        reference=attempt.public_id,
        business_date=business_date_of(attempt.paid_at),
        memo=f"order {order.public_id} {refund_reason}".strip(),
        legs=[
            ledger.Leg(ledger.clearing_account(attempt.channel), debit=result.amount),
            ledger.Leg(owed_to, credit=result.amount),
        ],
    )
    if not refund_reason:
        order.paid_at = attempt.paid_at
        payment_order_transition(
            order=order, to=OrderStatus.PAID, actor=actor, audited_with=[succeeded]
        )
        revenue_record_emit(order=order, kind="payment", settled_by=attempt)
        receipt_request(order=order)
        notice_request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)
        return Outcome.APPLIED
    audit_records(succeeded)
    _reopen_order_if_idle(order, actor=actor)
    after_commit(refund_unsettled_payment_queue, attempt.pk)
    audit_record(
        actor=actor, action="payment_attempt.refund_due", obj=attempt, reason=refund_reason
    )
    logger.warning(
        "money for order %s cannot settle it (%s): flagged for refund",
        order.public_id,
        refund_reason,
    )
    return Outcome.REFUND_DUE


def _move_attempt(
    attempt: PaymentAttempt, *, to: str, actor: str, reason: str = "", data: dict | None = None
) -> None:
    audit_records(_moved_attempt(attempt, to=to, actor=actor, reason=reason, data=data))


def _moved_attempt(
    attempt: PaymentAttempt, *, to: str, actor: str, reason: str = "", data: dict | None = None
) -> AuditRecord:
    """Move and save the attempt; returns its audit row, for the caller to write."""
    states.check_transition(
        states.ATTEMPT_TRANSITIONS, kind="payment attempt", current=attempt.status, new=to
    )
    previous = attempt.status
    attempt.status = to
    if to not in states.OPEN_ATTEMPT_STATUSES:
        attempt.next_query_at = None
    rows.row_update(attempt)
    return _move_entry(attempt, previous=previous, actor=actor, reason=reason, data=data)


def _move_entry(
    attempt: PaymentAttempt,
    *,
    previous: str,
    actor: str,
    reason: str = "",
    data: dict | None = None,
) -> AuditRecord:
    return audit_entry(
        actor=actor,
        action=f"payment_attempt.{attempt.status}",
        obj=attempt,
        from_status=previous,
        to_status=attempt.status,
        reason=reason,
        data=data,
    )


def _reopen_order_if_idle(order: PaymentOrder, *, actor: str) -> None:
    if order.status != OrderStatus.PAYING:
        return
    if not order.attempts.filter(status__in=states.OPEN_ATTEMPT_STATUSES).exists():
        payment_order_transition(
            order=order, to=OrderStatus.UNPAID, actor=actor, reason=NO_OPEN_ATTEMPT
        )


def payment_attempts_close_open(*, order: PaymentOrder, actor: str) -> None:
    """Close the order's open trades at their channels and apply what each channel says."""
    for attempt in order.attempts.filter(status__in=states.OPEN_ATTEMPT_STATUSES):
        channel = get_channel(attempt.channel)
        try:
            result = channel.close_trade(attempt.out_trade_no, opened_at=attempt.created_at)
        except ProviderDeclined:
            result = _query_or_unavailable(channel, attempt)
        except ProviderError as exc:
            raise ChannelUnavailable("The channel could not close the trade; try again.") from exc
        if result.status == TradeStatus.NOT_FOUND:
            result = TradeResult(out_trade_no=attempt.out_trade_no, status=TradeStatus.CLOSED)
        payment_attempt_apply_result(result=result, actor=actor)


def _query_or_unavailable(channel, attempt: PaymentAttempt) -> TradeResult:
    try:
        return channel.query_trade(attempt.out_trade_no, opened_at=attempt.created_at)
    except ProviderError as exc:
        raise ChannelUnavailable("The channel could not close the trade; try again.") from exc


def payment_attempts_query_overdue(*, now: datetime | None = None, limit: int = 200) -> int:
    """Ask the channel about attempts whose notification is overdue; returns how many were asked."""
    now = now or timezone.now()
    due = PaymentAttempt.objects.filter(
        status__in=states.OPEN_ATTEMPT_STATUSES, next_query_at__lte=now
    ).order_by("next_query_at")[:limit]
    asked = 0
    for attempt in list(due):
        backoff = QUERY_BACKOFF[min(attempt.query_count, len(QUERY_BACKOFF) - 1)]
        leased = PaymentAttempt.objects.filter(
            pk=attempt.pk,
            next_query_at=attempt.next_query_at,
            status__in=states.OPEN_ATTEMPT_STATUSES,
        ).update(next_query_at=now + backoff, query_count=attempt.query_count + 1)
        if not leased:
            continue  # another sweeper took it
        asked += 1
        try:
            result = get_channel(attempt.channel).query_trade(
                attempt.out_trade_no, opened_at=attempt.created_at
            )
        except ProviderError as exc:
            logger.info(
                "status query for %s failed (%s); next try by backoff", attempt.public_id, exc
            )
            continue
        payment_attempt_apply_result(result=result, actor=f"channel:{attempt.channel}:query")
    return asked
