"""What every outbox row carries, and the rows by which one app tells another.

An outbox row is written in the transaction of the change it is about, and worked on
after that transaction commits: sent to an outside party (a webhook, a revenue record) or
applied in our own database (a courier's push, another app's event). The mechanism that
leases, schedules, sweeps, retries and gives up is one (outbox.engine); each kind of row
says only how one row is done (outbox.kinds).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class OutboxRow(models.Model):
    """The columns the mechanism keeps on every kind's rows.

    A row whose status is one of its kind's open statuses is due when ``next_attempt_at``
    has passed; while a send is in flight the lease pushes it into the future.
    """

    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=255, blank=True)

    class Meta:
        abstract = True


class AppEventStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    APPLIED = "applied", _("applied")
    FAILED = "failed", _("failed")  # the subscriber failed on every try of its schedule


class AppEvent(OutboxRow):
    """One app's committed change, to be applied by one subscriber of another app."""

    topic = models.CharField(max_length=80)
    subscriber = models.CharField(max_length=80)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=AppEventStatus.choices, default=AppEventStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        permissions = [("retry_appevent", "Can retry an app event now")]

    def __str__(self) -> str:
        return f"{self.topic} → {self.subscriber}"
