"""Requests answered, by route, method and status, and how long they took (per process).

Labels are bounded: the route is the matched URL pattern's template, never the path
(``/api/v1/payment-orders/<str:public_id>``; "unmatched" when none matched), the method one
of the standard ones or "other", the status a number.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from core.request_context import route_of

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; statement uploads and report downloads take longer than API calls.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUESTS = Counter(
    "backoffice_http_requests",
    "HTTP requests answered, by matched route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "backoffice_http_request_duration_seconds",
    "Time from a request reaching the middleware to its response, by route and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)


# The counter and histogram of each (route, method, status), found once per process:
# labels() checks its arguments and takes a lock on every call. As bounded as the labels.
_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def request_observe(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method.upper() if method and method.upper() in METHODS else "other"
    series = _series.get((route, method, status))
    if series is None:
        series = _series[route, method, status] = (
            REQUESTS.labels(route=route, method=method, status=str(status)),
            LATENCY.labels(route=route, method=method),
        )
    counter, histogram = series
    counter.inc()
    histogram.observe(seconds)


class RequestMetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        request_observe(
            route=route_of(request),
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response
