"""Input and output shapes of the shipment API."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.api.serializers import MAX_FEN, PHONE, BusinessDateField, PayerInputSerializer
from integrations.couriers.base import FailureReason
from logistics import couriers, states
from logistics.couriers import AUTO
from logistics.models import (
    Consolidation,
    FreightPayer,
    ItemKind,
    Shipment,
    ShipmentItem,
    ShipmentKind,
    ShipmentPart,
    ShipmentStatus,
    TrackingEvent,
    UndeliverableRule,
)
from logistics.services.courier_events import CODES_WITH_REASON, SCAN_CODES

UNDELIVERABLE_CHOICES = ("hold", "return", "redeliver")
WAYBILL = r"^[A-Za-z0-9-]{6,40}$"


def waybill_field(**kwargs) -> serializers.RegexField:
    return serializers.RegexField(
        WAYBILL,
        max_length=40,
        error_messages={"invalid": "6 to 40 letters, digits or -."},
        **kwargs,
    )


class AddressInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=20)
    province = serializers.CharField(max_length=50)
    city = serializers.CharField(max_length=50)
    district = serializers.CharField(max_length=50)
    detail = serializers.CharField(max_length=200)
    region_code = serializers.RegexField(r"^\d{6}$", error_messages={"invalid": "Six digits."})

    def validate_phone(self, value: str) -> str:
        value = value.strip()
        if not PHONE.match(value):
            raise serializers.ValidationError("Not a mainland mobile or landline number.")
        return value


class ItemInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ItemKind.choices)
    title = serializers.CharField(max_length=200)
    issuing_agency = serializers.CharField(max_length=200)
    number = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    copies = serializers.IntegerField(min_value=1, max_value=100, required=False, default=1)


class ShipmentCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ShipmentKind.choices)
    case_number = serializers.CharField(max_length=64)
    department = serializers.CharField(max_length=32, help_text="The agency's department code.")
    sender = AddressInputSerializer()
    recipient = AddressInputSerializer()
    items = serializers.ListField(child=ItemInputSerializer(), min_length=1, max_length=50)
    courier = serializers.CharField(
        max_length=16,
        default=AUTO,
        help_text="sf, ems, auto (the rules choose), or another configured courier, which "
        "takes the parcel at the counter and brings its waybill_no.",
    )
    service_level = serializers.ChoiceField(choices=["standard", "express"], default="standard")
    deliver_by = serializers.DateTimeField(help_text="The delivery time limit.")
    declared_value = serializers.IntegerField(
        min_value=0, max_value=MAX_FEN, default=0, help_text="Insured value in fen."
    )
    freight_payer = serializers.ChoiceField(choices=FreightPayer.choices)
    payer = PayerInputSerializer(
        required=False, help_text="Who pays the freight, when the applicant does."
    )
    undeliverable_rule = serializers.ChoiceField(
        choices=UndeliverableRule.choices, required=False, help_text="Default from settings."
    )
    consolidation = serializers.ChoiceField(
        choices=Consolidation.choices, default=Consolidation.SINGLE
    )
    parallel_approval_id = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default=""
    )
    waybill_no = waybill_field(
        required=False,
        default="",
        help_text="Only for a courier the service does not book with: the waybill its "
        "counter issued.",
    )

    def validate(self, attrs):
        attrs.setdefault("undeliverable_rule", settings.LOGISTICS["default_undeliverable_rule"])
        return attrs


class ShipmentItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShipmentItem
        fields = ["kind", "title", "issuing_agency", "number", "copies"]


class ShipmentPartSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShipmentPart
        fields = ["issuing_agency", "ready_at"]


class TrackingEventSerializer(serializers.ModelSerializer):
    signer = serializers.CharField(source="signer_masked", help_text="Masked.")

    class Meta:
        model = TrackingEvent
        fields = [
            "event_id",
            "code",
            "status",
            "reason",
            "occurred_at",
            "location",
            "description",
            "signer",
            "source",
            "confirmed",
        ]


class MaskedAddressSerializer(serializers.Serializer):
    name = serializers.CharField()
    phone = serializers.CharField()
    province = serializers.CharField()
    city = serializers.CharField()
    district = serializers.CharField()
    detail = serializers.CharField()
    region_code = serializers.CharField()


class ProofOfDeliverySerializer(serializers.Serializer):
    signer = serializers.CharField(source="pod_signer_masked", help_text="Masked.")
    signed_at = serializers.DateTimeField(source="delivered_at")
    image_ref = serializers.CharField(source="pod_image_ref")


class TimeLimitSerializer(serializers.Serializer):
    deliver_by = serializers.DateTimeField()
    at_risk = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    stale = serializers.SerializerMethodField()
    at_risk_since = serializers.DateTimeField(allow_null=True)
    overdue_since = serializers.DateTimeField(allow_null=True)
    stale_since = serializers.DateTimeField(allow_null=True)

    def get_at_risk(self, shipment: Shipment) -> bool:
        margin = settings.LOGISTICS["at_risk_before"]
        return _open(shipment) and timezone.now() >= shipment.deliver_by - margin

    def get_overdue(self, shipment: Shipment) -> bool:
        return _open(shipment) and timezone.now() > shipment.deliver_by

    def get_stale(self, shipment: Shipment) -> bool:
        return shipment.status in states.IN_FLIGHT and shipment.stale_since is not None


def _open(shipment: Shipment) -> bool:
    return shipment.status not in states.TERMINAL


class ShipmentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    department = serializers.CharField(source="department.code")
    sender = MaskedAddressSerializer(source="sender_masked")
    recipient = MaskedAddressSerializer(source="recipient_masked")
    items = ShipmentItemSerializer(many=True)
    time_limit = TimeLimitSerializer(source="*")
    freight_order = serializers.SlugRelatedField(
        slug_field="public_id", read_only=True, allow_null=True
    )
    proof_of_delivery = serializers.SerializerMethodField()
    parts = ShipmentPartSerializer(
        many=True,
        help_text="A parallel approval's result shipment: each agency's part and when its "
        "result was ready; a consolidated parcel is booked once all are.",
    )

    class Meta:
        model = Shipment
        fields = [
            "id",
            "kind",
            "case_number",
            "department",
            "consolidation",
            "parallel_approval_id",
            "parts",
            "status",
            "failure_reason",
            "failed_attempts",
            "undeliverable_rule",
            "undeliverable_action",
            "sender",
            "recipient",
            "items",
            "courier",
            "service_level",
            "waybill_no",
            "label",
            "booked_at",
            "booking_error",
            "time_limit",
            "last_event_at",
            "freight_payer",
            "freight_amount",
            "freight_order",
            "proof_of_delivery",
            "created_at",
        ]

    @extend_schema_field(ProofOfDeliverySerializer(allow_null=True))
    def get_proof_of_delivery(self, shipment: Shipment) -> dict | None:
        if shipment.delivered_at is None:
            return None
        return ProofOfDeliverySerializer(shipment).data


class ShipmentDetailSerializer(ShipmentSerializer):
    events = TrackingEventSerializer(many=True)

    class Meta(ShipmentSerializer.Meta):
        fields = [*ShipmentSerializer.Meta.fields, "routing", "events"]


class ShipmentCreatedSerializer(ShipmentSerializer):
    freight_verification_code = serializers.CharField(
        help_text="Shown once: the applicant's code to pay the freight order (empty if none)."
    )
    freight_payment_code = serializers.SerializerMethodField()
    tracking_code = serializers.CharField(
        help_text="Shown once: the applicant's code for the public tracking lookup by waybill."
    )

    class Meta(ShipmentSerializer.Meta):
        fields = [
            *ShipmentSerializer.Meta.fields,
            "freight_payment_code",
            "freight_verification_code",
            "tracking_code",
        ]

    def get_freight_payment_code(self, shipment: Shipment) -> str | None:
        return shipment.freight_order.payment_code if shipment.freight_order_id else None


class ContactsSerializer(serializers.Serializer):
    sender = AddressInputSerializer()
    recipient = AddressInputSerializer()
    pod_signer = serializers.CharField()


class ShipmentFilterSerializer(serializers.Serializer):
    case_number = serializers.CharField(max_length=64, required=False)
    status = serializers.ChoiceField(choices=ShipmentStatus.choices, required=False)
    courier = serializers.CharField(max_length=16, required=False)
    waybill_no = serializers.CharField(max_length=40, required=False)
    parallel_approval_id = serializers.CharField(
        max_length=64, required=False, help_text="A parallel approval's shipments."
    )
    created_from = BusinessDateField(required=False)
    created_to = BusinessDateField(required=False)
    at_risk = serializers.BooleanField(required=False, allow_null=True, default=None)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    stale = serializers.BooleanField(required=False, allow_null=True, default=None)

    def validate_courier(self, value: str) -> str:
        if value not in couriers.configured():
            raise serializers.ValidationError("No such courier.")
        return value


class UndeliverableChoiceSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=UNDELIVERABLE_CHOICES)


class ProofSerializer(serializers.Serializer):
    image_ref = serializers.CharField(max_length=500)


class PartReadySerializer(serializers.Serializer):
    issuing_agency = serializers.CharField(
        max_length=200, help_text="The agency whose result is ready, as the items name it."
    )


# The public tracking lookup


class TrackingLookupSerializer(serializers.Serializer):
    waybill_no = waybill_field()
    verification_code = serializers.RegexField(
        r"^\d{6}$", error_messages={"invalid": "Six digits."}
    )


class PublicEventSerializer(serializers.Serializer):
    occurred_at = serializers.DateTimeField()
    location = serializers.CharField()
    description = serializers.CharField(help_text="Phone numbers and signers masked.")


class PublicTrackingSerializer(serializers.Serializer):
    """What anyone holding the waybill and the applicant's code may see: no one's name,
    phone or address."""

    waybill_no = serializers.CharField()
    courier = serializers.CharField()
    status = serializers.ChoiceField(choices=ShipmentStatus.choices)
    events = PublicEventSerializer(many=True)


# The normalised courier push


class OffsetDateTimeField(serializers.DateTimeField):
    """An ISO 8601 time that states its offset: a courier's local time is ambiguous."""

    def to_internal_value(self, value) -> datetime:
        moment = super().to_internal_value(value)
        written = parse_datetime(value) if isinstance(value, str) else None
        if written is None or written.tzinfo is None:
            self.fail("no_offset")
        return moment

    default_error_messages = {"no_offset": "State the UTC offset, as 2026-11-25T09:30:00+08:00."}


class CourierScanSerializer(serializers.Serializer):
    waybill_no = waybill_field()
    event_time = OffsetDateTimeField(help_text="ISO 8601 with its UTC offset.")
    code = serializers.ChoiceField(choices=[str(code) for code in SCAN_CODES])
    reason = serializers.ChoiceField(
        choices=[str(reason) for reason in FailureReason],
        required=False,
        default="",
        help_text="Why, on delivery_failed or on_hold only (other when not said).",
    )
    location = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    description = serializers.CharField(
        max_length=500, required=False, default="", allow_blank=True
    )
    signer = serializers.CharField(
        max_length=40,
        required=False,
        default="",
        allow_blank=True,
        help_text="Who signed, on delivered only; stored encrypted, shown masked.",
    )

    def validate(self, attrs):
        if attrs["reason"] and attrs["code"] not in CODES_WITH_REASON:
            raise serializers.ValidationError({"reason": ["Only on delivery_failed or on_hold."]})
        if attrs["signer"] and attrs["code"] != "delivered":
            raise serializers.ValidationError({"signer": ["Only on delivered."]})
        return attrs


class CourierScansSerializer(serializers.Serializer):
    events = serializers.ListField(child=CourierScanSerializer(), min_length=1, max_length=100)


class CourierScansReceivedSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text="Scans kept; each is applied once.")
