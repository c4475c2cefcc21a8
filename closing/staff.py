"""What the staff groups may do with settlement reports and remittances.

``finance`` staff read them, generate and submit reports, approve or return another
person's, and send a remittance again; ``finance_auditor`` staff read and download them.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from core.auth import AUDITOR_GROUP, FINANCE_GROUP

READ = ["view_settlementreport", "view_remittance", "view_remittanceinstruction"]
ACT = ["submit_settlementreport", "approve_settlementreport", "retry_remittanceinstruction"]


def grant_closing_permissions(**kwargs) -> None:
    finance, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    auditors, _ = Group.objects.get_or_create(name=AUDITOR_GROUP)
    finance.permissions.add(*_permissions(READ + ACT))
    auditors.permissions.add(*_permissions(READ))


def _permissions(codenames: list[str]) -> list[Permission]:
    return list(
        Permission.objects.filter(content_type__app_label="closing", codename__in=codenames)
    )
