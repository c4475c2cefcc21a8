"""Staff sign-in: every login, logout, failed attempt and lockout is audited; the console's
form says why axes refused a locked-out sign-in (console/lockout.py)."""

from __future__ import annotations

from axes.signals import user_locked_out
from django.contrib.auth import get_user_model, signals
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.dispatch import receiver

from console.lockout import client_address, lockout_message
from core.audit import audit_record
from core.models import AuditRecord


class StaffAuthenticationForm(AuthenticationForm):
    def get_invalid_login_error(self) -> ValidationError:
        if getattr(self.request, "axes_locked_out", False):
            return ValidationError(lockout_message(self.request), code="locked")
        return super().get_invalid_login_error()


def _client(request) -> dict:
    # The address the lockout counts, so that the audit and axes name the same one.
    return {"ip": client_address(request) or ""} if request is not None else {}


def _audit_by_name(username: str, action: str, request) -> None:
    """An audit row for a name that may belong to no user."""
    username = str(username or "")[:64]
    AuditRecord.objects.create(
        actor=f"user:{username}"[:120],
        action=action,
        object_type=get_user_model().__name__,
        object_id=username,
        data=_client(request),
    )


@receiver(signals.user_logged_in, dispatch_uid="console.audit_login")
def _logged_in(sender, request, user, **kwargs) -> None:
    actor = f"user:{user.get_username()}"
    audit_record(actor=actor, action="staff.logged_in", obj=user, data=_client(request))


@receiver(signals.user_logged_out, dispatch_uid="console.audit_logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        actor = f"user:{user.get_username()}"
        audit_record(actor=actor, action="staff.logged_out", obj=user, data=_client(request))


@receiver(signals.user_login_failed, dispatch_uid="console.audit_login_failed")
def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already replaced the password in ``credentials``; only the name is kept.
    _audit_by_name(credentials.get("username"), "staff.login_failed", request)


@receiver(user_locked_out, dispatch_uid="console.audit_locked_out")
def _locked_out(sender, request, username, **kwargs) -> None:
    _audit_by_name(username, "staff.locked_out", request)
