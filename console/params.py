"""Query parameters of console pages, read strictly: a bad one is a 400 page, never a 500."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import BadRequest
from django.http import HttpRequest


def date_param(request: HttpRequest, name: str, default: date | None = None) -> date | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError as error:
        raise BadRequest(f"{name} must be a date like 2026-11-25.") from error


def int_param(
    request: HttpRequest, name: str, default: int | None = None, *, low: int = 0, high: int = 10**9
) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


def choice_param(request: HttpRequest, name: str, choices) -> str:
    """One of ``choices`` or empty (no filter)."""
    raw = request.GET.get(name, "").strip()
    if raw and raw not in choices:
        raise BadRequest(f"{name} must be one of {', '.join(choices)}.")
    return raw


def text_param(request: HttpRequest, name: str, *, max_length: int = 100) -> str:
    raw = request.GET.get(name, "").strip()
    if len(raw) > max_length:
        raise BadRequest(f"{name} is longer than {max_length} characters.")
    if "\x00" in raw:  # PostgreSQL refuses NUL in text: a query with one would fail
        raise BadRequest(f"{name} holds a NUL character.")
    return raw
