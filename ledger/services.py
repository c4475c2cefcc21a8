"""Postings to the double-entry ledger, and the accounts they post to.

Callers are inside their own transaction. The kinds of posting, each once per reference:

- ``payment``: a payment settling its order: clearing:<channel> Dr, payable:<department>
  (freight_payable:<department> for freight) Cr; ``unsettled_payment``: money that cannot
  settle its order, owed back: clearing:<channel> Dr, refunds_due:payers Cr;
- ``refund``: the money back to the payer through the channel, which takes it out of what
  it transfers: payable:<department> (or freight_payable, refunds_due) Dr, clearing Cr;
- ``processor_fee``: a processor's fees on a department's clearing of a business date,
  posted when that clearing is stored: expense:processor_fees:<processor> Dr, clearing Cr
  (a fee given back on a refund can make it the other way round);
- ``bank_credit``: a clearing batch (a processor's transfer to a department for a
  settlement date) credited to the settlement account, posted when the bank leg sees it:
  bank:<account> Dr, clearing:<processor> Cr;
- ``courier_freight``: the freight applicants paid for a courier's shipments of a day, owed
  to the courier once its freight bill is reconciled: freight_payable:<department> Dr,
  payable:courier:<code> Cr. Paying the courier (a transfer from the department's account)
  is outside the service: the payable's balance is what is owed;
- ``adjustment``: a discrepancy's resolution approved by a second person;
- ``<kind>_reversal``: a restated figure's earlier posting reversed (``ledger_restate``).

After a day's payments, refunds, fees and bank credits, clearing:<processor> holds only
what the processor has not transferred yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import partial

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger.models import LedgerAccount, LedgerEntry, LedgerPosting

REVERSAL = "_reversal"  # the kind of a restated posting's reversal: <kind>_reversal


class UnbalancedPosting(ValueError):
    pass


@dataclass(frozen=True)
class Leg:
    account: LedgerAccount
    debit: int = 0
    credit: int = 0


def moving(amount: int, *, debit: LedgerAccount, credit: LedgerAccount) -> list[Leg]:
    """The two legs of ``amount`` moving into ``debit`` out of ``credit``; a negative amount
    moves the other way."""
    if amount < 0:
        debit, credit, amount = credit, debit, -amount
    return [Leg(debit, debit=amount), Leg(credit, credit=amount)]


def clearing_account(channel: str) -> LedgerAccount:
    return _account(f"clearing:{channel}", f"Clearing at {channel}", LedgerAccount.Kind.ASSET)


def department_payable_account(department_code: str) -> LedgerAccount:
    return _account(
        _payable_code(department_code),
        f"Payable to department {department_code}",
        LedgerAccount.Kind.LIABILITY,
    )


def freight_payable_account(department_code: str) -> LedgerAccount:
    return _account(
        _freight_payable_code(department_code),
        f"Freight collected by {department_code}, owed to couriers",
        LedgerAccount.Kind.LIABILITY,
    )


def payer_refunds_due_account() -> LedgerAccount:
    return _account("refunds_due:payers", "Owed back to payers", LedgerAccount.Kind.LIABILITY)


def processor_fees_account(processor: str) -> LedgerAccount:
    return _account(
        f"expense:processor_fees:{processor}",
        f"Fees charged by {processor}",
        LedgerAccount.Kind.EXPENSE,
    )


def bank_account(account_number: str) -> LedgerAccount:
    return _account(
        _bank_code(account_number),
        f"Settlement account {account_number}",
        LedgerAccount.Kind.ASSET,
    )


def courier_payable_account(courier: str) -> LedgerAccount:
    return _account(
        f"payable:courier:{courier}",
        f"Freight owed to courier {courier}",
        LedgerAccount.Kind.LIABILITY,
    )


def department_account_codes(department_code: str, settlement_account: str) -> set[str]:
    """The accounts that are one department's: what is owed to it, the freight it collected,
    and the settlement account its money arrives in."""
    return {
        _payable_code(department_code),
        _freight_payable_code(department_code),
        _bank_code(settlement_account),
    }


def _payable_code(department_code: str) -> str:
    return f"payable:{department_code}"


def _freight_payable_code(department_code: str) -> str:
    return f"freight_payable:{department_code}"


def _bank_code(account_number: str) -> str:
    return f"bank:{account_number}"


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


def ledger_restate(
    *, kind: str, reference: str, business_date: date, legs: list[Leg], memo: str = ""
) -> LedgerPosting | None:
    """The one standing posting of a figure that a later run may find otherwise (a fee, a
    bank credit), never edited.

    The same figure posts nothing. Another one reverses the standing posting (a
    ``<kind>_reversal`` of its reference, on its business date) and posts the figure as the
    next version of the reference (``<reference>#2``, ``#3``, ...). Legs of nothing are left
    out; with none left, nothing stands. Returns the standing posting, if any.

    Callers serialise the restatements of one figure (a reconciliation run holds its lock).
    """
    legs = [leg for leg in legs if leg.debit or leg.credit]
    versions = LedgerPosting.objects.filter(kind=kind).filter(
        Q(reference=reference) | Q(reference__startswith=f"{reference}#")
    )
    standing = versions.order_by("-id").first()  # the latest version, unless reversed
    if (
        standing is not None
        and LedgerPosting.objects.filter(
            kind=f"{kind}{REVERSAL}", reference=standing.reference
        ).exists()
    ):
        standing = None
    if standing is not None and _entries(standing) == sorted(
        (leg.account.pk, leg.debit, leg.credit) for leg in legs
    ):
        return standing
    if standing is not None:
        _reverse(standing)
    if not legs:
        return None
    version = versions.count() + 1
    return ledger_post(
        kind=kind,
        reference=reference if version == 1 else f"{reference}#{version}",
        business_date=business_date,
        legs=legs,
        memo=memo,
    )


def _entries(posting: LedgerPosting) -> list[tuple[int, int, int]]:
    return sorted(posting.entries.values_list("account_id", "debit", "credit"))


def _reverse(posting: LedgerPosting) -> LedgerPosting:
    return ledger_post(
        kind=f"{posting.kind}{REVERSAL}",
        reference=posting.reference,
        business_date=posting.business_date,
        memo=f"reverses {posting.kind}:{posting.reference}",
        legs=[
            Leg(entry.account, debit=entry.credit, credit=entry.debit)
            for entry in posting.entries.select_related("account")
        ],
    )


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
