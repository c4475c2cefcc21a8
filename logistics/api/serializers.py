"""Input and output shapes of the shipment API."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.api.serializers import MAX_FEN, PHONE, BusinessDateField, PayerInputSerializer
from integrations.couriers.registry import COURIER_CODES
from logistics import states
from logistics.couriers import AUTO
from logistics.models import (
    Consolidation,
    FreightPayer,
    ItemKind,
    Shipment,
    ShipmentItem,
    ShipmentKind,
    ShipmentStatus,
    TrackingEvent,
    UndeliverableRule,
)

UNDELIVERABLE_CHOICES = ("hold", "return", "redeliver")


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
    courier = serializers.ChoiceField(choices=[AUTO, *COURIER_CODES], default=AUTO)
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

    def validate(self, attrs):
        attrs.setdefault("undeliverable_rule", settings.LOGISTICS["default_undeliverable_rule"])
        return attrs


class ShipmentItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShipmentItem
        fields = ["kind", "title", "issuing_agency", "number", "copies"]


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

    class Meta:
        model = Shipment
        fields = [
            "id",
            "kind",
            "case_number",
            "department",
            "consolidation",
            "parallel_approval_id",
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

    class Meta(ShipmentSerializer.Meta):
        fields = [
            *ShipmentSerializer.Meta.fields,
            "freight_payment_code",
            "freight_verification_code",
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
    courier = serializers.ChoiceField(choices=COURIER_CODES, required=False)
    waybill_no = serializers.CharField(max_length=40, required=False)
    created_from = BusinessDateField(required=False)
    created_to = BusinessDateField(required=False)
    at_risk = serializers.BooleanField(required=False, allow_null=True, default=None)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    stale = serializers.BooleanField(required=False, allow_null=True, default=None)


class UndeliverableChoiceSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=UNDELIVERABLE_CHOICES)


class ProofSerializer(serializers.Serializer):
    image_ref = serializers.CharField(max_length=500)
