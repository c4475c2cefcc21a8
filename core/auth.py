"""Bearer API keys for machine clients, who is calling, and the check every API view makes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from core import reference_data, roles
from core.models import ApiClient, ApiRole

KEY_PREFIX = "gpk_"
FINANCE_GROUP = "finance"
AUDITOR_GROUP = "finance_auditor"  # reads what finance reads; acts on nothing


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def api_client_create(*, name: str, role: str) -> tuple[ApiClient, str]:
    """Create a client and return it with its key; the key is never retrievable again."""
    if role not in ApiRole.values:
        raise ValueError(f"role must be one of {', '.join(ApiRole.values)}")
    key = new_api_key()
    client = ApiClient.objects.create(
        name=name, role=role, key_prefix=key[:12], key_hash=hash_api_key(key)
    )
    return client, key


def api_client_revoke(*, client: ApiClient) -> None:
    ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


@dataclass(frozen=True)
class Principal:
    """Who is calling: an API client or a staff user, with the role that decides access."""

    kind: str  # "client" or "user"
    name: str
    role: str | None
    client: ApiClient | None = None
    user: object | None = None

    is_authenticated = True
    is_anonymous = False

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.name}"


def staff_role(user) -> roles.StaffRole | None:
    groups = set(
        user.groups.filter(name__in=(FINANCE_GROUP, AUDITOR_GROUP)).values_list("name", flat=True)
    )
    if user.is_superuser or FINANCE_GROUP in groups:
        return roles.StaffRole.FINANCE
    if AUDITOR_GROUP in groups:
        return roles.StaffRole.AUDITOR
    return None


def principal_for_user(user) -> Principal:
    return Principal(kind="user", name=user.get_username(), role=staff_role(user), user=user)


def client_by_key_hash(key_hash: str) -> ApiClient | None:
    """The client of that key, with the reference data's version (``reference_version``).

    Every API request makes this query: written out, it costs a third of the CPU the
    ORM's query compiler spends on it."""
    clients = ApiClient.objects.raw(
        f"SELECT *, {reference_data.VERSION_QUERY} AS reference_version "  # noqa: S608
        "FROM core_apiclient WHERE key_hash = %s",
        [key_hash],
    )
    return next(iter(clients), None)


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme != self.keyword or not key.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        client = client_by_key_hash(hash_api_key(key.strip()))
        if client is None or not client.is_active:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        reference_data.observe(client.reference_version)
        return Principal(kind="client", name=client.name, role=client.role, client=client), client

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'


class StaffSessionAuthentication(authentication.SessionAuthentication):
    """Finance staff logged in to the admin or console use the API with their session."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, auth = result
        return principal_for_user(user), auth


class OperationAccess(permissions.BasePermission):
    """Looks the view's operation up in ``core.roles.OPERATIONS``: no row, no entry."""

    def has_permission(self, request, view) -> bool:
        if not hasattr(view, request.method.lower()):
            return True  # nothing runs: the view answers 405
        operation = roles.operation_of(type(view), request.method)
        self.message = f"Your role may not call {operation or 'this operation'}."
        principal = request.user
        if not isinstance(principal, Principal):
            return roles.may_call(operation, role=None)
        return roles.may_call(operation, role=principal.role, user=principal.user)
