"""Channels as the router sees them: licences, limits and shared health."""

from __future__ import annotations

from datetime import date

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

LICENCE_WARNING_DAYS = 30


class Processor(models.Model):
    """A payment channel and, for a non-bank processor, its Payment Business Licence."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        REVOKED = "revoked", _("revoked")

    code = models.CharField(max_length=32, unique=True, help_text="The channel code.")
    legal_name = models.CharField(max_length=200)
    licensed = models.BooleanField(
        default=True, help_text="False for the public payment platform, which needs no licence."
    )
    licence_number = models.CharField(max_length=64, blank=True, help_text="支付业务许可证 number.")
    licence_scope = models.JSONField(
        default=list, blank=True, help_text='Licensed business types, e.g. ["internet_payment"].'
    )
    licence_valid_until = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    min_amount = models.BigIntegerField(default=1, help_text="Per payment, in fen.")
    max_amount = models.BigIntegerField(help_text="Per payment, in fen.")
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower is tried first by auto."
    )

    class Meta:
        ordering = ["priority", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_amount__gte=1, max_amount__gte=F("min_amount")),
                name="processor_limits_ordered",
            ),
            models.CheckConstraint(
                condition=Q(licensed=False)
                | (~Q(licence_number="") & Q(licence_valid_until__isnull=False)),
                name="licensed_processor_has_licence",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.legal_name}"

    def licence_days_left(self, *, on: date) -> int | None:
        """Days until the licence ends (negative once it has), None when none is needed.

        Staff are warned from LICENCE_WARNING_DAYS before the end (admin and console).
        """
        return (self.licence_valid_until - on).days if self.licensed else None

    def licence_problem(self, *, on: date, scope: str) -> str:
        """Why this processor may not take a payment now, or "" when it may."""
        if self.status != self.Status.ACTIVE:
            return f"processor {self.status}"
        if not self.licensed:
            return ""
        if self.licence_valid_until < on:
            return f"licence expired on {self.licence_valid_until}"
        if scope not in self.licence_scope:
            return f"licence does not cover {scope}"
        return ""


class ChannelHealth(models.Model):
    """A circuit breaker per channel, in the database so every process shares it."""

    class State(models.TextChoices):
        # A breaker's "open" is not a discrepancy's "open": a context of its own.
        CLOSED = "closed", pgettext_lazy("circuit breaker", "closed")  # in rotation
        OPEN = "open", pgettext_lazy("circuit breaker", "open")  # out of rotation until open_until
        HALF_OPEN = "half_open", pgettext_lazy("circuit breaker", "half open")  # one trial decides

    channel = models.CharField(max_length=32, unique=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.channel}: {self.state}"
