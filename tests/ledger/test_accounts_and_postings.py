"""Accounts are permanent, so a process keeps their ids once committed; a posting is
inserted with its entries once per (kind, reference), in one statement without a savepoint."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from ledger import services as ledger
from ledger.models import LedgerAccount, LedgerEntry, LedgerPosting

pytestmark = pytest.mark.django_db(transaction=True)  # what commits, and what does not

DAY = date(2026, 12, 7)


def post(reference: str, amount: int = 500) -> LedgerPosting:
    with transaction.atomic():
        return ledger.ledger_post(
            kind="payment",
            reference=reference,
            business_date=DAY,
            legs=[
                ledger.Leg(ledger.clearing_account("alipay"), debit=amount),
                ledger.Leg(ledger.department_payable_account("D1"), credit=amount),
            ],
        )


def test_an_account_committed_is_found_again_without_a_query():
    created = ledger.clearing_account("alipay")

    with CaptureQueriesContext(connection) as captured:
        again = ledger.clearing_account("alipay")

    assert captured.captured_queries == []
    assert (again.pk, again.code, again.name, again.kind) == (
        created.pk,
        created.code,
        created.name,
        created.kind,
    )


def test_an_account_created_in_a_transaction_rolled_back_is_not_kept():
    with pytest.raises(RuntimeError), transaction.atomic():
        ledger.clearing_account("alipay")
        raise RuntimeError("rolled back")
    assert not LedgerAccount.objects.exists()

    posting = post("pay_after_rollback")

    account = LedgerAccount.objects.get(code="clearing:alipay")
    assert posting.entries.filter(account=account, debit=500).exists()


def test_accounts_cannot_be_changed_or_deleted():
    account = ledger.payer_refunds_due_account()

    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerAccount.objects.filter(pk=account.pk).update(code="refunds_due:others")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        LedgerAccount.objects.filter(pk=account.pk).delete()
    assert LedgerAccount.objects.get(pk=account.pk).code == "refunds_due:payers"


def test_a_posting_is_one_statement_and_a_repeat_returns_the_first():
    post("pay_warm")  # the accounts, committed
    with CaptureQueriesContext(connection) as captured:
        first = post("pay_1")
    again = post("pay_1", amount=700)

    sql = [q["sql"] for q in captured.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    assert len(sql) == 1, sql  # the posting with its entries
    assert not [text for text in sql if "SAVEPOINT" in text.upper()]
    assert again.pk == first.pk
    assert (again.kind, again.reference, again.business_date) == ("payment", "pay_1", DAY)
    assert sorted(LedgerEntry.objects.filter(posting=first).values_list("debit", "credit")) == [
        (0, 500),
        (500, 0),
    ]
