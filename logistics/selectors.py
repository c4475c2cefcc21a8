"""Who sees which shipments, and the list's filters."""

from __future__ import annotations

from datetime import date

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.selectors import scoped_department_ids
from core.auth import Principal
from core.models import ApiRole
from core.roles import FINANCE_READERS
from logistics import states
from logistics.models import Shipment
from logistics.services import watch


def visible_shipments(principal: Principal) -> QuerySet[Shipment]:
    """A portal client sees the shipments it created; finance staff see their departments'."""
    shipments = Shipment.objects.select_related("department", "freight_order")
    if principal.role == ApiRole.PORTAL:
        return shipments.filter(created_by=principal.client)
    if principal.role in FINANCE_READERS:
        departments = scoped_department_ids(principal.user)
        return shipments if departments is None else shipments.filter(department__in=departments)
    return shipments.none()


def filter_shipments(
    shipments: QuerySet[Shipment],
    *,
    case_number: str | None = None,
    status: str | None = None,
    courier: str | None = None,
    waybill_no: str | None = None,
    created_from: date | None = None,
    created_to: date | None = None,
    at_risk: bool | None = None,
    overdue: bool | None = None,
    stale: bool | None = None,
) -> QuerySet[Shipment]:
    exact = {
        "case_number": case_number,
        "status": status,
        "courier": courier,
        "waybill_no": waybill_no,
    }
    shipments = shipments.filter(**{name: value for name, value in exact.items() if value})
    if created_from:
        shipments = shipments.filter(created_at__date__gte=created_from)
    if created_to:
        shipments = shipments.filter(created_at__date__lte=created_to)
    now = timezone.now()
    for wanted, condition in ((at_risk, watch.at_risk), (overdue, watch.overdue)):
        if wanted is not None:
            shipments = (
                shipments.filter(condition(now)) if wanted else shipments.exclude(condition(now))
            )
    if stale is not None:
        flagged = Q(status__in=states.IN_FLIGHT, stale_since__isnull=False)
        shipments = shipments.filter(flagged) if stale else shipments.exclude(flagged)
    return shipments
