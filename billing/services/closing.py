"""Closing an unpaid order (cancelled by the portal, or expired): its open channel trades
are closed first, outside any lock, then the order moves under its lock."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from billing import states
from billing.errors import ChannelUnavailable
from billing.models import OrderStatus, PaymentAttempt, PaymentOrder
from billing.services.attempts import payment_attempts_close_open
from billing.services.orders import get_order, lock_order, payment_order_transition
from billing.services.reasons import EXPIRED
from core.errors import IllegalTransition


def payment_order_cancel(*, public_id: str, actor: str, reason: str = "") -> PaymentOrder:
    """Cancel an unpaid order, closing its open channel trades first."""
    return _close_order(public_id=public_id, to=OrderStatus.CANCELLED, actor=actor, reason=reason)


def payment_order_expire(*, public_id: str) -> PaymentOrder:
    return _close_order(public_id=public_id, to=OrderStatus.EXPIRED, actor="system", reason=EXPIRED)


def _close_order(*, public_id: str, to: str, actor: str, reason: str) -> PaymentOrder:
    order = get_order(public_id)
    states.check_transition(
        states.ORDER_TRANSITIONS, kind="payment order", current=order.status, new=to
    )
    payment_attempts_close_open(order=order, actor=actor)
    with transaction.atomic(durable=True):
        order = lock_order(order.pk)
        states.check_transition(
            states.ORDER_TRANSITIONS, kind="payment order", current=order.status, new=to
        )
        still_open = PaymentAttempt.objects.filter(
            order=order, status__in=states.OPEN_ATTEMPT_STATUSES
        ).exists()
        if still_open:
            raise IllegalTransition(
                "A channel trade of this order is still open; try again shortly.",
                code="attempt_still_open",
            )
        payment_order_transition(order=order, to=to, actor=actor, reason=reason)
    return order


def payment_orders_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire unpaid orders past expires_at; an order whose trade cannot be closed yet waits."""
    now = now or timezone.now()
    due = PaymentOrder.objects.filter(
        status__in=states.PAYABLE_ORDER_STATUSES, expires_at__lte=now
    ).values_list("public_id", flat=True)[:limit]
    expired = 0
    for public_id in list(due):
        try:
            payment_order_expire(public_id=public_id)
            expired += 1
        except (IllegalTransition, ChannelUnavailable):
            continue
    return expired
