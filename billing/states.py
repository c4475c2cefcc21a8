"""Every status field's legal transitions, in one table each."""

from __future__ import annotations

from billing.models import AttemptStatus as A
from billing.models import OrderStatus as O
from billing.models import UnsettledPaymentStatus as U
from core.states import check_transition  # noqa: F401 - the check of these tables

ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    O.UNPAID: frozenset({O.PAYING, O.PAID, O.CANCELLED, O.EXPIRED}),
    O.PAYING: frozenset({O.UNPAID, O.PAID, O.CANCELLED, O.EXPIRED}),
    O.PAID: frozenset({O.PARTIALLY_REFUNDED, O.REFUNDED}),
    O.PARTIALLY_REFUNDED: frozenset({O.PARTIALLY_REFUNDED, O.REFUNDED}),
    O.CANCELLED: frozenset(),
    O.EXPIRED: frozenset(),
    O.REFUNDED: frozenset(),
    O.WAIVED: frozenset(),  # made waived, with nothing to pay: it never moves
}

ATTEMPT_TRANSITIONS: dict[str, frozenset[str]] = {
    A.CREATED: frozenset({A.PENDING, A.UNKNOWN, A.FAILED, A.SUCCEEDED, A.CLOSED}),
    A.UNKNOWN: frozenset({A.PENDING, A.FAILED, A.SUCCEEDED, A.CLOSED}),
    A.PENDING: frozenset({A.FAILED, A.SUCCEEDED, A.CLOSED}),
    # A provider may report money for a trade we had closed or seen fail: money wins.
    A.FAILED: frozenset({A.SUCCEEDED}),
    A.CLOSED: frozenset({A.SUCCEEDED}),
    A.SUCCEEDED: frozenset(),
}

# Money an attempt took that could not settle its order: refunded automatically, or given
# up to finance staff, who may start another round.
UNSETTLED_TRANSITIONS: dict[str, frozenset[str]] = {
    U.REFUNDING: frozenset({U.REFUNDING, U.NEEDS_ATTENTION, U.REFUNDED}),
    # A refund tried earlier may still succeed after the item was given up.
    U.NEEDS_ATTENTION: frozenset({U.REFUNDING, U.REFUNDED}),
    U.REFUNDED: frozenset(),
}

OPEN_ATTEMPT_STATUSES = frozenset({A.CREATED, A.PENDING, A.UNKNOWN})
PAYABLE_ORDER_STATUSES = frozenset({O.UNPAID, O.PAYING})
