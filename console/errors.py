"""Error pages: HTML for people in the console, the JSON error body for everyone else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core import errors as json_errors

CONSOLE_PREFIX = "/console/"


def _page(request: HttpRequest, status: int, title: str, exception=None) -> HttpResponse:
    message = str(exception) if exception is not None and str(exception) else ""
    return render(
        request, "console/error.html", {"title": title, "message": message}, status=status
    )


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith(CONSOLE_PREFIX):
        return _page(request, 400, _("The request could not be understood"), exception)
    return json_errors.json_bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith(CONSOLE_PREFIX):
        return _page(request, 403, _("Not allowed"), exception)
    return json_errors.json_permission_denied(request, exception)


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if request.path.startswith(CONSOLE_PREFIX):
        return _page(request, 404, _("Not found"))
    return json_errors.json_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(CONSOLE_PREFIX):
        return render(request, "console/error.html", {"title": _("Server error")}, status=500)
    return json_errors.json_server_error(request)
