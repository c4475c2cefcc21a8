"""Production settings read everything from the environment and default no secret."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

REQUIRED = {
    "DJANGO_SECRET_KEY": "x" * 50,
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/unused",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "PII_KEYS": f"k1:{base64.b64encode(b'k' * 32).decode()}",
    "PII_ACTIVE_KEY_ID": "k1",
    "PII_HASH_KEY": base64.b64encode(b"h" * 32).decode(),
    "PUBLIC_PLATFORM_BASE_URL": "https://pay.example.gov.cn",
    "PUBLIC_PLATFORM_APP_ID": "app",
    "PUBLIC_PLATFORM_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\\n...",
    "PUBLIC_PLATFORM_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\\n...",
    "SERVICE_BASE_URL": "https://payments.example.gov.cn",
    "METRICS_TOKEN": "scraper-token",
    "RECEIPTS_BASE_URL": "https://receipts.example.gov.cn",
    "RECEIPTS_APP_ID": "app",
    "RECEIPTS_APP_KEY": "app-key",
    "RECEIPTS_ISSUER_PUBLIC_KEYS": f"01:{base64.b64encode(b'-----BEGIN PUBLIC KEY').decode()}",
    "RECEIPTS_FINANCE_PUBLIC_KEYS": f"02:{base64.b64encode(b'-----BEGIN PUBLIC KEY').decode()}",
}


def load_production(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    return subprocess.run(  # noqa: S603 (our own interpreter and argv)
        [sys.executable, "-c", "from django.conf import settings; print(settings.DEBUG)"],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "config.settings.production"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_load_from_the_environment():
    loaded = load_production(REQUIRED)

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "False"


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_production_refuses_to_start_without_each_secret(missing):
    loaded = load_production({k: v for k, v in REQUIRED.items() if k != missing})

    assert loaded.returncode != 0
    assert f"{missing} must be set" in loaded.stderr
