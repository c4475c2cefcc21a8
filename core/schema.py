"""How the OpenAPI schema describes our authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


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
