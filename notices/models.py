"""SMS notices to applicants, and the numbers that asked for none.

A message row is also the outbox row that sends it (notices.sending): written in the
transaction of the change it tells of, its template's parameters fixed then, and sent
unchanged until the gateway takes it. The phone is sealed (core.pii) and found by its
blind index; what the applicant reads is kept as text, which holds the template's
parameters and nothing else of theirs.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy

from billing.models import PaymentOrder
from billing.models.ids import new_public_id
from logistics.models import Shipment
from outbox.models import OutboxRow


def sms_message_id() -> str:
    return new_public_id("sms")


class NoticeKind(models.TextChoices):
    PAYMENT_RECEIVED = "payment_received", pgettext_lazy("sms notice", "payment received")
    RECEIPT_ISSUED = "receipt_issued", pgettext_lazy("sms notice", "receipt ready")
    # Told when the shipment is booked and has its waybill number, not at a courier scan.
    SHIPMENT_BOOKED = "shipment_booked", pgettext_lazy("sms notice", "booked with the courier")
    OUT_FOR_DELIVERY = "out_for_delivery", pgettext_lazy("sms notice", "out for delivery")
    # The applicant chooses, on the portal, what becomes of the parcel.
    DELIVERY_FAILED = "delivery_failed", pgettext_lazy("sms notice", "delivery failed")
    DELIVERED = "delivered", pgettext_lazy("sms notice", "delivered")


class SmsStatus(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("sms status", "queued")
    # Taken by the gateway for the carrier; the carrier's report is awaited.
    SENT = "sent", pgettext_lazy("sms status", "sent")
    DELIVERED = "delivered", pgettext_lazy("sms status", "delivered")
    UNDELIVERED = "undelivered", pgettext_lazy("sms status", "undelivered")
    SKIPPED = "skipped", pgettext_lazy("sms status", "skipped")  # the number opted out
    # Refused by the gateway, or given up: for a person.
    FAILED = "failed", pgettext_lazy("sms status", "failed")


class SmsMessage(OutboxRow):
    public_id = models.CharField(max_length=40, unique=True, default=sms_message_id, editable=False)
    kind = models.CharField(max_length=20, choices=NoticeKind.choices)
    # What the notice is of (its kind and source, with the round of a repeated event):
    # one message for each, however often the change that asks for it is seen.
    dedupe_key = models.CharField(max_length=120, unique=True)
    order = models.ForeignKey(
        PaymentOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="sms_messages"
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="sms_messages"
    )
    template_id = models.CharField(max_length=20)
    params = models.JSONField(help_text="The template's parameters, {1} first.")
    text = models.TextField(help_text="The message as the applicant reads it.")
    phone_encrypted = models.TextField()
    phone_index = models.CharField(max_length=64, db_index=True)
    phone_masked = models.CharField(max_length=20)
    status = models.CharField(max_length=12, choices=SmsStatus.choices, default=SmsStatus.QUEUED)
    skip_reason = models.CharField(max_length=20, blank=True)
    gateway_code = models.CharField(
        max_length=80, blank=True, help_text="The gateway's last answer: Ok, or why not."
    )
    serial_no = models.CharField(max_length=64, blank=True, help_text="The gateway's SerialNo.")
    fee = models.PositiveSmallIntegerField(default=0, help_text="Billed messages.")
    sent_at = models.DateTimeField(null=True, blank=True)
    report_code = models.CharField(max_length=40, blank=True, help_text="The carrier's status.")
    report_description = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(
        null=True, blank=True, help_text="When the carrier says the phone got it, or gave up."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        permissions = [("retry_smsmessage", "Can retry an SMS notice now")]
        constraints = [
            models.CheckConstraint(
                condition=Q(order__isnull=False, shipment__isnull=True)
                | Q(order__isnull=True, shipment__isnull=False),
                name="sms_message_of_order_or_shipment",
            ),
            models.UniqueConstraint(
                fields=["serial_no"], condition=~Q(serial_no=""), name="sms_serial_no_once"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["sent", "delivered", "undelivered"]) | ~Q(serial_no=""),
                name="sms_sent_has_serial_no",
            ),
            models.CheckConstraint(
                condition=Q(status__in=SmsStatus.values), name="sms_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.public_id


class SmsOptOut(models.Model):
    """A number that replied to unsubscribe (TD, 退订): it gets no more notices."""

    phone_index = models.CharField(max_length=64, unique=True)
    phone_masked = models.CharField(max_length=20)
    reply = models.CharField(max_length=20, help_text="What the applicant replied.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.phone_masked
