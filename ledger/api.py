"""The ledger's API: the trial balance of one business date.

An account's balance and postings (``GET ledger/accounts/{code}``) are served by
reconciliation/api/ledger_accounts.py, which knows the departments that scope them.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api_fields import BusinessDateField
from core.auth import OperationAccess
from core.schema import errors
from ledger import selectors


class TrialBalanceQuery(serializers.Serializer):
    business_date = BusinessDateField()


class TrialBalanceLine(serializers.Serializer):
    account = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    debit = serializers.IntegerField()
    credit = serializers.IntegerField()


class TrialBalanceSerializer(serializers.Serializer):
    business_date = serializers.DateField()
    accounts = TrialBalanceLine(many=True)
    total_debit = serializers.IntegerField()
    total_credit = serializers.IntegerField()
    balanced = serializers.BooleanField()


class TrialBalance(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="ledger_trial_balance",
        parameters=[TrialBalanceQuery],
        responses={200: TrialBalanceSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = TrialBalanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        report = selectors.trial_balance(query.validated_data["business_date"])
        return Response(TrialBalanceSerializer(report).data)


urlpatterns = [path("ledger/trial-balance", TrialBalance.as_view(), name="trial-balance")]
