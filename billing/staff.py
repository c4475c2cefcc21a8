"""The finance staff group and what it may do in the admin."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from core.auth import FINANCE_GROUP

# Finance staff read every money record and keep the fee catalogue.
VIEW_MODELS = [
    "paymentorder",
    "paymentattempt",
    "paymentnotification",
    "ledgerposting",
    "ledgeraccount",
    "webhookevent",
    "webhookdelivery",
    "auditrecord",
]
MAINTAIN_MODELS = ["department", "feeitem"]


def ensure_finance_group(**kwargs) -> Group:
    """Run after every migrate, so new models' permissions reach the group."""
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    codenames = [f"view_{model}" for model in VIEW_MODELS + MAINTAIN_MODELS] + [
        f"{action}_{model}" for model in MAINTAIN_MODELS for action in ("add", "change")
    ]
    group.permissions.add(
        *Permission.objects.filter(
            codename__in=codenames, content_type__app_label__in=["billing", "core"]
        )
    )
    return group
