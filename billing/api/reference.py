"""The fee and service-item catalogues as the portal reads them."""

from __future__ import annotations

from django.db.models import Prefetch
from django.urls import path
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.schema import errors
from billing.models import Department, FeeItem, ServiceItem, ServiceItemFee, WaiverRule
from core.auth import OperationAccess

DEPARTMENT_PARAMETER = OpenApiParameter("department", str, description="Department code")


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["code", "name", "region_code", "accepted_channels"]


class WaiverRuleSerializer(serializers.ModelSerializer):
    code = serializers.CharField(help_text="What an order line names as its waiver_reason.")

    class Meta:
        model = WaiverRule
        fields = ["code", "label", "kind", "reduced_amount"]


@extend_schema_serializer(deprecate_fields=["waiver_reasons"])
class FeeItemSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="department.code")
    waiver_rules = WaiverRuleSerializer(source="active_waiver_rules", many=True)
    waiver_reasons = serializers.SerializerMethodField(
        help_text="The codes of waiver_rules, as the catalogue listed them before it had rules."
    )

    class Meta:
        model = FeeItem
        fields = [
            "code",
            "name",
            "department",
            "legal_basis",
            "standard_amount",
            "min_amount",
            "max_amount",
            "waiver_rules",
            "waiver_reasons",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_waiver_reasons(self, item: FeeItem) -> list[str]:
        return [rule.code for rule in item.active_waiver_rules]


class ServiceItemFeeSerializer(serializers.ModelSerializer):
    fee_item = serializers.CharField(source="fee_item.code")
    fee_item_name = serializers.CharField(source="fee_item.name")

    class Meta:
        model = ServiceItemFee
        fields = ["fee_item", "fee_item_name", "stage"]


class ServiceItemSerializer(serializers.ModelSerializer):
    code = serializers.CharField(help_text="事项编码: what an order names as service_item_code.")
    department = serializers.CharField(source="department.code")
    fees = ServiceItemFeeSerializer(
        source="active_fees", many=True, help_text="Empty when the item declares no fee."
    )

    class Meta:
        model = ServiceItem
        fields = ["code", "name", "department", "no_fee", "fees"]


class DepartmentList(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="departments_list",
        responses={200: DepartmentSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        departments = Department.objects.filter(active=True)
        return Response(DepartmentSerializer(departments, many=True).data)


def in_department(request, queryset):
    department = request.query_params.get("department")
    return queryset.filter(department__code=department) if department else queryset


class FeeItemList(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="fee_items_list",
        parameters=[DEPARTMENT_PARAMETER],
        responses={200: FeeItemSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        items = (
            FeeItem.objects.filter(active=True, department__active=True)
            .select_related("department")
            .prefetch_related(
                Prefetch(
                    "waiver_rules",
                    queryset=WaiverRule.objects.filter(active=True),
                    to_attr="active_waiver_rules",
                )
            )
        )
        return Response(FeeItemSerializer(in_department(request, items), many=True).data)


class ServiceItemList(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="service_items_list",
        parameters=[DEPARTMENT_PARAMETER],
        responses={200: ServiceItemSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        items = (
            ServiceItem.objects.filter(active=True, department__active=True)
            .select_related("department")
            .prefetch_related(
                Prefetch(
                    "fees",
                    queryset=ServiceItemFee.objects.filter(fee_item__active=True).select_related(
                        "fee_item"
                    ),
                    to_attr="active_fees",
                )
            )
        )
        return Response(ServiceItemSerializer(in_department(request, items), many=True).data)


urlpatterns = [
    path("departments", DepartmentList.as_view(), name="departments"),
    path("fee-items", FeeItemList.as_view(), name="fee-items"),
    path("service-items", ServiceItemList.as_view(), name="service-items"),
]
