"""What each finance user may see: department-scoped staff see their departments only."""

from __future__ import annotations

from django.db.models import QuerySet

from billing.selectors import scoped_department_ids
from core.auth import Principal
from reconciliation.models import Clearing, Discrepancy


def department_scope(principal: Principal) -> list[int] | None:
    """The departments the caller is limited to, or None for all (API keys see all)."""
    return scoped_department_ids(principal.user) if principal.kind == "user" else None


def visible_discrepancies(principal: Principal) -> QuerySet[Discrepancy]:
    items = Discrepancy.objects.select_related("department", "assignee")
    departments = department_scope(principal)
    return items if departments is None else items.filter(department__in=departments)


def visible_clearing(principal: Principal) -> QuerySet[Clearing]:
    rows = Clearing.objects.select_related("department")
    departments = department_scope(principal)
    return rows if departments is None else rows.filter(department__in=departments)
