"""The fee catalogue as the portal reads it."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.api.schema import errors
from billing.models import Department, FeeItem
from core.auth import OperationAccess


class DepartmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Department
        fields = ["code", "name", "region_code", "accepted_channels"]


class FeeItemSerializer(serializers.ModelSerializer):
    department = serializers.CharField(source="department.code")

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
            "waiver_reasons",
        ]


class DepartmentList(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="departments_list",
        responses={200: DepartmentSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        departments = Department.objects.filter(active=True)
        return Response(DepartmentSerializer(departments, many=True).data)


class FeeItemList(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="fee_items_list",
        parameters=[OpenApiParameter("department", str, description="Department code")],
        responses={200: FeeItemSerializer(many=True), **errors(401, 403)},
    )
    def get(self, request):
        items = FeeItem.objects.filter(active=True, department__active=True).select_related(
            "department"
        )
        department = request.query_params.get("department")
        if department:
            items = items.filter(department__code=department)
        return Response(FeeItemSerializer(items, many=True).data)


urlpatterns = [
    path("departments", DepartmentList.as_view(), name="departments"),
    path("fee-items", FeeItemList.as_view(), name="fee-items"),
]
