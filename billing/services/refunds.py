"""Refunds (退付): reserved under the order's lock, asked of the channel, applied once.

Two refunds racing for the same money both lock the order; the second sees the first's
pending refund and is refused if together they exceed what the attempt took. A refund
the channel did not answer stays pending; the sweeper asks the channel about it.

Money that could not settle its order is refunded automatically: a declined try is followed
by another after the waits of ``REFUND_RETRY_BACKOFF``; when the last is declined too, the
money waits for finance staff (``needs_attention``), still owed to the payer in the ledger.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.errors import RefundNotAllowed
from billing.models import (
    AttemptStatus,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    Refund,
    RefundStatus,
    UnsettledPayment,
    UnsettledPaymentStatus,
)
from billing.receipts import receipt_red_request
from billing.revenue import revenue_record_emit
from billing.services.orders import get_order, lock_order, payment_order_transition
from billing.services.payables import order_payable_account
from billing.services.reasons import DECLINED, NO_SUCH_REFUND, UNSETTLED_REFUND
from billing.states import UNSETTLED_TRANSITIONS, check_transition
from billing.webhooks import webhook_event_emit
from core.audit import audit_record
from core.commit_hooks import after_commit
from core.errors import IllegalTransition, NotFound
from core.models import ApiClient
from core.money import business_date_of
from core.outside import get_channel
from core.queueing import enqueue
from integrations.payments.base import (
    ProviderDeclined,
    ProviderError,
    RefundRequest,
    RefundResult,
)
from integrations.payments.base import RefundStatus as ChannelRefundStatus
from ledger import services as ledger

logger = logging.getLogger(__name__)
Outcome = PaymentNotification.Outcome
REFUNDABLE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)
QUERY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)


def refund_reserve(
    *, order_public_id: str, amount: int, reason: str, actor: str, client: ApiClient | None = None
) -> Refund:
    """Reserve a refund of what paid the order; runs in the caller's transaction.

    The caller commits, then hands the refund to ``refund_submit`` outside any transaction.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("refund_reserve must run inside a transaction")
    order = lock_order(get_order(order_public_id).pk)
    if order.status not in REFUNDABLE_ORDER_STATUSES:
        raise RefundNotAllowed(f"The order is {order.status}; only paid orders are refunded.")
    attempt = order.attempts.get(settles_order=True)
    return _reserve(order, attempt, amount=amount, reason=reason, actor=actor, client=client)


def refund_submit(*, refund_public_id: str, actor: str) -> Refund:
    """Ask the channel for a reserved refund and apply its answer."""
    refund = Refund.objects.select_related("attempt", "order").get(public_id=refund_public_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    return _ask_channel(refund, actor=actor)


def refund_unsettled_payment(*, attempt_id: int, now: datetime | None = None) -> Refund | None:
    """Give back money that could not settle its order (paid twice, closed order, wrong amount).

    Tries only when its schedule says a try is due; None when no try was made.
    """
    now = now or timezone.now()
    attempt = PaymentAttempt.objects.get(pk=attempt_id)
    with transaction.atomic(durable=True):
        order = lock_order(attempt.order_id)
        attempt = PaymentAttempt.objects.select_for_update().get(pk=attempt_id)
        unrefunded = attempt.received_amount - _reserved(attempt)
        if not attempt.refund_due or unrefunded <= 0:
            return None
        unsettled = _lock_unsettled(attempt)
        if unsettled.status != UnsettledPaymentStatus.REFUNDING or (
            unsettled.next_try_at and unsettled.next_try_at > now
        ):
            return None
        unsettled.tries += 1
        unsettled.next_try_at = None  # set when the channel's answer is applied
        unsettled.save(update_fields=["tries", "next_try_at", "updated_at"])
        refund = _reserve(
            order,
            attempt,
            amount=unrefunded,
            reason=UNSETTLED_REFUND,
            actor="system",
            kind=Refund.Kind.UNSETTLED_PAYMENT,
        )
    return _ask_channel(refund, actor="system")


def unsettled_payments_refund_due(*, now: datetime | None = None) -> int:
    """Try the automatic refunds whose next try is due; returns how many were tried."""
    now = now or timezone.now()
    due = (
        PaymentAttempt.objects.filter(refund_due=True, status=AttemptStatus.SUCCEEDED)
        .filter(
            Q(unsettled__isnull=True)
            | Q(unsettled__status=UnsettledPaymentStatus.REFUNDING, unsettled__next_try_at__lte=now)
        )
        .exclude(refunds__status__in=[RefundStatus.PENDING, RefundStatus.SUCCEEDED])
        .values_list("pk", flat=True)
    )
    return sum(
        refund_unsettled_payment(attempt_id=attempt_id, now=now) is not None
        for attempt_id in list(due)
    )


def unsettled_payment_retry_now(*, unsettled_id: int, actor: str) -> UnsettledPayment:
    """Give a refund that was given up one more round of tries, the first one now."""
    ids = UnsettledPayment.objects.filter(pk=unsettled_id).values("attempt__order_id").first()
    if ids is None:
        raise NotFound(_("No such refund to retry."))
    with transaction.atomic(durable=True):
        lock_order(ids["attempt__order_id"])
        unsettled = UnsettledPayment.objects.select_for_update().get(pk=unsettled_id)
        if unsettled.status != UnsettledPaymentStatus.NEEDS_ATTENTION:
            raise IllegalTransition(
                _("The refund is %(status)s; only a refund given up is retried.")
                % {"status": unsettled.get_status_display()}
            )
        previous = unsettled.status
        _move_unsettled(unsettled, UnsettledPaymentStatus.REFUNDING)
        unsettled.tries = 0
        unsettled.next_try_at = timezone.now()
        unsettled.save(update_fields=["status", "tries", "next_try_at", "updated_at"])
        audit_record(
            actor=actor,
            action="unsettled_payment.retry_now",
            obj=unsettled,
            from_status=previous,
            to_status=unsettled.status,
        )
        after_commit(refund_unsettled_payment_queue, unsettled.attempt_id)
    return unsettled


def refund_unsettled_payment_queue(attempt_id: int) -> None:
    """Hand the automatic refund of an attempt's money to a worker; call it on commit."""
    enqueue("billing.tasks.refund_unsettled_payment", attempt_id)


def _lock_unsettled(attempt: PaymentAttempt) -> UnsettledPayment:
    """The attempt's unsettled money, locked; call it with the order's lock held."""
    unsettled, _created = UnsettledPayment.objects.select_for_update().get_or_create(
        attempt=attempt
    )
    return unsettled


def _after_declined_try(order: PaymentOrder, refund: Refund, *, actor: str) -> None:
    """Decide, once per declined automatic refund, when it is tried next or that it is given up."""
    unsettled = _lock_unsettled(refund.attempt)
    if unsettled.status != UnsettledPaymentStatus.REFUNDING:
        return
    backoff = tuple(settings.REFUND_RETRY_BACKOFF)
    unsettled.last_failure = refund.failure_reason
    if unsettled.tries > len(backoff):
        _move_unsettled(unsettled, UnsettledPaymentStatus.NEEDS_ATTENTION)
        unsettled.next_try_at = None
        webhook_event_emit(
            event_type="refund.failed",
            payload=refund_event_payload(refund),
            owner_id=order.created_by_id,
        )
    else:
        # A refund asked for before tries were counted is taken for the first.
        unsettled.next_try_at = timezone.now() + backoff[max(unsettled.tries, 1) - 1]
    unsettled.save()
    audit_record(
        actor=actor,
        action=f"unsettled_payment.{unsettled.status}",
        obj=unsettled,
        from_status=UnsettledPaymentStatus.REFUNDING,
        to_status=unsettled.status,
        reason=refund.failure_reason,
        data={
            "refund": refund.public_id,
            "tries": unsettled.tries,
            "next_try_at": unsettled.next_try_at.isoformat() if unsettled.next_try_at else None,
        },
    )


def _reserved(attempt: PaymentAttempt) -> int:
    refunds = attempt.refunds.exclude(status=RefundStatus.FAILED)
    return refunds.aggregate(total=Sum("amount"))["total"] or 0


def _reserve(
    order: PaymentOrder,
    attempt: PaymentAttempt,
    *,
    amount: int,
    reason: str,
    actor: str,
    client: ApiClient | None = None,
    kind: str = Refund.Kind.REQUESTED,
) -> Refund:
    remaining = attempt.received_amount - _reserved(attempt)
    if amount > remaining:
        raise RefundNotAllowed(
            f"{amount} fen is more than the {remaining} fen that remain refundable.",
            code="refund_exceeds_paid",
            fields={"amount": [f"At most {remaining}."]},
        )
    refund = Refund.objects.create(
        order=order,
        attempt=attempt,
        kind=kind,
        amount=amount,
        reason=reason,
        created_by=client,
        next_query_at=timezone.now() + QUERY_BACKOFF[0],
    )
    audit_record(
        actor=actor,
        action="refund.requested",
        obj=refund,
        to_status=refund.status,
        reason=reason,
        data={"amount": amount, "order": order.public_id},
    )
    return refund


def _ask_channel(refund: Refund, *, actor: str) -> Refund:
    attempt = refund.attempt
    channel = get_channel(attempt.channel)
    try:
        result = channel.refund(
            RefundRequest(
                out_trade_no=attempt.out_trade_no,
                out_refund_no=refund.out_refund_no,
                amount=refund.amount,
                total_amount=attempt.received_amount,
                reason=refund.reason,
                notify_url=f"{settings.SERVICE_BASE_URL}/notify/{attempt.channel}",
                opened_at=attempt.created_at,
                requested_at=refund.created_at,
            )
        )
    except ProviderDeclined as exc:
        result = RefundResult(
            out_refund_no=refund.out_refund_no,
            status=ChannelRefundStatus.FAILED,
            failure_reason=DECLINED.format(code=exc.code or exc),
        )
    except ProviderError as exc:
        logger.info("refund %s: the channel did not answer (%s)", refund.public_id, exc)
        return refund  # stays pending: the sweeper asks the channel
    refund_apply_result(result=result, actor=actor)
    refund.refresh_from_db()
    return refund


def refund_apply_result(*, result: RefundResult, actor: str) -> str:
    """Apply what a channel says about a refund, from its answer, a query or a notification."""
    ids = Refund.objects.filter(public_id=result.out_refund_no).values("pk", "order_id").first()
    if ids is None:
        raise NotFound(f"No refund {result.out_refund_no}.")
    with transaction.atomic(durable=True):
        order = lock_order(ids["order_id"])
        refund = Refund.objects.select_for_update().select_related("attempt").get(pk=ids["pk"])
        return _apply_locked(order, refund, result, actor=actor)


def refund_notification_receive(
    *, channel_code: str, notify_id: str, result: RefundResult, raw: dict
) -> bool:
    """Store and apply a verified refund notification; False when the refund is not ours."""
    ids = (
        Refund.objects.filter(public_id=result.out_refund_no, attempt__channel=channel_code)
        .values("pk", "order_id")
        .first()
    )
    stored = {**raw, "notify_id": notify_id, "out_trade_no": result.out_trade_no, "verified": True}
    if ids is None:
        PaymentNotification.objects.create(**stored, outcome=Outcome.UNKNOWN_TRADE)
        logger.error("a %s refund notification names an unknown refund", channel_code)
        return False
    with transaction.atomic(durable=True):
        order = lock_order(ids["order_id"])
        refund = Refund.objects.select_for_update().select_related("attempt").get(pk=ids["pk"])
        outcome = _apply_locked(order, refund, result, actor=f"channel:{channel_code}")
        PaymentNotification.objects.create(
            **stored, attempt=refund.attempt, outcome=outcome, detail=f"refund {refund.public_id}"
        )
    return True


def _apply_locked(order: PaymentOrder, refund: Refund, result: RefundResult, *, actor: str) -> str:
    if refund.status != RefundStatus.PENDING or result.status == ChannelRefundStatus.PENDING:
        return Outcome.DUPLICATE
    if result.status == ChannelRefundStatus.SUCCEEDED:
        _refund_succeeded(order, refund, result, actor=actor)
    else:
        _move_refund(
            refund,
            to=RefundStatus.FAILED,
            actor=actor,
            reason=result.failure_reason or result.status,
        )
        if refund.kind == Refund.Kind.UNSETTLED_PAYMENT:
            _after_declined_try(order, refund, actor=actor)
        else:
            webhook_event_emit(
                event_type="refund.failed",
                payload=refund_event_payload(refund),
                owner_id=order.created_by_id,
            )
    return Outcome.APPLIED


def _refund_succeeded(
    order: PaymentOrder, refund: Refund, result: RefundResult, *, actor: str
) -> None:
    refund.provider_refund_no = result.provider_refund_no or refund.provider_refund_no
    refund.refunded_at = result.refunded_at or timezone.now()
    _move_refund(refund, to=RefundStatus.SUCCEEDED, actor=actor)
    was_owed_to = (
        ledger.payer_refunds_due_account()
        if refund.kind == Refund.Kind.UNSETTLED_PAYMENT
        else order_payable_account(order)
    )
    ledger.ledger_post(
        kind="refund",
        reference=refund.public_id,
        business_date=business_date_of(refund.refunded_at),
        memo=f"order {order.public_id}",
        legs=[
            ledger.Leg(was_owed_to, debit=refund.amount),
            ledger.Leg(ledger.clearing_account(refund.attempt.channel), credit=refund.amount),
        ],
    )
    if refund.kind == Refund.Kind.REQUESTED:
        order.refunded_amount += refund.amount
        order.save(update_fields=["refunded_amount", "updated_at"])
        to = (
            OrderStatus.REFUNDED
            if order.refunded_amount == order.amount
            else OrderStatus.PARTIALLY_REFUNDED
        )
        payment_order_transition(order=order, to=to, actor=actor, reason=refund.reason)
        revenue_record_emit(order=order, kind="refund", refund=refund)
        receipt_red_request(order=order, refund=refund)
    else:
        _unsettled_refunded(refund, actor=actor)
    webhook_event_emit(
        event_type="refund.succeeded",
        payload=refund_event_payload(refund),
        owner_id=order.created_by_id,
    )


def _unsettled_refunded(refund: Refund, *, actor: str) -> None:
    unsettled = _lock_unsettled(refund.attempt)
    previous = unsettled.status
    _move_unsettled(unsettled, UnsettledPaymentStatus.REFUNDED)
    unsettled.next_try_at = None
    unsettled.save()
    audit_record(
        actor=actor,
        action="unsettled_payment.refunded",
        obj=unsettled,
        from_status=previous,
        to_status=unsettled.status,
        data={"refund": refund.public_id},
    )


def _move_unsettled(unsettled: UnsettledPayment, to: str) -> None:
    check_transition(
        UNSETTLED_TRANSITIONS, kind="refund of unsettled money", current=unsettled.status, new=to
    )
    unsettled.status = to


def _move_refund(refund: Refund, *, to: str, actor: str, reason: str = "") -> None:
    previous = refund.status
    refund.status = to
    refund.failure_reason = reason[:255]
    refund.next_query_at = None
    refund.save()
    audit_record(
        actor=actor,
        action=f"refund.{to}",
        obj=refund,
        from_status=previous,
        to_status=to,
        reason=reason,
    )


def refund_event_payload(refund: Refund) -> dict:
    return {
        "id": refund.public_id,
        "order": refund.order.public_id,
        "payment_code": refund.order.payment_code,
        "kind": refund.kind,
        "amount": refund.amount,
        "status": refund.status,
        "reason": refund.reason,
        "refunded_at": refund.refunded_at.isoformat() if refund.refunded_at else None,
    }


def refunds_query_pending(*, now: datetime | None = None, limit: int = 200) -> int:
    """Ask channels about refunds still pending past their query time."""
    now = now or timezone.now()
    due = Refund.objects.filter(status=RefundStatus.PENDING, next_query_at__lte=now).select_related(
        "attempt"
    )[:limit]
    asked = 0
    for refund in list(due):
        backoff = QUERY_BACKOFF[min(refund.query_count + 1, len(QUERY_BACKOFF) - 1)]
        leased = Refund.objects.filter(
            pk=refund.pk, status=RefundStatus.PENDING, next_query_at=refund.next_query_at
        ).update(next_query_at=now + backoff, query_count=refund.query_count + 1)
        if not leased:
            continue
        asked += 1
        try:
            result = get_channel(refund.attempt.channel).query_refund(
                out_trade_no=refund.attempt.out_trade_no,
                out_refund_no=refund.out_refund_no,
                requested_at=refund.created_at,
            )
        except ProviderError as exc:
            logger.info(
                "refund query for %s failed (%s); next try by backoff", refund.public_id, exc
            )
            continue
        if result.status == ChannelRefundStatus.NOT_FOUND:
            result = RefundResult(
                out_refund_no=refund.out_refund_no,
                status=ChannelRefundStatus.FAILED,
                failure_reason=NO_SUCH_REFUND,
            )
        refund_apply_result(result=result, actor=f"channel:{refund.attempt.channel}:query")
    return asked
