"""Production: every secret comes from the environment and has no default."""

import base64

from config.env import env, env_bool, env_required
from config.settings.base import *  # noqa: F403
from config.settings.secrets import parse_keyring, pem_from_env

SECRET_KEY = env_required("DJANGO_SECRET_KEY")
DATABASES = {"default": database_from_url(env_required("DATABASE_URL"))}  # noqa: F405
CELERY_BROKER_URL = env_required("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = False

PII_KEYS = parse_keyring(env_required("PII_KEYS"))
PII_ACTIVE_KEY_ID = env_required("PII_ACTIVE_KEY_ID")
PII_HASH_KEY = base64.b64decode(env_required("PII_HASH_KEY"))

PUBLIC_PLATFORM = {
    "base_url": env_required("PUBLIC_PLATFORM_BASE_URL"),
    "app_id": env_required("PUBLIC_PLATFORM_APP_ID"),
    "private_key_pem": pem_from_env("PUBLIC_PLATFORM_PRIVATE_KEY"),
    "platform_public_key_pem": pem_from_env("PUBLIC_PLATFORM_PUBLIC_KEY"),
}

SANDBOXES_ENABLED = env_bool("SANDBOXES_ENABLED", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LOG_FORMAT = env("LOG_FORMAT", "json")
