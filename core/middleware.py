from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse, JsonResponse

from core.errors import error_body

MACHINE_PREFIXES = ("/api/", "/notify/", "/sandbox/", "/healthz", "/readyz")
# C0 control characters and DEL: no URL of ours holds one, and PostgreSQL refuses NUL in text.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class RequestGuardMiddleware:
    """Refuses, before any view or middleware reads it, a request no view should see.

    A control character in the path or a NUL in the query string would reach the
    database as a lookup value, and PostgreSQL refuses NUL in text; a body over the
    limit is refused by its Content-Length before it is read. Multipart uploads (the
    statements finance staff upload) have a larger limit of their own.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _CONTROL_CHARACTERS.search(request.path) or _query_holds_nul(request):
            return _refusal(request, 400, "bad_request", "The URL holds a control character.")
        limit = _body_limit(request)
        if limit is not None and _declared_length(request) > limit:
            return _refusal(
                request,
                413,
                "request_too_large",
                f"The request body is larger than {limit} bytes.",
            )
        return self.get_response(request)


def _query_holds_nul(request) -> bool:
    return any(
        "\x00" in name or any("\x00" in value for value in values)
        for name, values in request.GET.lists()
    )


def _body_limit(request) -> int | None:
    if request.content_type == "multipart/form-data":
        return settings.FILE_UPLOAD_MAX_REQUEST_SIZE
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _refusal(request, status: int, code: str, message: str) -> HttpResponse:
    if request.path.startswith(MACHINE_PREFIXES):
        return JsonResponse(error_body(code, message), status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


class JsonErrorMiddleware:
    """Answers machine clients in JSON even where Django itself would render HTML.

    Covers what happens before a DRF view runs: unknown API paths, CSRF refusals on
    API paths, and oversized or undecodable requests.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(MACHINE_PREFIXES):
            return response
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and content_type.startswith("text/html"):
            return JsonResponse(
                error_body(_code_for(response.status_code), response.reason_phrase),
                status=response.status_code,
            )
        return response

    def process_exception(self, request, exception):
        # A body without a Content-Length (chunked) passes the guard and is refused by
        # Django only when a view reads request.body.
        if isinstance(exception, RequestDataTooBig) and request.path.startswith(MACHINE_PREFIXES):
            return JsonResponse(error_body("request_too_large", str(exception)), status=413)
        return None


def _code_for(status: int) -> str:
    return {
        400: "bad_request",
        403: "permission_denied",
        404: "not_found",
        405: "method_not_allowed",
        413: "request_too_large",
    }.get(status, "internal_error" if status >= 500 else "client_error")
