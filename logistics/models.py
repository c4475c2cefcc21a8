"""Shipments of application materials and results, their tracking events and raw pushes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from billing.models import Department, PaymentOrder
from billing.models.ids import new_public_id
from core.models import ApiClient
from integrations.couriers.base import ShipmentStatus as CourierStatus
from outbox.models import OutboxRow


def shipment_id() -> str:
    return new_public_id("shp")


class ShipmentKind(models.TextChoices):
    MATERIALS = "materials", _("Application materials, applicant to agency (申请材料递送)")
    RESULT = "result", _("Approval result, agency to applicant (审批结果递送)")


class ShipmentStatus(models.TextChoices):
    """The courier's normalised vocabulary, plus the wait for the applicant's freight.

    The courier's statuses keep the labels Django first derived from their values (another
    wording would be a migration); the console says them in its own words (console.terms).
    """

    AWAITING_FREIGHT = "awaiting_freight", _("awaiting freight")
    PENDING = CourierStatus.PENDING.value, pgettext_lazy("shipment status", "Pending")
    PICKED_UP = CourierStatus.PICKED_UP.value, pgettext_lazy("shipment status", "Picked Up")
    IN_TRANSIT = CourierStatus.IN_TRANSIT.value, pgettext_lazy("shipment status", "In Transit")
    OUT_FOR_DELIVERY = (
        CourierStatus.OUT_FOR_DELIVERY.value,
        pgettext_lazy("shipment status", "Out For Delivery"),
    )
    READY_FOR_PICKUP = (
        CourierStatus.READY_FOR_PICKUP.value,
        pgettext_lazy("shipment status", "Ready For Pickup"),
    )
    DELIVERY_FAILED = (
        CourierStatus.DELIVERY_FAILED.value,
        pgettext_lazy("shipment status", "Delivery Failed"),
    )
    ON_HOLD = CourierStatus.ON_HOLD.value, pgettext_lazy("shipment status", "On Hold")
    DELIVERED = CourierStatus.DELIVERED.value, pgettext_lazy("shipment status", "Delivered")
    RETURNING = CourierStatus.RETURNING.value, pgettext_lazy("shipment status", "Returning")
    RETURNED = CourierStatus.RETURNED.value, pgettext_lazy("shipment status", "Returned")
    LOST_DAMAGED = (
        CourierStatus.LOST_DAMAGED.value,
        pgettext_lazy("shipment status", "Lost Damaged"),
    )
    CANCELLED = CourierStatus.CANCELLED.value, pgettext_lazy("shipment status", "Cancelled")


class FreightPayer(models.TextChoices):
    APPLICANT = "applicant", _("applicant")  # pays a freight order before the pickup is booked
    AGENCY = "agency", _("agency")  # billed to the agency's monthly account with the courier


class Consolidation(models.TextChoices):
    SINGLE = "single", _("single")  # one agency's items
    # a parallel approval's results from several agencies, together
    CONSOLIDATED = "consolidated", _("consolidated")
    # one agency's part of a parallel approval, sent on its own
    SEPARATE = "separate", _("separate")


class UndeliverableRule(models.TextChoices):
    HOLD = "hold", _("hold")  # keep at a pickup point for the applicant to collect
    RETURN = "return", _("return")  # send back to the agency
    ASK = "ask", _("ask")  # the applicant chooses, through the portal


class Shipment(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=shipment_id, editable=False)
    kind = models.CharField(max_length=10, choices=ShipmentKind.choices)
    case_number = models.CharField(max_length=64, db_index=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="shipments")
    consolidation = models.CharField(
        max_length=12, choices=Consolidation.choices, default=Consolidation.SINGLE
    )
    # Shared by the shipments of one parallel approval sent separately (or the one together).
    parallel_approval_id = models.CharField(max_length=64, blank=True, db_index=True)
    # Names, phones and addresses: encrypted JSON, with a masked copy for lists and logs.
    sender_encrypted = models.TextField()
    sender_masked = models.JSONField()
    recipient_encrypted = models.TextField()
    recipient_masked = models.JSONField()
    recipient_phone_index = models.CharField(max_length=64, db_index=True)
    recipient_region_code = models.CharField(max_length=6)
    courier = models.CharField(max_length=16)
    service_level = models.CharField(max_length=16)
    routing = models.JSONField(default=dict, blank=True)
    declared_value = models.BigIntegerField(default=0, help_text="Insured value in fen.")
    deliver_by = models.DateTimeField(db_index=True)
    undeliverable_rule = models.CharField(max_length=8, choices=UndeliverableRule.choices)
    freight_payer = models.CharField(max_length=10, choices=FreightPayer.choices)
    freight_amount = models.BigIntegerField(help_text="The tariff's quote, in fen.")
    freight_order = models.OneToOneField(
        PaymentOrder, on_delete=models.PROTECT, null=True, blank=True, related_name="shipment"
    )
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    failure_reason = models.CharField(max_length=20, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    # Booking with the courier: the waybill once booked; tries and the last error until then.
    waybill_no = models.CharField(max_length=40, blank=True)
    label = models.TextField(blank=True)
    booked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    booking_tries = models.PositiveSmallIntegerField(default=0)
    next_booking_at = models.DateTimeField(null=True, blank=True, db_index=True)
    booking_error = models.CharField(max_length=255, blank=True)
    # Tracking: the latest event by its own time, and when we last heard anything.
    last_event_at = models.DateTimeField(null=True, blank=True)
    last_heard_at = models.DateTimeField(null=True, blank=True, db_index=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # Flags raised by the time-limit watch, each with when it was raised.
    at_risk_since = models.DateTimeField(null=True, blank=True)
    overdue_since = models.DateTimeField(null=True, blank=True)
    stale_since = models.DateTimeField(null=True, blank=True)
    # Undeliverable (送达不能): the action taken or asked for, and when.
    undeliverable_action = models.CharField(max_length=32, blank=True)
    undeliverable_at = models.DateTimeField(null=True, blank=True)
    # Proof of delivery.
    delivered_at = models.DateTimeField(null=True, blank=True)
    pod_signer_encrypted = models.TextField(blank=True)
    pod_signer_masked = models.CharField(max_length=40, blank=True)
    pod_image_ref = models.CharField(max_length=500, blank=True)
    # The applicant's code for the public tracking lookup: a keyed hash, the code is shown once.
    tracking_code_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(ApiClient, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["courier", "waybill_no"],
                condition=~Q(waybill_no=""),
                name="one_shipment_per_waybill",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ShipmentStatus.values), name="shipment_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(freight_amount__gte=0) & Q(declared_value__gte=0),
                name="shipment_amounts_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(freight_payer=FreightPayer.AGENCY, freight_order__isnull=True)
                | Q(freight_payer=FreightPayer.APPLICANT, freight_order__isnull=False),
                name="applicant_freight_has_an_order",
            ),
        ]
        indexes = [models.Index(fields=["status", "deliver_by"])]
        permissions = [("view_contacts", "Can see full names, phones and addresses")]

    def __str__(self) -> str:
        return self.public_id


class ItemKind(models.TextChoices):
    DOCUMENT = "document", _("document")
    CERTIFICATE = "certificate", _("certificate")


class ShipmentItem(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=12, choices=ItemKind.choices)
    title = models.CharField(max_length=200)
    issuing_agency = models.CharField(max_length=200)
    number = models.CharField(max_length=64, blank=True, help_text="Certificate number.")
    copies = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["id"]


class ShipmentPart(models.Model):
    """One agency's result in a parallel approval's shipment, awaited until it is ready.

    A consolidated parcel is held until every part is ready. One agency's result of one
    parallel approval travels in one live shipment only: a cancelled shipment's parts are
    let go (``active``), so the result may travel again.
    """

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="parts")
    # Whose parallel_approval_id it is: the portal that created the shipment.
    client = models.ForeignKey(ApiClient, on_delete=models.PROTECT, null=True, blank=True)
    parallel_approval_id = models.CharField(max_length=64)
    issuing_agency = models.CharField(max_length=200)
    ready_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "parallel_approval_id", "issuing_agency"],
                condition=Q(active=True),
                nulls_distinct=False,
                name="one_live_shipment_per_result_part",
            )
        ]


class CourierKey(models.Model):
    """A courier-role API key and the courier whose waybills it reports scans of."""

    client = models.OneToOneField(ApiClient, on_delete=models.PROTECT, related_name="courier_key")
    courier = models.CharField(max_length=16)


class PushStatus(models.TextChoices):
    RECEIVED = "received", _("received")  # verified and stored; the task has not applied it yet
    APPLIED = "applied", _("applied")
    REJECTED = "rejected", _("rejected")  # forged, tampered, malformed or from a source not allowed
    FAILED = "failed", _("failed")  # verified, but applying it failed on every try


class CourierPush(OutboxRow):
    """One inbound push as it arrived, kept whether or not it was accepted.

    A received push is an outbox row, applied after the courier has had its answer.
    """

    courier = models.CharField(max_length=16)
    status = models.CharField(max_length=10, choices=PushStatus.choices)
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    # Pushes name signers and recipients: the raw body and the parsed events are encrypted.
    # A rejected push keeps only the start of its body: anyone can post to the endpoint.
    body_encrypted = models.TextField()
    body_size = models.PositiveIntegerField(null=True, blank=True)
    body_sha256 = models.CharField(max_length=64)
    error = models.CharField(max_length=255, blank=True)
    # The verified events, so the task need not see the push's credentials.
    events_encrypted = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "received_at"])]
        permissions = [("retry_courierpush", "Can retry applying a courier push now")]


class EventSource(models.TextChoices):
    PUSH = "push", _("push")
    QUERY = "query", _("query")


class TrackingEvent(models.Model):
    """One courier scan, stored once however often it is pushed or queried."""

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="events")
    courier = models.CharField(max_length=16)
    event_id = models.CharField(max_length=80)
    code = models.CharField(max_length=16)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    reason = models.CharField(max_length=20, blank=True)
    occurred_at = models.DateTimeField()
    location = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # Who signed, on a delivered scan; and the courier's reference to its proof image.
    signer_encrypted = models.TextField(blank=True)
    signer_masked = models.CharField(max_length=40, blank=True)
    proof_ref = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=8, choices=EventSource.choices)
    # A terminal scan from a push counts once a route query has shown it too.
    confirmed = models.BooleanField()
    push = models.ForeignKey(CourierPush, on_delete=models.PROTECT, null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["courier", "event_id"], name="one_row_per_courier_event"
            )
        ]
