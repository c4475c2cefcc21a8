"""The staff sign-in lockout, on django-axes: its failures table is shared by every web
process, and its backend refuses a locked-out sign-in on every form that authenticates.

A username is locked after AXES_FAILURE_LIMIT recent failures from any address, and an
address after AXES_ADDRESS_FAILURE_LIMIT recent failures across usernames."""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class StaffLockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit of its own for an address, and a success that
    forgives only the failures against the name that signed in."""

    def get_failures(self, request, credentials: dict | None = None) -> int:
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        by_username = _failures(recent.filter(username=get_client_username(request, credentials)))
        by_address = _failures(recent.filter(ip_address=request.axes_ip_address))
        if by_address >= settings.AXES_ADDRESS_FAILURE_LIMIT:
            # Axes compares one count with one limit: an address that reached its own limit
            # counts as a username that reached AXES_FAILURE_LIMIT.
            return max(by_username, get_failure_limit(request, credentials))
        return by_username

    def reset_user_attempts(self, request, credentials: dict | None = None) -> int:
        # Axes would also clear every failure from the address, so that signing in with one's
        # own account would wipe the failures against a colleague's name from the same desk.
        count, _deleted = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials)
        ).delete()
        return count


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or behind AXES_IPWARE_PROXY_COUNT trusted proxies the address the
    outermost one saw; X-Forwarded-For entries left of that are the client's to invent."""
    proxies = settings.AXES_IPWARE_PROXY_COUNT
    if proxies:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if len(hops) >= proxies:
            return hops[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_message(request: HttpRequest) -> str:
    minutes = int(get_cool_off(request).total_seconds() // 60)
    return _("Too many failed attempts: try again in %(minutes)d minutes.") % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """The console's sign-in page keeps its form, which already says why; any other sign-in
    form (the admin's) is answered with the console's error page."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    match = request.resolver_match
    if original_response is not None and match is not None and match.view_name == "console:login":
        original_response.status_code = status
        return original_response
    return render(
        request,
        "console/error.html",
        {"title": _("Sign-in refused"), "message": lockout_message(request)},
        status=status,
    )
