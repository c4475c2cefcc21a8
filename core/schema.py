"""How the OpenAPI schema describes our authentication and our error answers."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "core.auth.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API client's key: `Authorization: Bearer gpk_…`.",
        }


class StaffSessionScheme(OpenApiAuthenticationExtension):
    target_class = "core.auth.StaffSessionAuthentication"
    name = "staffSession"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


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


# Answered before any view runs (by the middleware's and parsers' guards), so for every
# operation: a request whose URL or body cannot be read, and a body too large to read.
_ANY_OPERATION = {"400": "The request could not be read (bad_request, malformed_request)"}
_WITH_BODY = {"413": "The request body is too large (request_too_large)"}


def postprocess_errors_every_operation_may_answer(result, generator, request, public):
    """Documents on every operation the error answers that come before its view."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result["paths"].values():
        for operation in operations.values():
            answers = {**_ANY_OPERATION, **(_WITH_BODY if "requestBody" in operation else {})}
            for status, description in answers.items():
                operation["responses"].setdefault(
                    status, {"content": error, "description": description}
                )
    return result
