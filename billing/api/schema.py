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


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    descriptions = {
        400: "Invalid request (validation_error, malformed_request, ...)",
        401: "Missing or unknown API key",
        403: "The caller's role may not do this",
        404: "Not found",
        409: "Illegal state transition",
        422: "Conflict with an earlier request or refused by the channel",
        503: "The channel did not answer; retry later",
    }
    return {
        status: OpenApiResponse(ErrorSerializer, description=descriptions[status])
        for status in statuses
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per intended operation; a retry with the same key and body "
    "returns the first response.",
)
