"""What the API's views share: idempotent creates (one key per request, the first answer
replayed) and cursor pages of a list, newest first."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
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

    def decode_cursor(self, request):
        # DRF answers a bad cursor with 404, and one with a non-numeric or huge position
        # reaches the database as an id and fails there: both are the client's error.
        try:
            cursor = super().decode_cursor(request)
            position = cursor.position if cursor else None
            if position is not None and abs(int(position)) >= 2**63:
                raise ValueError(position)
        except (NotFound, ValueError):
            raise ValidationError(
                {self.cursor_query_param: ["Not a cursor from a previous page."]}
            ) from None
        return cursor


def page_parameters(pages: type[CursorPagination] = NewestFirstPages) -> list[OpenApiParameter]:
    """The query parameters of a ``paginated`` list, for its ``@extend_schema``."""
    return [
        OpenApiParameter(
            pages.cursor_query_param, str, description="From the previous page's links."
        ),
        OpenApiParameter(
            pages.page_size_query_param,
            int,
            description=f"At most {pages.max_page_size}; {pages.page_size} by default.",
        ),
    ]


def page_of(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of the page ``paginated`` answers with items of ``serializer_class``."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"{name}Page",
        fields={
            "next": serializers.URLField(allow_null=True, help_text="The next page, if any."),
            "previous": serializers.URLField(
                allow_null=True, help_text="The previous page, if any."
            ),
            "results": serializer_class(many=True),
        },
    )


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
