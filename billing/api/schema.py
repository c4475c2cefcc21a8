"""OpenAPI pieces shared by the API views: the error body and its responses."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorDetail",
            fields={
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(),
            },
        )
    },
)


JSON = "application/json"

_DESCRIPTIONS = {
    400: "Invalid request (validation_error, malformed_request, ...)",
    401: "Missing or unknown API key",
    403: "The caller's role may not do this",
    404: "Not found",
    406: "The Accept header names no media type this operation answers with",
    409: "Illegal state transition, or a limit reached",
    413: "The request body is too large",
    422: "Conflict with an earlier request or refused by the channel",
    429: "Too many requests: retry after the Retry-After header's seconds",
    503: "The channel did not answer; retry later",
}


def errors(*statuses: int) -> dict[tuple[int, str], OpenApiResponse]:
    """The error answers of an operation: always JSON, whatever the success's media type."""
    return {
        (status, JSON): OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[status])
        for status in statuses
    }


RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429],
    description="Seconds to wait before asking again.",
)


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per intended operation; a retry with the same key and body "
    "returns the first response.",
)
