"""The production web server's settings, in one place: `gunicorn -c config/gunicorn.py config.wsgi`.

Each value can be set from the environment (docs/deploy.md). gthread workers: each
process serves several requests at once on threads, which suits a service whose requests
wait on PostgreSQL and on providers; processes give it the machine's cores. bench/README.md
has the figures behind the defaults.
"""

import multiprocessing
import os

from config.env import env_bool
from config.logging import logging_config
from metrics import worker_exit


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


bind = os.environ.get("BIND") or f"127.0.0.1:{_int('PORT', 8000)}"
worker_class = "gthread"
# One process per core: on 2 cores, 4 processes of 4 threads served orders at the same CPU
# each and no faster, with a p99 1.4-2.6 times as long (bench/README.md).
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count())
threads = _int("WEB_THREADS", 8)
# The application is loaded once, before the workers are forked: a worker replaced after
# max_requests serves at once. Loading it in the worker cost 2-3 s of CPU (imports, the
# schema) while the other worker took every kept-alive connection that the old one closed:
# 16 of a load test's 16 were then seen on one process, the other core idle (bench/README.md).
# Code changes need a restart, not a HUP. Off for a server whose application starts threads
# as it loads (the sandboxes'): threads do not survive the fork.
preload_app = env_bool("WEB_PRELOAD", True)
# Connections waiting for a worker: a burst of payers queues here instead of being refused.
backlog = _int("WEB_BACKLOG", 2048)
# A request that takes longer is a stuck worker: it is replaced, the request fails.
timeout = _int("WEB_TIMEOUT_SECONDS", 30)
graceful_timeout = _int("WEB_GRACEFUL_TIMEOUT_SECONDS", 30)
keepalive = _int("WEB_KEEPALIVE_SECONDS", 5)
# A worker is replaced after this many requests (jittered so they do not all restart at once).
max_requests = _int("WEB_MAX_REQUESTS", 10_000)
max_requests_jitter = max_requests // 10
# Limits on the request line and headers, below gunicorn's defaults: no API call needs more.
limit_request_line = 4094
limit_request_fields = 64
limit_request_field_size = 8190
# X-Forwarded-* are believed only from these addresses (the reverse proxy).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Each request is logged once, by the service (core/request_context.py), with its request id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# gunicorn's own lines (start, workers booting, signals) in the service's format: JSON lines,
# or text with LOG_HUMAN (make run sets it).
logconfig_dict = logging_config(human=env_bool("LOG_HUMAN", False), level=loglevel)
proc_name = "backoffice-web"
# No control socket: it would be one fixed path per user, shared by every gunicorn on the host.
control_socket_disable = True

# A worker that has exited leaves its live gauges behind unless they are marked dead.
child_exit = worker_exit
