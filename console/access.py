"""Who may use the console and what they may do there.

Every console view is for finance staff (the ``finance`` and ``finance_auditor`` groups, or
a superuser); a role's actions are Django permissions, checked here before any service
function runs, and the templates offer only what ``can`` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from billing.selectors import scoped_department_ids
from core.auth import principal_for_user
from core.models import ApiRole

RESOLVE = "reconciliation.resolve_discrepancy"
APPROVE = "reconciliation.approve_discrepancy"
RERUN = "reconciliation.rerun_reconciliation"
RETRY_WEBHOOK = "billing.retry_webhookdelivery"
RETRY_REVENUE = "billing.retry_revenuerecord"


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then only finance staff. Sets ``request.principal``."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        principal = principal_for_user(request.user)
        if principal.role != ApiRole.FINANCE:
            raise PermissionDenied("The console is for finance staff.")
        request.principal = principal
        return view(request, *args, **kwargs)

    return guarded


def permission_required(permission: str) -> Callable:
    """For views that act: refused with 403 for a role without the permission."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @staff_required
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.has_perm(permission):
                raise PermissionDenied("Your role may not take this step.")
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def department_scope(request: HttpRequest) -> list[int] | None:
    """The department ids the user is limited to, or None when the user sees all."""
    return scoped_department_ids(request.user)


def can(request: HttpRequest, permission: str) -> bool:
    return request.user.has_perm(permission)
