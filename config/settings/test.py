"""The test suite: the real PostgreSQL and RabbitMQ running on this machine."""

import os
import uuid
from datetime import timedelta

from config import queues
from config.env import env
from config.settings.local import *  # noqa: F403

DATABASES = {
    "default": database_from_url(  # noqa: F405
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gov_payments")
    )
}
# Live-server and worker threads must not keep connections that block dropping the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0
# Each run gets a test database of its own, so two runs at once never drop each other's.
DATABASES["default"]["TEST"] = {"NAME": f"test_gov_payments_{os.getpid()}"}
# A commit returns before its WAL reaches the disk: what a transaction sees, locks and
# refuses is unchanged; only a machine crash could lose the last commits of a test run.
# Each transactional test empties every table, and waits much less for it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
CELERY_TASK_ALWAYS_EAGER = False
# Each test process gets queues of its own so that parallel runs never take each other's tasks.
CELERY_QUEUE_PREFIX = f"test-{os.getpid()}-{uuid.uuid4().hex[:8]}-"
CELERY_TASK_ROUTES = queues.task_routes(CELERY_QUEUE_PREFIX)
CELERY_TASK_DEFAULT_QUEUE = CELERY_QUEUE_PREFIX + queues.PAYMENTS
# One live server per test plays the service and, under /sandbox/, every outside party.
ROOT_URLCONF = "config.urls_with_sandboxes"
for _sandbox in (
    SANDBOX_PUBLIC_PLATFORM,  # noqa: F405
    SANDBOX_ALIPAY,  # noqa: F405
    SANDBOX_WECHATPAY,  # noqa: F405
    SANDBOX_UNIONPAY,  # noqa: F405
    SANDBOX_SF_EXPRESS,  # noqa: F405
    SANDBOX_EMS,  # noqa: F405
    SANDBOX_SMS,  # noqa: F405
):
    _sandbox["time_scale"] = 1000.0
# The tests' webhook receivers listen on 127.0.0.1; tests of the production policy turn it off.
WEBHOOK_ALLOW_LOOPBACK = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# End-to-end tests pay and reconcile "today" on the real clock: with the production grace,
# a run within five minutes of Beijing's midnight calls every one-sided item a cut-off
# timing difference. The matching tests pass their own grace.
RECONCILIATION = {**RECONCILIATION, "cutoff_grace": timedelta(0)}  # noqa: F405
# The tests read the JSON lines of production, not local.py's readable text.
LOGGING = logging_config(human=env_bool("LOG_HUMAN", False), level=env("LOG_LEVEL", "INFO"))  # noqa: F405
