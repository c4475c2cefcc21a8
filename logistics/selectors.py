"""Who sees which shipments, the list's filters, and what the public tracking lookup finds."""

from __future__ import annotations

import hmac
import re
from datetime import date

from django.db.models import Q, QuerySet
from django.utils import timezone

from billing.selectors import scoped_department_ids
from core import pii
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
    parallel_approval_id: str | None = None,
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
        "parallel_approval_id": parallel_approval_id,
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


# A mainland mobile or landline number inside a scan's text, e.g. the courier's own.
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?!\d)")


def tracked_shipment(*, waybill_no: str, tracking_code: str) -> Shipment | None:
    """The shipment of that waybill whose applicant's code this is, compared in constant
    time; None alike for an unknown waybill and a wrong code."""
    found = None
    candidates = Shipment.objects.filter(waybill_no=waybill_no).exclude(tracking_code_hash="")
    for shipment in candidates:
        purpose = f"tracking_code:{shipment.public_id}"
        for digest in pii.blind_indexes(tracking_code, purpose=purpose):
            if hmac.compare_digest(digest, shipment.tracking_code_hash):
                found = shipment
    return found


def public_tracking(shipment: Shipment) -> dict:
    """The status and the counted scans' times, places and texts, phones masked: what the
    public lookup shows, never a name, phone or address."""
    events = shipment.events.filter(confirmed=True).order_by("occurred_at", "id")
    return {
        "waybill_no": shipment.waybill_no,
        "courier": shipment.courier,
        "status": shipment.status,
        "events": [
            {
                "occurred_at": event.occurred_at,
                "location": event.location,
                "description": _PHONE_IN_TEXT.sub(
                    lambda match: pii.mask_phone(match[1]), event.description
                ),
            }
            for event in events
        ],
    }
