"""A ledger account's balance as of a business date, and its postings.

Served here rather than by the ledger's own API (ledger/api.py): department-scoped staff
see only their departments' accounts, and the ledger knows nothing of departments.
"""

from __future__ import annotations

from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.models import Department
from core.api import NewestFirstPages, page_parameters
from core.api_fields import BusinessDateField
from core.auth import OperationAccess, Principal
from core.errors import NotFound
from core.money import business_date_of
from core.schema import errors
from ledger import selectors as ledger
from ledger.models import LedgerAccount
from ledger.services import department_account_codes
from reconciliation.selectors import department_scope


class AccountQuery(serializers.Serializer):
    as_of = BusinessDateField(
        required=False,
        help_text="The business date (YYYY-MM-DD, Asia/Shanghai) the balance is of; today "
        "by default.",
    )


class AccountEntrySerializer(serializers.Serializer):
    kind = serializers.CharField(source="posting.kind")
    reference = serializers.CharField(source="posting.reference")
    business_date = serializers.DateField(source="posting.business_date")
    memo = serializers.CharField(source="posting.memo")
    posted_at = serializers.DateTimeField(source="posting.created_at")
    debit = serializers.IntegerField(help_text="In fen.")
    credit = serializers.IntegerField(help_text="In fen.")
    running_balance = serializers.IntegerField(
        help_text="The account's balance once this entry and every one before it were posted."
    )


class AccountSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=LedgerAccount.Kind.choices)
    as_of = serializers.DateField()
    debit = serializers.IntegerField(help_text="Debits up to the date, in fen.")
    credit = serializers.IntegerField(help_text="Credits up to the date, in fen.")
    balance = serializers.IntegerField(
        help_text="In fen: debits − credits for an asset or expense account, credits − "
        "debits for a liability."
    )
    next = serializers.URLField(allow_null=True, help_text="The next page of postings, if any.")
    previous = serializers.URLField(allow_null=True, help_text="The previous page, if any.")
    results = AccountEntrySerializer(
        many=True, help_text="The postings of business dates up to the date, newest first."
    )


class LedgerAccountDetail(APIView):
    permission_classes = [OperationAccess]

    @extend_schema(
        operation_id="ledger_accounts_retrieve",
        parameters=[AccountQuery, *page_parameters()],
        responses={200: AccountSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, code: str):
        query = AccountQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_of = query.validated_data.get("as_of") or business_date_of(timezone.now())
        account = _visible_account(request.user, code)
        pages = NewestFirstPages()
        page = pages.paginate_queryset(ledger.account_entries(account, as_of), request, self)
        totals = ledger.account_balance(account, as_of)
        body = {
            "code": account.code,
            "name": account.name,
            "kind": account.kind,
            "as_of": as_of,
            **totals,
            "next": pages.get_next_link(),
            "previous": pages.get_previous_link(),
            "results": ledger.with_running_balances(account, as_of, totals["balance"], page),
        }
        return Response(AccountSerializer(body).data)


def _visible_account(principal: Principal, code: str) -> LedgerAccount:
    """The account of that code, if the caller may see it: a department-scoped user sees
    the accounts of the departments in scope only."""
    account = LedgerAccount.objects.filter(code=code).first()
    departments = department_scope(principal)
    if account is not None and departments is not None:
        visible = set()
        for department_code, settlement_account in Department.objects.filter(
            pk__in=departments
        ).values_list("code", "settlement_account_number"):
            visible |= department_account_codes(department_code, settlement_account)
        account = account if account.code in visible else None
    if account is None:
        raise NotFound("No such ledger account.")
    return account


urlpatterns = [
    path("ledger/accounts/<str:code>", LedgerAccountDetail.as_view(), name="ledger-account")
]
