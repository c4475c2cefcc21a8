"""The staff groups and what each may do, in the console, the API and the admin.

``finance`` staff read every money record, keep the fee catalogue and act: resolve and
approve discrepancies, re-run reconciliation, retry deliveries and fiscal receipt requests.
``finance_auditor`` staff read and download the same records and act on nothing. Either
may be limited to some departments (``StaffScope``).
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from core.auth import AUDITOR_GROUP, FINANCE_GROUP

VIEW_MODELS = {
    "billing": [
        "paymentorder",
        "paymentattempt",
        "paymentnotification",
        "refund",
        "processor",
        "revenuerecord",
        "receipt",
        "webhookevent",
        "webhookdelivery",
    ],
    "core": ["auditrecord"],
    "ledger": ["ledgerposting", "ledgeraccount"],
    "logistics": ["shipment"],
    "reconciliation": ["reconciliationrun", "discrepancy", "statementfile", "clearing"],
}
MAINTAIN_MODELS = ["department", "feeitem"]
ACTIONS = {
    "billing": [
        "retry_webhookdelivery",
        "retry_revenuerecord",
        "retry_receipt",
        "retry_refund",
        *(f"{action}_{model}" for model in MAINTAIN_MODELS for action in ("add", "change")),
    ],
    "reconciliation": ["resolve_discrepancy", "approve_discrepancy", "rerun_reconciliation"],
}


def _permissions(codenames_by_app: dict[str, list[str]]) -> list[Permission]:
    wanted = Q(pk__in=[])
    for app, codenames in codenames_by_app.items():
        wanted |= Q(content_type__app_label=app, codename__in=codenames)
    return list(Permission.objects.filter(wanted))


def _view_permissions() -> list[Permission]:
    views = {app: [f"view_{model}" for model in models] for app, models in VIEW_MODELS.items()}
    views["billing"] += [f"view_{model}" for model in MAINTAIN_MODELS]
    return _permissions(views)


def ensure_finance_group(**kwargs) -> Group:
    """Run after every migrate (with the auditors' group), so new permissions reach them."""
    ensure_auditor_group()
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    group.permissions.add(*_view_permissions(), *_permissions(ACTIONS))
    return group


def ensure_auditor_group() -> Group:
    group, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    group.permissions.add(*_view_permissions())
    return group
