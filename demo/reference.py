"""The demo's reference data: the fee catalogue and, with the sandboxes, the processors and
the revenue system the embedded run is configured with."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings

from billing.models import Processor
from billing.revenue import revenue_system_configure
from billing.services.catalogue import CatalogueCounts, catalogue_load

# Departments, fee items with their waiver rules, and service items with the fee items they
# charge, in the format `manage.py load_catalogue` reads.
DEMO_CATALOGUE = Path(__file__).resolve().parent / "fixtures" / "demo_catalogue.json"
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


def demo_reference_seed() -> CatalogueCounts:
    """The demo catalogue and, with the sandboxes, the processors and the revenue system."""
    catalogue = catalogue_load(data=json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8")))
    if settings.SANDBOXES_ENABLED:
        _register_sandbox_revenue_system()
        _register_demo_processors()
    return catalogue


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
