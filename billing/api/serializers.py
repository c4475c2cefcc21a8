"""Input and output shapes of the payment-order API."""

from __future__ import annotations

import re

from rest_framework import serializers

from billing.id_numbers import is_valid_credit_code, is_valid_resident_id
from billing.models import AttemptStatus, OrderStatus, PayerType, PaymentOrder
from billing.payment_codes import payment_code_format
from billing.routing import AUTO
from core.api_fields import BusinessDateField, DeclaredSerializer, FenField
from integrations.payments.registry import CHANNEL_CODES

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
MAX_FEN = 10**13  # 1,000 億 yuan: far above any fee, far below 64-bit overflow


def normalize_id_number(value: str) -> str:
    return value.strip().upper()


class PayerInputSerializer(DeclaredSerializer):
    type = serializers.ChoiceField(choices=PayerType.choices)
    name = serializers.CharField(max_length=200)
    id_number = serializers.CharField(
        max_length=18, help_text="Resident ID (natural) or unified social credit code (legal)."
    )
    phone = serializers.CharField(max_length=20, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        number = normalize_id_number(attrs["id_number"])
        natural = attrs["type"] == PayerType.NATURAL
        if not (is_valid_resident_id(number) if natural else is_valid_credit_code(number)):
            kind = "resident ID number" if natural else "unified social credit code"
            raise serializers.ValidationError({"id_number": [f"Not a valid {kind} (check digit)."]})
        attrs["id_number"] = number
        phone = attrs.get("phone", "").strip()
        if phone and not PHONE.match(phone):
            raise serializers.ValidationError(
                {"phone": ["Not a mainland mobile or landline number."]}
            )
        attrs["phone"] = phone
        return attrs


class LineInputSerializer(DeclaredSerializer):
    fee_item = serializers.CharField(max_length=32)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)
    amount = serializers.IntegerField(min_value=0, max_value=MAX_FEN, help_text="Per unit, in fen.")
    waiver_reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class PaymentOrderCreateSerializer(DeclaredSerializer):
    case_number = serializers.CharField(max_length=64)
    service_item_code = serializers.CharField(max_length=64)
    department = serializers.CharField(max_length=32)
    region_code = serializers.RegexField(r"^\d{6}$", error_messages={"invalid": "Six digits."})
    payer = PayerInputSerializer()
    lines = serializers.ListField(child=LineInputSerializer(), min_length=1, max_length=100)
    expires_at = serializers.DateTimeField(required=False)


# The output serializers declare every field: a ModelSerializer rebuilds its fields from the
# model each time it is used, about a twentieth of an order's CPU.
# tests/billing/test_output_shapes.py keeps them publishing what the model holds.
# DeclaredSerializer: the fields copied shallowly for each use (core/api_fields.py).


class PaymentOrderLineSerializer(DeclaredSerializer):
    fee_item = serializers.CharField(source="fee_item.code")
    fee_item_name = serializers.CharField(source="fee_item.name")
    quantity = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    unit_amount = FenField(help_text="Charged per unit, in fen.")
    amount = FenField(help_text="quantity × unit_amount, in fen.")
    waiver_reason = serializers.CharField(max_length=200)


class PayerOutputSerializer(DeclaredSerializer):
    type = serializers.CharField(source="payer_type")
    name = serializers.CharField(source="payer_name")
    id_number = serializers.CharField(source="payer_id_number_masked", help_text="Masked.")


class PaymentOrderSerializer(DeclaredSerializer):
    id = serializers.CharField(source="public_id")
    payment_code = serializers.CharField(max_length=32)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    amount = FenField(help_text="Total in fen.")
    currency = serializers.CharField(max_length=3)
    case_number = serializers.CharField(max_length=64)
    service_item_code = serializers.CharField(max_length=64)
    department = serializers.CharField(source="department.code")
    region_code = serializers.CharField(max_length=6)
    payer = PayerOutputSerializer(source="*")
    lines = PaymentOrderLineSerializer(many=True)
    expires_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    refunded_amount = FenField()
    created_at = serializers.DateTimeField()


class PaymentOrderCreatedSerializer(PaymentOrderSerializer):
    verification_code = serializers.CharField(
        help_text="Shown once: printed on the slip, needed for the public lookup by payment code."
    )


class PaymentOrderFilterSerializer(serializers.Serializer):
    case_number = serializers.CharField(max_length=64, required=False)
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    department = serializers.CharField(max_length=32, required=False)
    payer_id_number = serializers.CharField(max_length=18, required=False)
    created_from = BusinessDateField(required=False)
    created_to = BusinessDateField(required=False)

    def validate_payer_id_number(self, value: str) -> str:
        return normalize_id_number(value)


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class PaymentStartSerializer(DeclaredSerializer):
    channel = serializers.ChoiceField(
        choices=[*CHANNEL_CODES, AUTO], help_text="A channel code, or auto: the router chooses."
    )


class PaymentAttemptSerializer(DeclaredSerializer):
    id = serializers.CharField(source="public_id")
    order = serializers.CharField(source="order.public_id")
    channel = serializers.CharField(max_length=32)
    status = serializers.ChoiceField(choices=AttemptStatus.choices)
    amount = FenField()
    pay_url = serializers.URLField(max_length=1000)
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class PaymentCodeLookupSerializer(serializers.Serializer):
    payment_code = serializers.CharField(max_length=32)
    verification_code = serializers.RegexField(r"^\d{6}$")

    def validate_payment_code(self, value: str) -> str:
        if not payment_code_format().is_valid(value):
            raise serializers.ValidationError("Not a valid payment code (length or check digit).")
        return value


class PublicOrderSerializer(DeclaredSerializer):
    """What anyone holding the slip may see: no payer identity beyond a masked name."""

    payment_code = serializers.CharField(max_length=32)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    amount = FenField(help_text="Total in fen.")
    currency = serializers.CharField(max_length=3)
    department_name = serializers.CharField(source="department.name")
    payer_name = serializers.SerializerMethodField()
    lines = PaymentOrderLineSerializer(many=True)
    expires_at = serializers.DateTimeField()

    def get_payer_name(self, order: PaymentOrder) -> str:
        name = order.payer_name
        return name[0] + "*" * (len(name) - 1) if name else ""
