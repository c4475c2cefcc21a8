"""The service's metrics for Prometheus, served at /metrics (see metrics/view.py).

* ``traffic``: request counts and latency by route, counted by the middleware in each
  process; under gunicorn with ``PROMETHEUS_MULTIPROC_DIR`` set, every worker writes them
  to files there and a scrape sums them (prometheus_client's multiprocess mode).
* ``business``: figures read from the database at scrape time (orders, attempts, outboxes,
  couriers' pushes, reconciliation, breakers, licences), the same from whichever process.

Attributes are loaded on first use, so that ``from metrics import worker_exit`` in
config/gunicorn.py neither needs Django's apps ready nor imports prometheus_client before
the server has set PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
from importlib import import_module

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_LAZY = {
    "RequestMetricsMiddleware": "metrics.traffic",
    "metrics_view": "metrics.view",
    "exposition": "metrics.view",
    "BusinessCollector": "metrics.business",
}


def multiprocess_dir() -> str | None:
    """Where gunicorn's workers write their metrics, when the server shares them."""
    return os.environ.get(MULTIPROC_DIR_VARIABLE) or None


def worker_exit(server, worker) -> None:
    """gunicorn's ``child_exit`` hook: forget the live gauges of a worker that has exited."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
