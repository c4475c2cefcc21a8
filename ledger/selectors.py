"""Reads of the ledger that are more than a one-line queryset."""

from __future__ import annotations

from datetime import date

from django.db.models import Sum
from django.db.models.functions import Coalesce

from ledger.models import LedgerAccount, LedgerEntry


def trial_balance(business_date: date) -> dict:
    """Per-account debits and credits posted for one business date, with totals."""
    rows = (
        LedgerEntry.objects.filter(posting__business_date=business_date)
        .values("account_id")
        .annotate(debit=Coalesce(Sum("debit"), 0), credit=Coalesce(Sum("credit"), 0))
        .order_by()
    )
    accounts = LedgerAccount.objects.in_bulk([row["account_id"] for row in rows])
    lines = sorted(
        (
            {
                "account": accounts[row["account_id"]].code,
                "name": accounts[row["account_id"]].name,
                "kind": accounts[row["account_id"]].kind,
                "debit": row["debit"],
                "credit": row["credit"],
            }
            for row in rows
        ),
        key=lambda line: line["account"],
    )
    total_debit = sum(line["debit"] for line in lines)
    total_credit = sum(line["credit"] for line in lines)
    return {
        "business_date": business_date,
        "accounts": lines,
        "total_debit": total_debit,
        "total_credit": total_credit,
        "balanced": total_debit == total_credit,
    }
