"""A console form's action: run the service function, tell the person what happened."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponseRedirect

from core.errors import DomainError


def perform(
    request: HttpRequest,
    action: Callable[[], object],
    *,
    done: str,
    back: str,
    then: Callable[[object], str] | None = None,
) -> HttpResponseRedirect:
    """Redirect (303, so a reload does not post again) with the outcome.

    To ``back``; after a success to ``then(result)`` when given (the page of what the
    action made). A domain refusal (an illegal step, the same person approving) is shown
    as the service worded it; nothing was changed, as the service function is one
    transaction.
    """
    try:
        result = action()
    except DomainError as error:
        messages.error(request, error.message)
        return HttpResponseRedirect(back, status=303)
    messages.success(request, done)
    return HttpResponseRedirect(then(result) if then else back, status=303)
