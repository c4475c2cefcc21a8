"""GET /api/v1/ledger/accounts/{code}: an account's balance as of a business date and its
postings, newest first, each with the balance once it was posted; finance readers see
every account, department-scoped staff their departments' only."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import StaffScope
from billing.staff import ensure_finance_group
from core.auth import AUDITOR_GROUP
from core.money import business_date_of
from ledger import services as ledger
from tests.billing.conftest import portal_api
from tests.conftest import make_department

pytestmark = pytest.mark.django_db
MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
SETTLEMENT_ACCOUNT = "1202020209000012345"  # the department fixture's


def post(reference: str, day: date, amount: int, *, into, out_of) -> None:
    with transaction.atomic():
        ledger.ledger_post(
            kind=reference.rpartition("_")[0],
            reference=reference,
            business_date=day,
            memo=f"memo of {reference}",
            legs=ledger.moving(amount, debit=into, credit=out_of),
        )


@pytest.fixture
def books(department):
    """Two payments and a refund owed to SCJG01 over three days, another department's
    payment, and the platform's transfer to SCJG01's settlement account."""
    other = make_department("GA01", "市公安局", settlement_account_number="3301040160000000001")
    clearing = ledger.clearing_account("public_platform")
    payable = ledger.department_payable_account(department.code)
    post("payment_1", MON, 3000, into=clearing, out_of=payable)
    post("payment_2", TUE, 4500, into=clearing, out_of=payable)
    post("refund_1", WED, 1000, into=payable, out_of=clearing)
    post("payment_3", TUE, 700, into=clearing, out_of=ledger.department_payable_account(other.code))
    post("bank_credit_1", WED, 3000, into=ledger.bank_account(SETTLEMENT_ACCOUNT), out_of=clearing)
    return department


def staff(username: str, *, group: str | None = None, departments=()) -> APIClient:
    user = User.objects.create_user(username)
    user.groups.add(Group.objects.get(name=group) if group else ensure_finance_group())
    if departments:
        StaffScope.objects.create(user=user).departments.add(*departments)
    api = APIClient()
    api.force_login(user)
    return api


def account(api: APIClient, code: str, **query):
    return api.get(f"/api/v1/ledger/accounts/{code}", query)


def lines(answer) -> list[tuple]:
    return [
        (
            row["reference"],
            row["business_date"],
            row["debit"],
            row["credit"],
            row["running_balance"],
        )
        for row in answer.json()["results"]
    ]


def test_a_liability_s_balance_is_credits_less_debits_with_its_postings_newest_first(
    books, finance
):
    answer = account(finance, "payable:SCJG01")

    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert {key: body[key] for key in ("code", "kind", "as_of", "debit", "credit", "balance")} == {
        "code": "payable:SCJG01",
        "kind": "liability",
        "as_of": business_date_of(timezone.now()).isoformat(),
        "debit": 1000,
        "credit": 7500,
        "balance": 6500,
    }
    assert lines(answer) == [
        ("refund_1", "2026-11-25", 1000, 0, 6500),
        ("payment_2", "2026-11-24", 0, 4500, 7500),
        ("payment_1", "2026-11-23", 0, 3000, 3000),
    ]
    first = body["results"][-1]
    assert (first["kind"], first["memo"]) == ("payment", "memo of payment_1")
    assert (body["next"], body["previous"]) == (None, None)


def test_an_asset_s_balance_as_of_a_date_is_debits_less_credits_of_the_dates_up_to_it(
    books, finance
):
    answer = account(finance, "clearing:public_platform", as_of="2026-11-24")

    body = answer.json()
    assert (body["kind"], body["as_of"], body["balance"]) == ("asset", "2026-11-24", 8200)
    assert lines(answer) == [
        ("payment_3", "2026-11-24", 700, 0, 8200),
        ("payment_2", "2026-11-24", 4500, 0, 7500),
        ("payment_1", "2026-11-23", 3000, 0, 3000),
    ]
    drained = account(finance, "clearing:public_platform", as_of="2026-11-25").json()
    assert drained["balance"] == 3000 + 4500 + 700 - 1000 - 3000


def test_pages_carry_the_running_balance_on(books, finance):
    first = account(finance, "clearing:public_platform", page_size=2)
    second = finance.get(first.json()["next"])

    assert lines(first) == [
        ("bank_credit_1", "2026-11-25", 0, 3000, 4200),
        ("payment_3", "2026-11-24", 700, 0, 7200),
    ]
    assert lines(second) == [
        ("refund_1", "2026-11-25", 0, 1000, 6500),
        ("payment_2", "2026-11-24", 4500, 0, 7500),
    ]
    assert second.json()["balance"] == 4200


def test_scoped_staff_see_their_departments_accounts_only(books):
    scoped = staff("scoped", departments=[books])

    assert account(scoped, "payable:SCJG01").json()["balance"] == 6500
    assert account(scoped, f"bank:{SETTLEMENT_ACCOUNT}").json()["balance"] == 3000
    for hidden in ("payable:GA01", "clearing:public_platform"):
        answer = account(scoped, hidden)
        assert answer.status_code == 404, hidden
        assert answer.json()["error"]["code"] == "not_found"
    assert account(staff("clerk"), "payable:GA01").json()["balance"] == 700
    assert account(staff("auditor", group=AUDITOR_GROUP), "payable:GA01").status_code == 200


@pytest.mark.parametrize(
    ("code", "query", "status"),
    [
        pytest.param("payable:NOWHERE", {}, 404, id="unknown_account"),
        pytest.param("x" * 300, {}, 404, id="overlong_code"),
        pytest.param("payable:SCJG01", {"as_of": "2026-13-01"}, 400, id="no_such_date"),
        pytest.param("payable:SCJG01", {"as_of": "tomorrow"}, 400, id="not_a_date"),
        pytest.param("payable:SCJG01", {"page_size": "x", "cursor": "zz"}, 400, id="bad_cursor"),
    ],
)
def test_a_bad_code_or_date_is_answered_with_a_client_error(books, finance, code, query, status):
    answer = account(finance, code, **query)

    assert answer.status_code == status, answer.content
    assert answer.json()["error"]["code"]


def test_a_date_after_today_is_refused_and_a_portal_may_not_look(books, finance):
    tomorrow = business_date_of(timezone.now()) + timedelta(days=1)

    assert account(finance, "payable:SCJG01", as_of=tomorrow).status_code == 400
    assert account(portal_api(), "payable:SCJG01").status_code == 403
    assert account(APIClient(), "payable:SCJG01").status_code == 401
