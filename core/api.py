"""What the API's idempotent creates share: one key per request, the first answer replayed."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.request import Request
from rest_framework.response import Response

from core.idempotency import IdempotentResult, idempotent_call, validate_idempotency_key


def idempotency_key(request: Request) -> str:
    return validate_idempotency_key(request.headers.get("Idempotency-Key"))


def run_once(
    request: Request, *, key: str, scope: str, operation: Callable[[], tuple[int, dict]]
) -> IdempotentResult:
    """Run a create once per the calling client's key, with the request's body as payload."""
    return idempotent_call(
        client=request.user.client, scope=scope, key=key, payload=request.data, operation=operation
    )


def replayable(result: IdempotentResult, body: dict | None = None) -> Response:
    """The create's answer, marked when it is a replay of the first one."""
    response = Response(result.body if body is None else body, status=result.status)
    if result.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
