"""Staff sign-in: every login, logout and failed attempt is audited, and a username with
too many recent failures is refused for a while, whatever password comes next."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model, signals
from django.contrib.auth.forms import AuthenticationForm
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.audit import audit_record
from core.models import AuditRecord

FAILED = "staff.login_failed"
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


def recent_failures(username: str) -> int:
    since = timezone.now() - LOCKOUT
    return AuditRecord.objects.filter(
        action=FAILED, object_type="User", object_id=username[:64], at__gte=since
    ).count()


class StaffAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed attempts: try again in 15 minutes."),
    }

    def clean(self):
        username = (self.cleaned_data.get("username") or "").strip()
        if username and recent_failures(username) >= MAX_FAILURES:
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        return super().clean()


def _client(request) -> dict:
    return {"ip": request.META.get("REMOTE_ADDR", "")} if request is not None else {}


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
    username = str(credentials.get("username", ""))[:64]
    AuditRecord.objects.create(
        actor=f"user:{username}"[:120],
        action=FAILED,
        object_type=get_user_model().__name__,
        object_id=username,
        data=_client(request),
    )
