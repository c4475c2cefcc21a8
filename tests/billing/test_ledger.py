from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction

from ledger import services as ledger
from ledger.models import LedgerEntry, LedgerPosting

pytestmark = pytest.mark.django_db(transaction=True)


def accounts():
    return ledger.clearing_account("public_platform"), ledger.department_payable_account("D1")


def test_a_balanced_posting_is_committed_once_per_reference():
    clearing, payable = accounts()
    legs = [ledger.Leg(clearing, debit=500), ledger.Leg(payable, credit=500)]

    with transaction.atomic():
        first = ledger.ledger_post(
            kind="payment", reference="pay_1", business_date=date(2026, 11, 26), legs=legs
        )
    with transaction.atomic():
        again = ledger.ledger_post(
            kind="payment", reference="pay_1", business_date=date(2026, 11, 26), legs=legs
        )

    assert first.pk == again.pk
    assert LedgerEntry.objects.count() == 2


def test_the_service_refuses_an_unbalanced_posting():
    clearing, payable = accounts()

    with pytest.raises(ledger.UnbalancedPosting), transaction.atomic():
        ledger.ledger_post(
            kind="payment",
            reference="pay_2",
            business_date=date(2026, 11, 26),
            legs=[ledger.Leg(clearing, debit=500), ledger.Leg(payable, credit=499)],
        )
    assert not LedgerPosting.objects.exists()


def test_the_database_refuses_to_commit_an_unbalanced_posting():
    clearing, payable = accounts()

    with pytest.raises(IntegrityError, match="unbalanced"), transaction.atomic():
        posting = LedgerPosting.objects.create(
            kind="manual", reference="r1", business_date=date(2026, 11, 26)
        )
        LedgerEntry.objects.create(posting=posting, account=clearing, debit=500)
        LedgerEntry.objects.create(posting=posting, account=payable, credit=400)

    assert not LedgerPosting.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_the_database_refuses_a_posting_with_a_single_entry():
    clearing, _ = accounts()

    with pytest.raises(IntegrityError), transaction.atomic():
        posting = LedgerPosting.objects.create(
            kind="manual", reference="r2", business_date=date(2026, 11, 26)
        )
        LedgerEntry.objects.create(posting=posting, account=clearing, debit=500)


def test_an_entry_with_both_sides_or_none_is_refused():
    clearing, _ = accounts()
    posting_date = date(2026, 11, 26)

    for debit, credit in [(5, 5), (0, 0), (-5, 0)]:
        with pytest.raises(IntegrityError), transaction.atomic():
            posting = LedgerPosting.objects.create(
                kind="manual", reference=f"r{debit}{credit}", business_date=posting_date
            )
            LedgerEntry.objects.create(
                posting=posting, account=clearing, debit=debit, credit=credit
            )


def test_committed_entries_cannot_be_edited_or_deleted():
    clearing, payable = accounts()
    with transaction.atomic():
        ledger.ledger_post(
            kind="payment",
            reference="pay_3",
            business_date=date(2026, 11, 26),
            legs=[ledger.Leg(clearing, debit=500), ledger.Leg(payable, credit=500)],
        )

    for statement in (
        "UPDATE billing_ledgerentry SET debit = debit * 2",
        "DELETE FROM billing_ledgerentry",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)
    assert sorted(LedgerEntry.objects.values_list("debit", flat=True)) == [0, 500]
