"""What the API's views share: idempotent creates (one key per request, the first answer
replayed) and cursor pages of a list, newest first."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.pagination import CursorPagination
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


class NewestFirstPages(CursorPagination):
    """Cursor pages, newest first: 50 by default, ``page_size`` up to 200."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def paginated(
    request: Request,
    view,
    queryset,
    serializer_class,
    pages: type[CursorPagination] = NewestFirstPages,
) -> Response:
    """One page of ``queryset`` serialized, with the next and previous cursors."""
    paginator = pages()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
