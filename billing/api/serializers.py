"""Input and output shapes of the payment-order API."""

from __future__ import annotations

import re

from django.conf import settings
from rest_framework import serializers

from billing.id_numbers import is_valid_credit_code, is_valid_resident_id
from billing.models import AttemptStatus, ChargeStage, OrderStatus, PayerType, PaymentOrder
from billing.payment_codes import payment_code_format
from billing.routing import AUTO
from billing.webhook_targets import RefusedTarget, checked_url
from core.api_fields import BusinessDateField, DeclaredSerializer, FenField
from integrations.payments.registry import CHANNEL_CODES

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
# The processors' limit on a return address (Alipay's return_url, UnionPay's frontUrl).
MAX_RETURN_URL = 256
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
    amount = serializers.IntegerField(
        min_value=0,
        max_value=MAX_FEN,
        help_text="Charged per unit, in fen: the standard, or what the waiver rule gives.",
    )
    standard_amount = serializers.IntegerField(
        min_value=0,
        max_value=MAX_FEN,
        required=False,
        allow_null=True,
        default=None,
        help_text="The standard per unit before any waiver, in fen. For a fee item charged "
        "within a range, the amount assessed in it, required with a waiver; for a fixed "
        "standard, it may be left out.",
    )
    waiver_reason = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The code of one of the fee item's waiver rules (减免). The amount is then "
        "what the rule gives: half the standard (half a fen rounded up), zero when exempt, "
        "the rule's reduced amount, or any amount below the standard where the rule allows.",
    )
    waiver_approved_by = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Who approved the waiver; required with a waiver_reason.",
    )
    waiver_approval_ref = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The approval's reference (审批单号); required with a waiver_reason.",
    )


class PaymentOrderCreateSerializer(DeclaredSerializer):
    case_number = serializers.CharField(max_length=64)
    service_item_code = serializers.CharField(
        max_length=64,
        help_text="事项编码 of an active service item (GET /api/v1/service-items) that charges "
        "every line's fee item; one declared free of charge (不收费) takes no order. A freight "
        "order's code is recorded unchecked.",
    )
    stage = serializers.ChoiceField(
        choices=ChargeStage.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="The stage of the case the lines are charged at; when left out, the one "
        "stage the service item charges them at.",
    )
    department = serializers.CharField(max_length=32)
    region_code = serializers.RegexField(r"^\d{6}$", error_messages={"invalid": "Six digits."})
    payer = PayerInputSerializer()
    lines = serializers.ListField(child=LineInputSerializer(), min_length=1, max_length=100)
    expires_at = serializers.DateTimeField(required=False)


# The output serializers declare every field: a ModelSerializer rebuilds its fields from the
# model each time it is used, about a twentieth of an order's CPU.
# tests/billing/test_output_shapes.py keeps them publishing what the model holds.
# DeclaredSerializer: the fields copied shallowly for each use (core/api_fields.py).


class PublicOrderLineSerializer(DeclaredSerializer):
    fee_item = serializers.CharField(source="fee_item.code")
    fee_item_name = serializers.CharField(source="fee_item.name")
    quantity = serializers.IntegerField(min_value=0, max_value=2**31 - 1)
    unit_amount = FenField(help_text="Charged per unit, in fen.")
    amount = FenField(help_text="quantity × unit_amount, in fen.")
    standard_unit_amount = FenField(
        allow_null=True,
        help_text="The standard per unit before any waiver, in fen; null only for waived "
        "lines made before it was kept.",
    )
    waiver_reason = serializers.CharField(max_length=200)


class PaymentOrderLineSerializer(PublicOrderLineSerializer):
    waiver_approved_by = serializers.CharField(max_length=100)
    waiver_approval_ref = serializers.CharField(max_length=64)


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
    stage = serializers.ChoiceField(choices=ChargeStage.choices, allow_blank=True)
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
    return_url = serializers.CharField(
        max_length=MAX_RETURN_URL,
        required=False,
        default="",
        help_text="Where the cashier sends the payer back after paying: an absolute http(s) "
        "URL without query or fragment (Alipay takes no parameters of the merchant's there), "
        f"at most {MAX_RETURN_URL} characters. The return proves nothing: the order's status "
        "and webhook do.",
    )
    payer_ip = serializers.IPAddressField(
        required=False,
        default="",
        help_text="The payer's browser address. With a return_url, WeChat Pay uses its "
        "mobile-browser cashier (H5), which needs it; without, a QR code the portal's page shows.",
    )

    def validate_return_url(self, value: str) -> str:
        if not value:
            return value
        try:
            parts = checked_url(value, allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK)
        except RefusedTarget as exc:
            raise serializers.ValidationError(str(exc)) from exc
        if parts.query or parts.fragment or value.endswith(("?", "#")):
            raise serializers.ValidationError("The URL must have no query string or fragment.")
        return value


class PaymentAttemptSerializer(DeclaredSerializer):
    id = serializers.CharField(source="public_id")
    order = serializers.CharField(source="order.public_id")
    channel = serializers.CharField(max_length=32)
    status = serializers.ChoiceField(choices=AttemptStatus.choices)
    amount = FenField()
    pay_url = serializers.URLField(max_length=2000)
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
    lines = PublicOrderLineSerializer(many=True)
    expires_at = serializers.DateTimeField()

    def get_payer_name(self, order: PaymentOrder) -> str:
        name = order.payer_name
        return name[0] + "*" * (len(name) - 1) if name else ""
