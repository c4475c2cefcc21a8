from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction

from core.auth import FINANCE_GROUP
from ledger import services as ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def posting():
    with transaction.atomic():
        return ledger.ledger_post(
            kind="payment",
            reference="pay_admin",
            business_date=date(2026, 1, 2),
            legs=[
                ledger.Leg(ledger.clearing_account("alipay"), debit=700),
                ledger.Leg(ledger.department_payable_account("D1"), credit=700),
            ],
        )


def test_finance_staff_read_postings_and_accounts_and_may_not_edit_them(client, posting):
    user = User.objects.create_user("chief", password="pw-chief-1", is_staff=True)
    user.groups.add(Group.objects.get(name=FINANCE_GROUP))
    client.force_login(user)

    postings = client.get("/admin/ledger/ledgerposting/")
    accounts = client.get("/admin/ledger/ledgeraccount/")

    assert "pay_admin" in postings.content.decode()
    assert "clearing:alipay" in accounts.content.decode()
    assert client.get("/admin/ledger/ledgerposting/add/").status_code == 403
    assert client.post(f"/admin/ledger/ledgerposting/{posting.pk}/delete/").status_code == 403


def test_a_posting_shows_its_entries(admin_client, posting):
    page = admin_client.get(f"/admin/ledger/ledgerposting/{posting.pk}/change/").content.decode()

    assert "clearing:alipay" in page
    assert "payable:D1" in page
