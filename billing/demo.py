"""The demo data of the embedded run: the fee catalogue, a finance login and a portal key."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from billing.models import Processor
from billing.revenue import revenue_system_configure
from billing.services.catalogue import CatalogueCounts, catalogue_load
from billing.staff import ensure_finance_group
from core.audit import audit_record
from core.auth import api_client_create, hash_api_key, new_api_key
from core.models import ApiClient, ApiRole

DEMO_CATALOGUE = Path(__file__).resolve().parent / "fixtures" / "demo_catalogue.json"
PORTAL_CLIENT = "demo-portal"
FINANCE_USERNAME = "finance"
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
    finance_username: str
    finance_password: str | None  # only when this run created the user
    portal_client: str
    portal_key: str

    @property
    def finance_login(self) -> str:
        if self.finance_password is None:
            return (
                f"{self.finance_username} (password as printed when it was created; "
                f"reset it with `manage.py changepassword {self.finance_username}`)"
            )
        return f"{self.finance_username} / {self.finance_password} (shown this once)"


def demo_seed() -> DemoAccess:
    """Load the demo catalogue; make sure the finance login and the portal client exist.

    Safe to run again. A key is shown only once, so every run replaces the portal
    client's key with a new one (the old key stops working) and returns it: the client,
    its orders and its webhook endpoints stay as they were.
    """
    catalogue = catalogue_load(data=json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")))
    with transaction.atomic(durable=True):
        password = _ensure_finance_user()
        key = _new_portal_key()
    if settings.SANDBOXES_ENABLED:
        _register_sandbox_revenue_system()
        _register_demo_processors()
    return DemoAccess(
        catalogue=catalogue,
        finance_username=FINANCE_USERNAME,
        finance_password=password,
        portal_client=PORTAL_CLIENT,
        portal_key=key,
    )


def _ensure_finance_user() -> str | None:
    group = ensure_finance_group()
    user_model = get_user_model()
    user = user_model.objects.filter(username=FINANCE_USERNAME).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(FINANCE_USERNAME, password=password, is_staff=True)
    user.groups.add(group)
    return password


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
        base_url=f"{settings.SERVICE_BASE_URL}/sandbox/revenue/{code}",
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
