"""One machine-readable error body for every 4xx: ``{"error": {code, message, fields}}``."""

from __future__ import annotations

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """A request that is well-formed but not allowed by the rules of the domain."""

    status = 409
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, fields: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class InvalidRequest(DomainError):
    status = 400
    code = "invalid_request"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class IllegalTransition(DomainError):
    status = 409
    code = "illegal_transition"


class IdempotencyConflict(DomainError):
    status = 422
    code = "idempotency_key_reused"


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


_DRF_CODES = {
    drf.ParseError: "malformed_request",
    drf.AuthenticationFailed: "authentication_failed",
    drf.NotAuthenticated: "not_authenticated",
    drf.PermissionDenied: "permission_denied",
    drf.NotFound: "not_found",
    drf.MethodNotAllowed: "method_not_allowed",
    drf.NotAcceptable: "not_acceptable",
    drf.UnsupportedMediaType: "unsupported_media_type",
    drf.Throttled: "throttled",
}


def _flatten(detail) -> dict | list | str:
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def api_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        body = error_body("validation_error", "The request has invalid fields.", fields)
        return Response(body, status=400)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", str(exc)), status=413)
    if isinstance(exc, SuspiciousOperation):  # too many fields or files in a form
        return Response(error_body("bad_request", str(exc)), status=400)
    if isinstance(exc, drf.APIException):
        code = _DRF_CODES.get(type(exc), exc.default_code)
        response = Response(error_body(code, str(exc.detail)), status=exc.status_code)
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            response["WWW-Authenticate"] = 'Bearer realm="api"'
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(math.ceil(exc.wait))
        return response
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return Response(
        error_body("internal_error", "The server failed to handle this request."), status=500
    )


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "No such resource."), status=404)


def json_server_error(request):
    return JsonResponse(
        error_body("internal_error", "The server failed to handle this request."), status=500
    )


def json_bad_request(request, exception=None):
    return JsonResponse(error_body("bad_request", "The request could not be read."), status=400)


def json_permission_denied(request, exception=None):
    return JsonResponse(error_body("permission_denied", "Not allowed."), status=403)
