"""Postings to the double-entry ledger, and the accounts they post to.

Callers are inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db import IntegrityError, transaction

from ledger.models import LedgerAccount, LedgerEntry, LedgerPosting


class UnbalancedPosting(ValueError):
    pass


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    debit: int = 0
    credit: int = 0


def clearing_account(channel: str) -> LedgerAccount:
    return _account(f"clearing:{channel}", f"Clearing at {channel}", LedgerAccount.Kind.ASSET)


def department_payable_account(department_code: str) -> LedgerAccount:
    return _account(
        f"payable:{department_code}",
        f"Payable to department {department_code}",
        LedgerAccount.Kind.LIABILITY,
    )


def freight_payable_account(department_code: str) -> LedgerAccount:
    return _account(
        f"freight_payable:{department_code}",
        f"Freight collected by {department_code}, owed to couriers",
        LedgerAccount.Kind.LIABILITY,
    )


def payer_refunds_due_account() -> LedgerAccount:
    return _account("refunds_due:payers", "Owed back to payers", LedgerAccount.Kind.LIABILITY)


def _account(code: str, name: str, kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(
        code=code, defaults={"name": name, "kind": kind}
    )
    return account


def ledger_post(
    *, kind: str, reference: str, business_date: date, legs: list[Leg], memo: str = ""
) -> LedgerPosting:
    """Append one balanced posting, once per (kind, reference)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post must run inside the transaction of the change it records")
    if sum(leg.debit for leg in legs) != sum(leg.credit for leg in legs) or len(legs) < 2:
        raise UnbalancedPosting(f"posting {kind}:{reference} does not balance")
    existing = LedgerPosting.objects.filter(kind=kind, reference=reference).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            posting = LedgerPosting.objects.create(
                kind=kind, reference=reference, business_date=business_date, memo=memo
            )
    except IntegrityError:
        return LedgerPosting.objects.get(kind=kind, reference=reference)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(posting=posting, account=leg.account, debit=leg.debit, credit=leg.credit)
        for leg in legs
    )
    return posting
