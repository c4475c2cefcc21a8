"""A request id on every log line of a request, and of the tasks it queues; one access line.

``RequestIdMiddleware`` takes the caller's ``X-Request-ID`` when it is a plain token (a
proxy's or a portal's id, so one id follows a call across systems), or makes one, binds it
to structlog's context variables, answers it in the ``X-Request-ID`` header and logs one
access line when the response is done. The Celery signals below carry it in a task's
message headers to the worker, which binds it, with the task's name and id, while the task
runs.

The access line names the route's template (``/api/v1/payment-orders/<str:public_id>``),
never the path or the query string, and the caller by its database id only: nothing that
names a payer or a recipient is logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import structlog
from celery import signals
from django.conf import settings
from django.utils.functional import SimpleLazyObject, empty

from config.logging import log_event

HEADER = "X-Request-ID"
_HEADER_META_KEY = "HTTP_X_REQUEST_ID"  # read from META: request.headers copies every header
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,64}")
_TASK_TOKENS = "_structlog_tokens"

access_logger = logging.getLogger("core.access")


def request_id_from(inbound: str | None) -> str:
    """The caller's id when it is well-formed, or a new one."""
    if inbound and _WELL_FORMED.fullmatch(inbound):
        return inbound
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return structlog.contextvars.get_contextvars().get("request_id")


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = request_id_from(request.META.get(_HEADER_META_KEY))
        request.request_id = request_id
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            log_event(
                access_logger,
                "request",
                method=request.method,
                route=route_of(request),
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                **caller_of(request),
            )
        except BaseException:
            _reset(tokens)
            raise
        # Django logs a 4xx or 5xx (`django.request`) after the middleware has answered, and
        # a streamed body is sent later still: the id stays bound until the server closes
        # the response.
        response._resource_closers.append(lambda: _reset(tokens))
        return response


def route_of(request) -> str:
    """The matched URL pattern (bounded: one value per route), "static" for a static file
    (served by middleware before any URL is resolved), or "unmatched"."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route is not None:
        return "/" + match.route
    if settings.STATIC_URL and request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


def caller_of(request) -> dict[str, int]:
    """The API client's or the staff user's database id; never a name.

    A session user Django has not looked up for this request is not looked up here.
    """
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        if user._wrapped is empty:
            return {}
        user = user._wrapped
    client = getattr(user, "client", None)
    if client is not None:
        return {"client_id": client.pk}
    staff = getattr(user, "user", None) or user  # a Principal of a staff session, or a User
    if getattr(staff, "is_authenticated", False) and getattr(staff, "pk", None) is not None:
        return {"user_id": staff.pk}
    return {}


def _reset(tokens) -> None:
    try:
        structlog.contextvars.reset_contextvars(**tokens)
    except ValueError:  # closed in another context (ASGI): forget the id instead
        structlog.contextvars.unbind_contextvars(*tokens)


# -- Celery: the request id travels in the task's message headers ------------------------


@signals.before_task_publish.connect(dispatch_uid="core.request_context.publish")
def _put_request_id_in_headers(headers=None, **kwargs) -> None:
    request_id = current_request_id()
    if request_id and headers is not None:
        headers.setdefault("request_id", request_id)


@signals.task_prerun.connect(dispatch_uid="core.request_context.prerun")
def _bind_task_context(task_id=None, task=None, **kwargs) -> None:
    if task is None:
        return
    context = {"task": task.name, "task_id": task_id}
    request_id = _request_id_of(task.request)
    if request_id:
        context["request_id"] = request_id
    setattr(task.request, _TASK_TOKENS, structlog.contextvars.bind_contextvars(**context))


@signals.task_postrun.connect(dispatch_uid="core.request_context.postrun")
def _unbind_task_context(task=None, **kwargs) -> None:
    tokens = getattr(getattr(task, "request", None), _TASK_TOKENS, None)
    if tokens:
        setattr(task.request, _TASK_TOKENS, None)
        _reset(tokens)


def _request_id_of(task_request) -> str | None:
    """The id a publisher put in the headers; a task run in-process keeps the caller's."""
    request_id = getattr(task_request, "request_id", None)
    if request_id is None:
        request_id = (getattr(task_request, "headers", None) or {}).get("request_id")
    if isinstance(request_id, str) and _WELL_FORMED.fullmatch(request_id):
        return request_id
    return None
