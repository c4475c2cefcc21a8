"""Who uses the demo: the staff logins and the portal's API client, and ``demo_seed()``,
which makes sure of them (and of the reference data) on every start of the embedded run."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from billing.models import Department, StaffScope
from billing.services.catalogue import CatalogueCounts
from billing.staff import ensure_finance_group
from core.audit import audit_record
from core.auth import AUDITOR_GROUP, FINANCE_GROUP, api_client_create, hash_api_key, new_api_key
from core.models import ApiClient, ApiRole
from demo.reference import demo_reference_seed

PORTAL_CLIENT = "demo-portal"
FINANCE_USERNAME = "finance"
REVIEWER_USERNAME = "reviewer"
# The department the scoped finance login sees, alone.
SCOPED_DEPARTMENT_CODE = "330100-GACRJ"


@dataclass(frozen=True)
class DemoStaff:
    username: str
    group: str
    role: str  # what the banner says the login is for
    department: str = ""  # limited to this department's rows when given


DEMO_STAFF = (
    DemoStaff(FINANCE_USERNAME, FINANCE_GROUP, "finance staff: resolves and approves"),
    # A second finance user: a proposal or a settlement report needs another person's
    # approval (four eyes).
    DemoStaff(
        REVIEWER_USERNAME,
        FINANCE_GROUP,
        "the second person who approves a proposal or a settlement report",
    ),
    DemoStaff("auditor", AUDITOR_GROUP, "reads and downloads, acts on nothing"),
    DemoStaff(
        "crj-finance",
        FINANCE_GROUP,
        f"finance staff of {SCOPED_DEPARTMENT_CODE} only",
        department=SCOPED_DEPARTMENT_CODE,
    ),
)


@dataclass(frozen=True)
class DemoAccess:
    catalogue: CatalogueCounts
    staff_passwords: dict[str, str]  # username -> password, for the logins this run created
    portal_client: str
    portal_key: str

    @property
    def finance_login(self) -> str:
        return staff_login(FINANCE_USERNAME, self.staff_passwords.get(FINANCE_USERNAME))

    @property
    def staff_logins(self) -> list[str]:
        return [
            f"{staff_login(staff.username, self.staff_passwords.get(staff.username))}"
            f" — {staff.role}"
            for staff in DEMO_STAFF
        ]


def staff_login(username: str, password: str | None) -> str:
    if password is None:
        return (
            f"{username} (password as printed when it was created; "
            f"reset it with `manage.py changepassword {username}`)"
        )
    return f"{username} / {password} (shown this once)"


def demo_seed() -> DemoAccess:
    """Load the demo catalogue; make sure the staff logins and the portal client exist.

    Safe to run again. A key is shown only once, so every run replaces the portal
    client's key with a new one (the old key stops working) and returns it: the client,
    its orders and its webhook endpoints stay as they were.
    """
    catalogue = demo_reference_seed()
    with transaction.atomic(durable=True):
        passwords = demo_staff_ensure()
        key = _new_portal_key()
    return DemoAccess(
        catalogue=catalogue,
        staff_passwords=passwords,
        portal_client=PORTAL_CLIENT,
        portal_key=key,
    )


def demo_staff_ensure() -> dict[str, str]:
    """Every demo staff login in its group (and scope); the passwords of those created now."""
    ensure_finance_group()
    user_model = get_user_model()
    passwords = {}
    for staff in DEMO_STAFF:
        user = user_model.objects.filter(username=staff.username).first()
        if user is None:
            passwords[staff.username] = secrets.token_urlsafe(12)
            user = user_model.objects.create_user(
                staff.username, password=passwords[staff.username], is_staff=True
            )
        user.groups.add(Group.objects.get(name=staff.group))
        if staff.department:
            scope, _ = StaffScope.objects.get_or_create(user=user)
            scope.departments.set([Department.objects.get(code=staff.department)])
    return passwords


def demo_portal_client() -> ApiClient:
    """The demo portal's client, made with a key nobody is shown when it does not exist."""
    client = ApiClient.objects.filter(name=PORTAL_CLIENT).first()
    return client or api_client_create(name=PORTAL_CLIENT, role=ApiRole.PORTAL)[0]


def _new_portal_key() -> str:
    client = ApiClient.objects.select_for_update().filter(name=PORTAL_CLIENT).first()
    if client is None:
        return api_client_create(name=PORTAL_CLIENT, role=ApiRole.PORTAL)[1]
    previous_prefix = client.key_prefix
    key = new_api_key()
    client.key_prefix, client.key_hash, client.revoked_at = key[:12], hash_api_key(key), None
    client.save(update_fields=["key_prefix", "key_hash", "revoked_at"])
    audit_record(
        actor="system:seed_demo",
        action="api_client.key_replaced",
        obj=client,
        data={"previous_key_prefix": previous_prefix},
    )
    return key
