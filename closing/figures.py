"""A business date's figures per department and fee item: collected, refunded, waived.

Public revenue only: freight is the courier's money, not the department's. What belongs to
the date is what happened on it in Beijing time:

- collected: the lines of the orders paid on the date (``paid_at``);
- refunded: the refunds asked for by the portal that succeeded on the date
  (``refunded_at``); a refund of money that could not settle its order is not revenue
  given back. A refund names its order, not a fee item: it is spread over the order's
  lines in proportion to their amounts, to the fen by the largest remainders (ties to the
  first line), so that an order of one fee item gives it back whole;
- waived: for each line charged under a waiver rule, of an order settled on the date
  (paid, or waived to nothing when it was made), its standard less what it was charged:
  quantity × the standard per unit (the line's own, else the fee item's fixed standard)
  − the line's amount; a line without a known standard has no waived amount;
- net: collected − refunded. What was waived was never collected, and is not in it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce

from billing.models import FeeKind, OrderStatus, PaymentOrderLine, Refund, RefundStatus
from reconciliation.ours import day_bounds


@dataclass
class ItemFigures:
    payments_count: int = 0
    collected: int = 0
    refunds_count: int = 0
    refunded: int = 0
    waivers_count: int = 0
    waived: int = 0

    @property
    def net(self) -> int:
        return self.collected - self.refunded


@dataclass
class DepartmentFigures:
    items: dict[int, ItemFigures] = field(default_factory=lambda: defaultdict(ItemFigures))
    payments_count: int = 0  # orders, each counted once however many items it has
    refunds_count: int = 0


def day_figures(business_date: date) -> dict[int, DepartmentFigures]:
    """Each department's figures of the date, by department id, then by fee item id."""
    start, end = day_bounds(business_date)
    figures: dict[int, DepartmentFigures] = defaultdict(DepartmentFigures)
    revenue = Q(order__purpose=FeeKind.FEE)
    paid = Q(order__paid_at__gte=start, order__paid_at__lt=end)

    collected = (
        PaymentOrderLine.objects.filter(revenue & paid)
        .values("order__department_id", "fee_item_id")
        .annotate(amount=Sum("amount"), orders=Count("order_id", distinct=True))
        .order_by()
    )
    for row in collected:
        item = figures[row["order__department_id"]].items[row["fee_item_id"]]
        item.collected, item.payments_count = row["amount"], row["orders"]
    orders = (
        PaymentOrderLine.objects.filter(revenue & paid)
        .values("order__department_id")
        .annotate(orders=Count("order_id", distinct=True))
        .order_by()
    )
    for row in orders:
        figures[row["order__department_id"]].payments_count = row["orders"]

    waived_to_nothing = Q(
        order__status=OrderStatus.WAIVED, order__created_at__gte=start, order__created_at__lt=end
    )
    standard = Coalesce("standard_unit_amount", "fee_item__standard_amount")
    waived = (
        PaymentOrderLine.objects.filter(revenue & (paid | waived_to_nothing))
        .filter(waiver_rule__isnull=False)
        .annotate(standard=standard)
        .filter(standard__isnull=False)
        .values("order__department_id", "fee_item_id")
        .annotate(amount=Sum(F("quantity") * F("standard") - F("amount")), lines=Count("id"))
        .order_by()
    )
    for row in waived:
        item = figures[row["order__department_id"]].items[row["fee_item_id"]]
        item.waived, item.waivers_count = row["amount"], row["lines"]

    _add_refunds(figures, start, end)
    return dict(figures)


def _add_refunds(figures: dict[int, DepartmentFigures], start, end) -> None:
    refunds = list(
        Refund.objects.filter(
            kind=Refund.Kind.REQUESTED,
            status=RefundStatus.SUCCEEDED,
            refunded_at__gte=start,
            refunded_at__lt=end,
            order__purpose=FeeKind.FEE,
        ).values_list("order_id", "order__department_id", "amount")
    )
    lines: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for order_id, fee_item_id, amount in (
        PaymentOrderLine.objects.filter(order_id__in={order_id for order_id, _, _ in refunds})
        .order_by("order_id", "id")
        .values_list("order_id", "fee_item_id", "amount")
    ):
        lines[order_id].append((fee_item_id, amount))
    for order_id, department_id, amount in refunds:
        department = figures[department_id]
        department.refunds_count += 1
        items = lines[order_id]
        for (fee_item_id, _), share in zip(
            items, spread(amount, [weight for _, weight in items]), strict=True
        ):
            if share:
                department.items[fee_item_id].refunded += share
                department.items[fee_item_id].refunds_count += 1


def spread(amount: int, weights: list[int]) -> list[int]:
    """``amount`` in whole fen over the weights, in proportion: each its floor, then one fen
    more to the largest remainders (the first of equal ones); sums to ``amount``."""
    total = sum(weights)
    if total <= 0:
        return [amount] + [0] * (len(weights) - 1) if weights else []
    floors = [amount * weight // total for weight in weights]
    remainders = [amount * weight % total for weight in weights]
    left = amount - sum(floors)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        floors[index] += 1
    return floors
