"""Reads that are more than a one-line queryset, with each caller's visibility applied."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from billing.models import PaymentOrder, StaffScope
from core import pii
from core.auth import Principal
from core.models import ApiRole
from core.roles import FINANCE_READERS


def scoped_department_ids(user) -> list[int] | None:
    """The departments a staff user is limited to, or None when the user sees them all."""
    if user is None or user.is_superuser:
        return None
    scope = StaffScope.objects.filter(user=user).first()
    return list(scope.departments.values_list("pk", flat=True)) if scope else None


def visible_orders(principal: Principal) -> QuerySet[PaymentOrder]:
    """A portal client sees the orders it created; finance staff see their departments'."""
    orders = PaymentOrder.objects.select_related("department")
    if principal.role == ApiRole.PORTAL:
        return orders.filter(created_by=principal.client)
    if principal.role in FINANCE_READERS:
        departments = scoped_department_ids(principal.user)
        return orders if departments is None else orders.filter(department__in=departments)
    return orders.none()


def filter_orders(
    orders: QuerySet[PaymentOrder],
    *,
    case_number: str | None = None,
    status: str | None = None,
    department: str | None = None,
    payer_id_number: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
) -> QuerySet[PaymentOrder]:
    if case_number:
        orders = orders.filter(case_number=case_number)
    if status:
        orders = orders.filter(status=status)
    if department:
        orders = orders.filter(department__code=department)
    if payer_id_number:
        orders = orders.filter(
            payer_id_number_index__in=pii.blind_indexes(payer_id_number, purpose="id_number")
        )
    if created_from:
        orders = orders.filter(created_at__date__gte=created_from)
    if created_to:
        orders = orders.filter(created_at__date__lte=created_to)
    return orders
