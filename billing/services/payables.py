"""Which ledger account a payment order's money is owed to."""

from __future__ import annotations

from billing.models import FeeKind, PaymentOrder
from ledger.models import LedgerAccount
from ledger.services import department_payable_account, freight_payable_account


def order_payable_account(order: PaymentOrder) -> LedgerAccount:
    """Where an order's money is owed: the department, or the couriers for freight."""
    if order.purpose == FeeKind.FREIGHT:
        return freight_payable_account(order.department.code)
    return department_payable_account(order.department.code)
