"""The demo data of the embedded run: the fee catalogue, staff logins and a portal key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from billing.models import Department, Processor, StaffScope
from billing.revenue import revenue_system_configure
from billing.services.catalogue import CatalogueCounts, catalogue_load
from billing.staff import ensure_finance_group
from core.audit import audit_record
from core.auth import AUDITOR_GROUP, FINANCE_GROUP, api_client_create, hash_api_key, new_api_key
from core.models import ApiClient, ApiRole

DEMO_CATALOGUE = Path(__file__).resolve().parent / "fixtures" / "demo_catalogue.json"
PORTAL_CLIENT = "demo-portal"
FINANCE_USERNAME = "finance"
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
    # A second finance user: a proposal needs another person's approval (four eyes).
    DemoStaff("reviewer", FINANCE_GROUP, "the second person who approves a proposal"),
    DemoStaff("auditor", AUDITOR_GROUP, "reads and downloads, acts on nothing"),
    DemoStaff(
        "crj-finance",
        FINANCE_GROUP,
        f"finance staff of {SCOPED_DEPARTMENT_CODE} only",
        department=SCOPED_DEPARTMENT_CODE,
    ),
)
# Licensed processors as the demo registers them; the licence numbers are illustrative.
DEMO_PROCESSORS = [
    ("alipay", "支付宝（中国）网络技术有限公司", "Z2007933000010", 20),
    ("wechatpay", "财付通支付科技有限公司", "Z2000244000011", 30),
    ("unionpay", "银联商务股份有限公司", "Z2000531000013", 40),
]
DEMO_LICENCE_SCOPE = ["internet_payment", "mobile_payment", "bank_card_acquiring"]
DEMO_PROCESSOR_MAX_FEN = 5_000_000  # 50,000 yuan per payment
# The demo catalogue's departments are all in Hangzhou (3301xx).
DEMO_REVENUE_SYSTEM = {
    "code": "hz-fiscal",
    "name": "杭州市非税收入征管系统",
    "region_prefix": "3301",
}


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


def demo_reference_seed() -> CatalogueCounts:
    """The demo catalogue and, with the sandboxes, the processors and the revenue system."""
    catalogue = catalogue_load(data=json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")))
    if settings.SANDBOXES_ENABLED:
        _register_sandbox_revenue_system()
        _register_demo_processors()
    return catalogue


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


def _register_sandbox_revenue_system() -> None:
    code = DEMO_REVENUE_SYSTEM["code"]
    revenue_system_configure(
        **DEMO_REVENUE_SYSTEM,
        base_url=f"{settings.SANDBOX_BASE_URL}/sandbox/revenue/{code}",
        app_key=f"{code}-backoffice",
        secret=settings.SANDBOX_REVENUE["systems"][code],
        actor="system:seed_demo",
    )


def _register_demo_processors() -> None:
    valid_until = date.today() + timedelta(days=3 * 365)
    for code, legal_name, licence_number, priority in DEMO_PROCESSORS:
        Processor.objects.update_or_create(
            code=code,
            defaults={
                "legal_name": legal_name,
                "licence_number": licence_number,
                "licence_scope": DEMO_LICENCE_SCOPE,
                "licence_valid_until": valid_until,
                "max_amount": DEMO_PROCESSOR_MAX_FEN,
                "priority": priority,
            },
        )
