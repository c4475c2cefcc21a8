"""Filters the console's templates share: money in yuan, statuses as badges."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    """Integer fen shown as yuan with thousands separators: 123456 → '1,234.56'."""
    if fen is None or fen == "":
        return "—"
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d}"


@register.filter
def badge_tone(status: str) -> str:
    """The colour family of a status badge (CSS class suffix)."""
    good = {
        "succeeded",
        "paid",
        "matched",
        "arrived",
        "resolved",
        "auto_resolved",
        "delivered",
        "acknowledged",
        "signed",
        "closed",
        "healthy",
        "active",
        "refunded",
        "issued",
        "approved",
        "accepted",
        "seen",
    }
    warn = {"late"}  # arrived in full, but after the day it was due
    bad = {
        "failed",
        "mismatch",
        "open",
        "escalated",
        "expired",
        "revoked",
        "returned",
        "exception",
        "down",
        "refund_due",
        "rejected",
        "overdue",
        "undelivered",
    }
    if status in good:
        return "good"
    if status in bad:
        return "bad"
    if status in warn:
        return "warn"
    return "neutral"
