"""Who may use the console and what they may do there.

Every console view is for finance staff (the ``finance`` and ``finance_auditor`` groups, or
a superuser). A step that acts needs what the API's ``core.roles`` asks of the same step: the
acting staff role (never an auditor) and the Django permission, checked here before any
service function runs; the templates offer only what ``can`` allows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from billing.selectors import scoped_department_ids
from core import roles
from core.auth import principal_for_user
from core.roles import APPROVE as APPROVE  # the steps the console's views name
from core.roles import RERUN as RERUN
from core.roles import RESOLVE as RESOLVE
from core.roles import RETRY_RECEIPT as RETRY_RECEIPT
from core.roles import RETRY_REFUND as RETRY_REFUND
from core.roles import RETRY_REVENUE as RETRY_REVENUE
from core.roles import RETRY_WEBHOOK as RETRY_WEBHOOK


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then only finance staff. Sets ``request.principal``."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        principal = principal_for_user(request.user)
        if principal.role is None:
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
            require(request, permission)
            return view(request, *args, **kwargs)

        return guarded

    return decorate


def department_scope(request: HttpRequest) -> list[int] | None:
    """The department ids the user is limited to, or None when the user sees all."""
    return scoped_department_ids(request.user)


def require(request: HttpRequest, permission: str) -> None:
    """Refuse with 403 a role without the permission (for a view whose step it names)."""
    if not can(request, permission):
        raise PermissionDenied("Your role may not take this step.")


def can(request: HttpRequest, permission: str) -> bool:
    return roles.staff_may_act(
        role=request.principal.role, user=request.user, permission=permission
    )
