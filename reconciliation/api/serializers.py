"""Input and output shapes of the reconciliation API."""

from __future__ import annotations

from rest_framework import serializers

from core.api_fields import BusinessDateField
from reconciliation.models import (
    Clearing,
    Discrepancy,
    DiscrepancyComment,
    DiscrepancyStatus,
    DiscrepancyType,
    ReconciliationRun,
    RunStatus,
)
from reconciliation.services.resolution import ACTIONS

ALL_PARTIES = "all"


class RunRequestSerializer(serializers.Serializer):
    business_date = BusinessDateField()
    party = serializers.CharField(max_length=60, help_text=f"A party code, or {ALL_PARTIES!r}.")


class RunSerializer(serializers.ModelSerializer):
    statement_sha256 = serializers.CharField(
        source="statement.sha256", default=None, allow_null=True
    )

    class Meta:
        model = ReconciliationRun
        fields = [
            "id",
            "business_date",
            "party",
            "party_kind",
            "status",
            "step",
            "progress",
            "totals",
            "error",
            "statement_sha256",
            "tries",
            "requested_by",
            "started_at",
            "finished_at",
        ]


class RunFilterSerializer(serializers.Serializer):
    business_date = BusinessDateField(required=False)
    party = serializers.CharField(max_length=60, required=False)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)


class CommentSerializer(serializers.ModelSerializer):
    class Meta:
        model = DiscrepancyComment
        fields = ["author", "text", "created_at"]


class DiscrepancySerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="department.code", default=None, allow_null=True)
    assignee = serializers.CharField(source="assignee.username", default=None, allow_null=True)
    run = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Discrepancy
        fields = [
            "id",
            "run",
            "business_date",
            "party",
            "type",
            "key",
            "kind",
            "department",
            "our_ref",
            "their_ref",
            "our_amount",
            "their_amount",
            "owner",
            "status",
            "assignee",
            "proposal",
            "proposed_by",
            "resolved_by",
            "resolution",
            "resolved_at",
            "created_at",
        ]


class DiscrepancyDetailSerializer(DiscrepancySerializer):
    comments = CommentSerializer(many=True)

    class Meta(DiscrepancySerializer.Meta):
        fields = [*DiscrepancySerializer.Meta.fields, "comments"]


class DiscrepancyFilterSerializer(serializers.Serializer):
    business_date = BusinessDateField(required=False)
    party = serializers.CharField(max_length=60, required=False)
    type = serializers.ChoiceField(choices=DiscrepancyType.choices, required=False)
    status = serializers.ChoiceField(choices=DiscrepancyStatus.choices, required=False)
    department = serializers.CharField(max_length=32, required=False)
    owner = serializers.CharField(max_length=40, required=False)
    assignee = serializers.CharField(max_length=150, required=False)


class AssignSerializer(serializers.Serializer):
    assignee = serializers.CharField(max_length=150)


class CommentInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000)


class ProposalSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=list(ACTIONS))
    note = serializers.CharField(max_length=1000)
    amount = serializers.IntegerField(min_value=0, max_value=10**13, default=0)
    debit_account = serializers.CharField(max_length=80, required=False, default="")
    credit_account = serializers.CharField(max_length=80, required=False, default="")


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class StatementUploadSerializer(serializers.Serializer):
    party = serializers.CharField(max_length=60)
    business_date = BusinessDateField()
    file = serializers.FileField(max_length=200, allow_empty_file=False)


class StatementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    party = serializers.CharField()
    business_date = serializers.DateField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    source = serializers.CharField()


class ClearingSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="department.code")
    department_name = serializers.CharField(source="department.name")

    class Meta:
        model = Clearing
        fields = [
            "business_date",
            "processor",
            "department",
            "department_name",
            "settlement_date",
            "payments_count",
            "payments_amount",
            "refunds_amount",
            "fees_amount",
            "net_amount",
            "arrival",
            "credited_amount",
            "bank_refs",
        ]


class ClearingFilterSerializer(serializers.Serializer):
    business_date = BusinessDateField()
