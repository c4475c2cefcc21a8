"""Output and filter shapes of the settlement report API."""

from __future__ import annotations

from rest_framework import serializers

from closing.models import (
    Remittance,
    ReportStatus,
    SettlementReport,
    SettlementReportLine,
)
from closing.services.reports import FIGURES
from core.api_fields import BusinessDateField


class ReportFilterSerializer(serializers.Serializer):
    business_date = BusinessDateField(required=False)
    department = serializers.CharField(max_length=32, required=False, help_text="Its code.")
    status = serializers.ChoiceField(choices=ReportStatus.choices, required=False)


class ReportLineSerializer(serializers.ModelSerializer):
    fee_item = serializers.CharField(source="fee_item_code")

    class Meta:
        model = SettlementReportLine
        fields = ["fee_item", "fee_item_name", *FIGURES]


class RemittanceSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    instruction_status = serializers.CharField(
        source="instruction.status",
        default=None,
        allow_null=True,
        help_text="The bank instruction (pain.001): sending, accepted, rejected or failed.",
    )

    class Meta:
        model = Remittance
        fields = [
            "id",
            "amount",
            "currency",
            "creditor_kind",
            "creditor_account",
            "creditor_name",
            "end_to_end_id",
            "execution_date",
            "instruction_status",
            "status",
            "seen_on",
            "seen_amount",
            "bank_ref",
            "overdue_on",
        ]


class SettlementReportSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    department = serializers.CharField(source="department.code")
    corrects = serializers.CharField(
        source="corrects.public_id",
        default=None,
        allow_null=True,
        help_text="The approved version this one corrects.",
    )
    lines = ReportLineSerializer(many=True, help_text="One per fee item, by its code.")
    remittance = RemittanceSerializer(
        default=None, allow_null=True, help_text="Ordered by the approval, if any."
    )

    class Meta:
        model = SettlementReport
        fields = [
            "id",
            "department",
            "business_date",
            "version",
            "corrects",
            "status",
            *FIGURES,
            "remitted_before",
            "generated_at",
            "prepared_by",
            "submitted_at",
            "approved_by",
            "approved_at",
            "returned_by",
            "returned_at",
            "return_reason",
            "lines",
            "remittance",
        ]
