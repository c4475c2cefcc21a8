from __future__ import annotations

from django.db import models


class ApiRole(models.TextChoices):
    PORTAL = "portal", "Portal"
    COURIER = "courier", "Courier"
    FINANCE = "finance", "Finance"


class ApiClient(models.Model):
    """A machine client. Its key is shown once at creation; only its SHA-256 is kept."""

    name = models.CharField(max_length=100, unique=True)
    role = models.CharField(max_length=16, choices=ApiRole.choices)
    key_prefix = models.CharField(
        max_length=16, help_text="First characters of the key, to tell keys apart."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(role__in=ApiRole.values), name="api_client_role_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.role})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditRecord(models.Model):
    """Who did what to which object, and why. Written in the transaction of the change."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=120)
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64)
    from_status = models.CharField(max_length=32, blank=True)
    to_status = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_id}"


class IdempotencyRecord(models.Model):
    """A client's Idempotency-Key for one operation, with the first response it produced.

    The response can hold a secret shown once (an order's verification code), so it is
    kept encrypted, as the JSON text of the body.
    """

    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT)
    scope = models.CharField(max_length=60)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client", "scope", "key"], name="idempotency_key_unique"
            )
        ]
