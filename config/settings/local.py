"""The embedded default: runs with no configuration at all, on development keys.

SQLite and in-process tasks unless DATABASE_URL and CELERY_BROKER_URL say otherwise;
the sandboxes are mounted under /sandbox/ and play every outside party.
"""

import base64

from config import dev_keys
from config.env import env, env_bool
from config.settings.base import *  # noqa: F403
from config.settings.secrets import parse_keyring

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env("DJANGO_SECRET_KEY") or dev_keys.secret_b64("django-secret-key", 48)

PII_KEYS = parse_keyring(env("PII_KEYS") or f"dev1:{dev_keys.secret_b64('pii-dev1')}")
PII_ACTIVE_KEY_ID = env("PII_ACTIVE_KEY_ID") or next(iter(PII_KEYS))
PII_HASH_KEY = base64.b64decode(env("PII_HASH_KEY") or dev_keys.secret_b64("pii-hash"))

SANDBOXES_ENABLED = True
PUBLIC_PLATFORM = {
    "base_url": env("PUBLIC_PLATFORM_BASE_URL") or f"{SERVICE_BASE_URL}/sandbox/public_platform",  # noqa: F405
    "app_id": "sandbox-app-0001",
    "private_key_pem": dev_keys.rsa_private_pem("public-platform-merchant"),
    "platform_public_key_pem": dev_keys.rsa_public_pem("public-platform-platform"),
}
SANDBOX_PUBLIC_PLATFORM = {
    "platform_private_key_pem": dev_keys.rsa_private_pem("public-platform-platform"),
    "merchant_public_keys": {
        "sandbox-app-0001": dev_keys.rsa_public_pem("public-platform-merchant")
    },
    # Real-world seconds between notification retries are divided by this factor.
    "time_scale": float(env("SANDBOX_TIME_SCALE") or 1),
}
