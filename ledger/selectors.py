"""Reads of the ledger that are more than a one-line queryset."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet, Sum
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


def account_balance(account: LedgerAccount, as_of: date) -> dict:
    """The account's debits, credits and balance over the postings of business dates up to
    ``as_of``: debits − credits for an asset or expense, credits − debits for a liability."""
    totals = LedgerEntry.objects.filter(
        account=account, posting__business_date__lte=as_of
    ).aggregate(debit=Coalesce(Sum("debit"), 0), credit=Coalesce(Sum("credit"), 0))
    return {**totals, "balance": _signed(account, totals["debit"], totals["credit"])}


def account_entries(account: LedgerAccount, as_of: date) -> QuerySet[LedgerEntry]:
    """The account's entries of business dates up to ``as_of``, with their postings."""
    return LedgerEntry.objects.filter(
        account=account, posting__business_date__lte=as_of
    ).select_related("posting")


def with_running_balances(
    account: LedgerAccount, as_of: date, balance: int, page: list[LedgerEntry]
) -> list[LedgerEntry]:
    """A page of ``account_entries``, newest first, each with ``running_balance``: the
    balance once it and every entry before it (by id) were posted. ``balance`` is the
    account's as of the date: the newer entries, above the page, are taken back out of it."""
    if page:
        newer = account_entries(account, as_of).filter(id__gt=page[0].id)
        totals = newer.aggregate(debit=Coalesce(Sum("debit"), 0), credit=Coalesce(Sum("credit"), 0))
        balance -= _signed(account, totals["debit"], totals["credit"])
    for entry in page:
        entry.running_balance = balance
        balance -= _signed(account, entry.debit, entry.credit)
    return page


def _signed(account: LedgerAccount, debit: int, credit: int) -> int:
    return debit - credit if account.debit_normal else credit - debit
