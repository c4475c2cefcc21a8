from __future__ import annotations

from django.http import JsonResponse

from core.errors import error_body


class JsonErrorMiddleware:
    """Answers machine clients in JSON even where Django itself would render HTML.

    Covers what happens before a DRF view runs: unknown API paths, CSRF refusals on
    API paths, and oversized or undecodable requests.
    """

    MACHINE_PREFIXES = ("/api/", "/notify/", "/sandbox/", "/healthz", "/readyz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(self.MACHINE_PREFIXES):
            return response
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/html"):
            return JsonResponse(
                error_body(_code_for(response.status_code), response.reason_phrase),
                status=response.status_code,
            )
        return response


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(status, "internal_error" if status >= 500 else "client_error")
