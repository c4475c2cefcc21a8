"""OpenAPI pieces shared by the API views: their headers, and their error answers."""

from drf_spectacular.utils import OpenApiParameter

from core.schema import errors as errors

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
