"""Postings to the double-entry ledger, and the accounts they post to.

Callers are inside their own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db import transaction
from django.utils import timezone

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


# code -> (id, name, kind) of accounts committed: an account is never changed nor deleted
# (the database refuses both: ledger/migrations/0002), so what committed stays true.
_committed_accounts: dict[str, tuple[int, str, str]] = {}


def _account(code: str, name: str, kind: str) -> LedgerAccount:
    known = _committed_accounts.get(code)
    if known is not None:
        return LedgerAccount(id=known[0], code=code, name=known[1], kind=known[2])
    account, _ = LedgerAccount.objects.get_or_create(
        code=code, defaults={"name": name, "kind": kind}
    )
    # Kept once the transaction that created or read it commits: one rolled back may have
    # created an account that does not exist.
    row = (account.pk, account.name, account.kind)
    transaction.on_commit(partial(_committed_accounts.__setitem__, code, row))
    return account


def forget_accounts(**_: object) -> None:
    """Called when the database is emptied (``flush``): the ids it had are gone."""
    _committed_accounts.clear()


def ledger_post(
    *, kind: str, reference: str, business_date: date, legs: list[Leg], memo: str = ""
) -> LedgerPosting:
    """Append one balanced posting, once per (kind, reference)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("ledger_post must run inside the transaction of the change it records")
    if sum(leg.debit for leg in legs) != sum(leg.credit for leg in legs) or len(legs) < 2:
        raise UnbalancedPosting(f"posting {kind}:{reference} does not balance")
    posting = LedgerPosting(kind=kind, reference=reference, business_date=business_date, memo=memo)
    if not _inserted_once(posting, legs):
        return LedgerPosting.objects.get(kind=kind, reference=reference)
    return posting


def _inserted_once(posting: LedgerPosting, legs: list[Leg]) -> bool:
    """Insert the posting and its entries in one statement, unless a posting of its (kind,
    reference) exists: no savepoint needed, as a conflict is no error. On a conflict with a
    posting not yet committed, PostgreSQL waits for that transaction's outcome."""
    posting.created_at = timezone.now()
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(
            _POST_SQL,
            [
                posting.kind,
                posting.reference,
                posting.business_date,
                posting.memo,
                posting.created_at,
                [leg.account.pk for leg in legs],
                [leg.debit for leg in legs],
                [leg.credit for leg in legs],
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return False
    posting.pk = row[0]
    posting._state.adding = False
    posting._state.db = transaction.get_connection().alias
    return True


# Entries are inserted only for a posting inserted: none on a conflict.
_POST_SQL = (
    f"WITH posting AS (INSERT INTO {LedgerPosting._meta.db_table} "  # noqa: S608 (the models')
    "(kind, reference, business_date, memo, created_at) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (kind, reference) DO NOTHING RETURNING id), "
    f"entries AS (INSERT INTO {LedgerEntry._meta.db_table} (posting_id, account_id, debit, credit) "
    "SELECT posting.id, leg.account_id, leg.debit, leg.credit FROM posting, "
    "unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS leg (account_id, debit, credit)) "
    "SELECT id FROM posting"
)
