"""GET /metrics: the Prometheus text format, for a scraper that shows its token or is local.

With ``METRICS_TOKEN`` set, a scrape must send ``Authorization: Bearer <token>`` (401
otherwise). Without it, only a request from this machine's loopback address that did not
come through a proxy (no ``X-Forwarded-For`` nor ``Forwarded``) is served (403 otherwise).
The answer is never a 500: a figure that cannot be read is reported as such.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from core.errors import error_body
from metrics import multiprocess_dir
from metrics.business import BusinessCollector

logger = logging.getLogger(__name__)

# Served when even the rendering failed: enough for an alert on the scrape.
_FALLBACK = (
    b"# HELP backoffice_collector_up 1 if the database figures were read on this scrape, "
    b"0 if reading them failed.\n"
    b"# TYPE backoffice_collector_up gauge\n"
    b"backoffice_collector_up 0.0\n"
)


def metrics_view(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'),
            status=405,
        )
        response["Allow"] = "GET, HEAD"
        return response
    try:
        body = exposition()
    except Exception:  # a scrape must answer; the failure is in the log
        logger.exception("metrics: rendering failed")
        body = _FALLBACK
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)


def exposition() -> bytes:
    """This scrape's metrics: the requests (of every process, when they share a directory)
    and the database figures."""
    registry = CollectorRegistry(auto_describe=False)
    directory = multiprocess_dir()
    if directory:
        MultiProcessCollector(registry, path=directory)
    else:
        registry.register(_ThisProcess())
    registry.register(BusinessCollector())
    return generate_latest(registry)


class _ThisProcess:
    """The process-local default registry: request metrics, process and runtime figures."""

    def collect(self):
        return REGISTRY.collect()


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = getattr(settings, "METRICS_TOKEN", None)
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return None
        response = JsonResponse(
            error_body("not_authenticated", "A valid metrics token is required."), status=401
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _is_loopback(request.META.get("REMOTE_ADDR")) and not _proxied(request):
        return None
    return JsonResponse(
        error_body(
            "permission_denied",
            "Metrics are served to this machine only unless METRICS_TOKEN is set.",
        ),
        status=403,
    )


def _is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _proxied(request: HttpRequest) -> bool:
    """A reverse proxy on this machine connects from loopback on behalf of anyone."""
    return "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META
