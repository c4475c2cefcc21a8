"""Settings shared by every environment; each value that varies comes from config.env."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from config import queues
from config.env import env, env_bool, env_int, env_list
from config.logging import logging_config
from core import business_days

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# What a run keeps on this machine: the embedded PostgreSQL, the run lock, metrics files.
VAR_DIR = Path(env("VAR_DIR") or BASE_DIR / "var")

DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "axes",
    "core",
    "outbox",
    "billing",
    "ledger",
    "logistics",
    "reconciliation",
    "closing",
    "notices",
    "console",
    "demo",
    "simulation",
]

MIDDLEWARE = [
    "core.middleware.RequestGuardMiddleware",
    # The request id (logs, X-Request-ID) and the request metrics: every answer past the guard.
    "core.request_context.RequestIdMiddleware",
    # Each request starts with no reference-data version (core/reference_data.py).
    "core.reference_data.ReferenceVersionMiddleware",
    "metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the console's CSS and scripts) from the web processes themselves.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's browser middleware, stepping aside where only machines call (notifications,
    # pushes, probes) and, for the CSRF cookie and messages, on the portal API.
    "core.browser_middleware.SessionMiddleware",
    "core.browser_middleware.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.browser_middleware.CsrfViewMiddleware",
    "core.browser_middleware.AuthenticationMiddleware",
    "core.browser_middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.JsonErrorMiddleware",
    # Last: it turns a sign-in that axes refused into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_from_url(url: str) -> dict:
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise ValueError("DATABASE_URL must name a PostgreSQL database (postgres://...)")
    return config


# Each environment's settings module says where its PostgreSQL is (local.py, production.py).
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]  # one catalogue: the console and the models' labels
LOGIN_URL = "console:login"
# Every sign-in form goes through authenticate(request=...), where axes refuses locked-out
# usernames and addresses before ModelBackend checks the password (see docs/console.md).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
# Failures from one address across usernames; higher, since an office signs in through one
# address. Applied by console.lockout.StaffLockoutHandler, not by axes itself.
AXES_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
# Attempts while locked out neither count nor extend the cool-off.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "console.lockout.StaffLockoutHandler"
AXES_LOCKOUT_CALLABLE = "console.lockout.lockout_response"
# django-ipware is not installed: console.lockout.client_address applies the proxy count.
AXES_CLIENT_IP_CALLABLE = "console.lockout.client_address"
AXES_IPWARE_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
# Logins and logouts are already in the audit (console/sign_in.py).
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Staff sessions last a working day, and end with the browser.
SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# Request bodies: JSON and notifications up to 1 MiB; multipart uploads (a day's statement
# file from a processor or a bank) up to 50 MiB, spooled to disk above 2.5 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_REQUEST_SIZE = 50 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.ApiKeyAuthentication",
        "core.auth.StaffSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.StrictJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Government payments, logistics and reconciliation back-office",
    "DESCRIPTION": "Payment orders, channels, ledger and webhooks for a government services "
    "portal. Amounts are integer fen (CNY minor units).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.postprocess_errors_every_operation_may_answer",
    ],
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "billing.models.orders.OrderStatus",
        "AttemptStatusEnum": "billing.models.orders.AttemptStatus",
        "DeliveryStatusEnum": "billing.models.webhooks.DeliveryStatus",
        "ShipmentStatusEnum": "logistics.models.ShipmentStatus",
        "ShipmentKindEnum": "logistics.models.ShipmentKind",
        "ItemKindEnum": "logistics.models.ItemKind",
        "DiscrepancyTypeEnum": "reconciliation.models.DiscrepancyType",
        "DiscrepancyStatusEnum": "reconciliation.models.DiscrepancyStatus",
        "RunStatusEnum": "reconciliation.models.RunStatus",
        "ReceiptStatusEnum": "billing.models.receipts.ReceiptStatus",
        "ReceiptKindEnum": "billing.models.receipts.ReceiptKind",
    },
}

# Without a broker, tasks run in-process; the in-memory transport only keeps Celery from
# looking for a broker on localhost (it never carries a task then).
CELERY_TASK_ALWAYS_EAGER = env("CELERY_BROKER_URL") is None
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "memory://localhost//")
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With late acks and a prefetch of one, RabbitMQ waits for an ack that the worker's event
# loop only sends on its next turn, and a task published meanwhile waited up to its 10 s
# poll timeout (measured: 2 in 8 runs of a four-push test). Four in flight keep it moving;
# unacked messages still go back to the queue if a worker dies.
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
# Tasks go to queues by kind (config/queues.py); a prefix keeps two deployments (or two
# test runs) sharing one broker apart.
CELERY_QUEUE_PREFIX = env("CELERY_QUEUE_PREFIX", "")
CELERY_TASK_ROUTES = queues.task_routes(CELERY_QUEUE_PREFIX)
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_PREFIX + queues.PAYMENTS
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "expire-payment-orders": {"task": "billing.tasks.expire_due_orders", "schedule": 60.0},
    "sweep-overdue-notifications": {
        "task": "billing.tasks.sweep_overdue_attempts",
        "schedule": 60.0,
    },
    "sweep-refunds": {"task": "billing.tasks.sweep_refunds", "schedule": 60.0},
    "sweep-outbox": {"task": "outbox.tasks.sweep", "schedule": 30.0},
    "sweep-shipment-bookings": {"task": "logistics.tasks.sweep_bookings", "schedule": 60.0},
    "poll-courier-routes": {"task": "logistics.tasks.poll_routes", "schedule": 300.0},
    "watch-delivery-time-limits": {"task": "logistics.tasks.watch_time_limits", "schedule": 300.0},
    # After the 24:00 cut-off (Asia/Shanghai): yesterday's runs, one task per party.
    "reconcile-yesterday": {
        "task": "reconciliation.tasks.start_yesterday",
        "schedule": crontab(hour=0, minute=30),
    },
    "retry-reconciliation-waiting-for-files": {
        "task": "reconciliation.tasks.retry_waiting",
        "schedule": crontab(minute=15, hour="1-23"),
    },
}

# Where providers send their asynchronous notifications back to us.
SERVICE_BASE_URL = env("SERVICE_BASE_URL", f"http://127.0.0.1:{env_int('PORT', 8000)}")

PAYMENT_ORDER_TTL = timedelta(hours=env_int("PAYMENT_ORDER_TTL_HOURS", 72))
PAYMENT_CODE_GENERATOR = env("PAYMENT_CODE_GENERATOR", "billing.payment_codes.RegionSerialCode")
# A channel that has not notified by then is asked for the trade's status.
NOTIFICATION_OVERDUE_AFTER = timedelta(minutes=env_int("NOTIFICATION_OVERDUE_MINUTES", 1))
# The waits before each new try of a declined automatic refund of money that could not settle
# its order; when the try after the last wait is declined too, it waits for finance staff.
REFUND_RETRY_BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
WEBHOOK_TIMEOUT_SECONDS = 5
# Webhooks go to public internet addresses only (billing/webhook_targets.py).
WEBHOOK_ALLOW_LOOPBACK = False
WEBHOOK_MAX_ENDPOINTS_PER_CLIENT = env_int("WEBHOOK_MAX_ENDPOINTS_PER_CLIENT", 10)
# (connect, read) seconds for a call to a revenue-collection system.
REVENUE_PUSH_TIMEOUT_SECONDS = (3.0, 10.0)
# The signature method agreed with each revenue-collection system, by its code; a system
# not named signs with HMAC-SHA256. E.g. REVENUE_SIGNATURE_METHODS=hz-fiscal:HMAC-SM3.
REVENUE_SIGNATURE_METHODS = {
    code: method
    for code, _, method in (item.partition(":") for item in env_list("REVENUE_SIGNATURE_METHODS"))
}

# Shipments: the couriers the service books with, how it picks one, and the time-limit watch.
LOGISTICS = {
    "couriers": {
        "sf": {
            # Our service levels to SF's expressTypeId: 1 顺丰特快, 2 顺丰标快.
            "service_levels": {"express": "1", "standard": "2"},
            # The freight the applicant pays: a base per service level and insurance (保价)
            # per mille of the declared value, as agreed in the agency's contract.
            "tariff": {"base": {"express": 2300, "standard": 2300}, "insurance_permille": 0},
            # SF signs no push: the addresses it pushes from (CIDRs; empty allows any).
            "push_sources": env_list("SF_PUSH_SOURCES"),
        },
        "ems": {
            "service_levels": {"standard": "1", "express": "1"},
            "tariff": {"base": {"express": 1800, "standard": 1800}, "insurance_permille": 10},
            "push_sources": env_list("EMS_PUSH_SOURCES"),
        },
    },
    # `auto` picks the rule with the longest matching recipient region prefix.
    "auto_courier": [
        {"region_prefix": "", "service_level": "express", "courier": "sf"},
        {"region_prefix": "", "service_level": "standard", "courier": "ems"},
    ],
    "default_undeliverable_rule": env("UNDELIVERABLE_RULE", "ask"),
    # After this many failed delivery attempts the undeliverable rule applies.
    "max_failed_attempts": env_int("MAX_FAILED_DELIVERIES", 2),
    "at_risk_before": timedelta(hours=env_int("SHIPMENT_AT_RISK_HOURS", 24)),
    "stale_after": timedelta(days=env_int("SHIPMENT_STALE_DAYS", 3)),
    # In-flight shipments are also asked for their route this often; a courier without
    # pushes gets its own, shorter "poll_every".
    "poll_every": timedelta(hours=env_int("COURIER_POLL_HOURS", 6)),
}

# Banks holding the departments' settlement accounts:
# {bank code: {"format": "camt053" | "mt940" | "csv:<layout>", "base_url": ..., "accounts": [...]}}.
BANKS: dict = {}
RECONCILIATION = {
    # Each channel's fee in basis points, checked line by line against its bill.
    "fee_rates_bps": {},
    # Business days after the business date on which a channel pays a department.
    "settlement_lag_days": {"public_platform": 1, "alipay": 1, "wechatpay": 1, "unionpay": 1},
    # How many days after the settlement date a credit may still arrive.
    "settlement_window_days": 3,
    # The accounts channels pay from, as bank statements show them: account -> channel.
    "processor_accounts": {},
    # A one-sided item this close to 24:00 is expected on the other side's next day.
    "cutoff_grace": timedelta(minutes=5),
    # A channel whose day turns before 24:00 (Beijing): its date D runs from that time on
    # D-1 to that time on D, for its bill and our side of it alike.
    "day_turns_at": {"unionpay": time(23, 0)},
    # Timing items are matched again for this many days, then escalated.
    "carry_over_days": 3,
}

# Business days (core/business_days.py): settlement dates and the bank leg's window count
# them. Each year as the State Council's notice arranges it; 2026's is 国务院办公厅关于
# 2026年部分节假日安排的通知 (4 November 2025). A deployment adds the next year, once its
# notice is out, in the JSON file BUSINESS_CALENDAR_FILE names ({"2027": {...}}, as here).
BUSINESS_CALENDAR = {
    "2026": {
        "holidays": [
            ["2026-01-01", "2026-01-03"],  # 元旦
            ["2026-02-15", "2026-02-23"],  # 春节
            ["2026-04-04", "2026-04-06"],  # 清明节
            ["2026-05-01", "2026-05-05"],  # 劳动节
            ["2026-06-19", "2026-06-21"],  # 端午节
            ["2026-09-25", "2026-09-27"],  # 中秋节
            ["2026-10-01", "2026-10-07"],  # 国庆节
        ],
        "working_weekends": [
            "2026-01-04",
            "2026-02-14",
            "2026-02-28",
            "2026-05-09",
            "2026-09-20",
            "2026-10-10",
        ],
    },
    **business_days.years_in_file(env("BUSINESS_CALENDAR_FILE")),
}

# Notices to applicants by SMS (docs/sms.md): off until an environment configures its
# gateway (base_url, secret_id, secret_key, sdk_app_id, sign_name, callback_token), the
# approved template of each notice kind and the portal address the templates name.
SMS: dict = {
    "enabled": False,
    "region": "ap-guangzhou",
    # Tencent signs no callback: they carry callback_token, and come from these CIDRs
    # (empty allows any).
    "callback_sources": env_list("SMS_CALLBACK_SOURCES"),
}

# Closing a day (docs/closing.md): the settlement report (结报) and the remittance (缴库) of
# its net. "destinations": the treasury accounts by region-code prefix ("regions", the
# longest prefix wins) and the accounts named for some departments ("departments", e.g. a
# fiscal special account), each {"kind": "treasury" | "special", "account", "name",
# "bank"?: BIC or CNAPS code, "bank_name"?}. A remittance not on its account's statement by
# its execution date plus "remittance_window_days" is overdue. The signed CSV is signed
# with "signing_key_pem" (SM2).
CLOSING = {
    "destinations": {"regions": {}, "departments": {}},
    "remittance_window_days": 1,
    "signing_key_pem": None,
}

SANDBOXES_ENABLED = False
# The sandboxes' own server (`manage.py sandboxes`), as a provider's would be.
SANDBOX_BASE_URL = env("SANDBOX_BASE_URL", f"http://127.0.0.1:{env_int('SANDBOX_PORT', 8001)}")

# One JSON object per line on stderr (config/logging.py); LOG_HUMAN=1 for readable text.
LOGGING = logging_config(human=env_bool("LOG_HUMAN", False), level=env("LOG_LEVEL", "INFO"))
# /metrics asks for `Authorization: Bearer <METRICS_TOKEN>`; unset, it serves loopback only.
METRICS_TOKEN = env("METRICS_TOKEN")
