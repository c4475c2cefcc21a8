"""Finance staff resolve discrepancies through the API: four eyes, audit, postings, scope."""

from __future__ import annotations

from datetime import date

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.test import APIClient

from billing.models import StaffScope
from core.auth import FINANCE_GROUP
from core.models import AuditRecord
from ledger import services as ledger
from ledger.models import LedgerPosting
from reconciliation.models import Discrepancy, ReconciliationRun
from tests.conftest import make_department

DAY = date(2026, 11, 25)


def staff(username: str, *departments) -> APIClient:
    user = User.objects.create_user(username, password="x")
    user.groups.add(Group.objects.get(name=FINANCE_GROUP))
    if departments:
        StaffScope.objects.create(user=user).departments.add(*departments)
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def item(db, department) -> Discrepancy:
    run = ReconciliationRun.objects.create(
        business_date=DAY, party="alipay", party_kind="processor", status="succeeded"
    )
    return Discrepancy.objects.create(
        run=run,
        business_date=DAY,
        party="alipay",
        type="missing_in_channel",
        key="missing_in_channel:payment:pay_1",
        kind="payment",
        department=department,
        our_ref="pay_1",
        our_amount=3000,
        owner="finance",
    )


def url(item: Discrepancy, step: str = "") -> str:
    return f"/api/v1/reconciliation/discrepancies/{item.pk}" + (f"/{step}" if step else "")


def accounts_exist() -> None:
    ledger.department_payable_account("SCJG01")
    ledger.clearing_account("alipay")


def test_a_resolution_needs_a_second_person_and_posts_its_adjustment(item):
    accounts_exist()
    alice, bob = staff("alice"), staff("bob")
    proposal = {
        "action": "write_off",
        "note": "支付宝确认未收款，冲销",
        "amount": 3000,
        "debit_account": "payable:SCJG01",
        "credit_account": "clearing:alipay",
    }
    assert alice.post(url(item, "assign"), {"assignee": "alice"}, format="json").status_code == 200
    assert (
        alice.post(url(item, "comments"), {"text": "查询支付宝流水"}, format="json").status_code
        == 200
    )
    proposed = alice.post(url(item, "propose"), proposal, format="json")
    assert proposed.json()["status"] == "proposed"

    own = alice.post(url(item, "approve"))
    assert own.status_code == 409
    assert own.json()["error"]["code"] == "illegal_transition"
    assert not LedgerPosting.objects.filter(kind="adjustment").exists()

    approved = bob.post(url(item, "approve"))

    assert approved.status_code == 200
    body = approved.json()
    assert (body["status"], body["resolved_by"]) == ("resolved", "user:bob")
    assert body["comments"][0]["text"] == "查询支付宝流水"
    posting = LedgerPosting.objects.get(kind="adjustment", reference=f"discrepancy:{item.pk}")
    legs = {(e.account.code, e.debit, e.credit) for e in posting.entries.select_related("account")}
    assert legs == {("payable:SCJG01", 3000, 0), ("clearing:alipay", 0, 3000)}
    steps = AuditRecord.objects.filter(object_type="Discrepancy").values_list("action", "actor")
    assert list(steps) == [
        ("discrepancy.assigned", "user:alice"),
        ("discrepancy.commented", "user:alice"),
        ("discrepancy.proposed", "user:alice"),
        ("discrepancy.approved", "user:bob"),
    ]


def test_a_rejected_proposal_reopens_and_an_adjustment_names_real_accounts(item):
    alice, bob = staff("alice"), staff("bob")
    unknown = alice.post(
        url(item, "propose"),
        {
            "action": "write_off",
            "note": "x",
            "amount": 1,
            "debit_account": "a",
            "credit_account": "b",
        },
        format="json",
    )
    assert unknown.status_code == 400
    alice.post(url(item, "propose"), {"action": "accept_ours", "note": "账单有误"}, format="json")

    rejected = bob.post(url(item, "reject"), {"reason": "证据不足"}, format="json")

    assert rejected.json()["status"] == "open"
    assert bob.post(url(item, "approve")).status_code == 409


def test_api_keys_read_but_do_not_resolve(item, finance):
    assert finance.get(url(item)).status_code == 200
    refused = finance.post(url(item, "assign"), {"assignee": "alice"}, format="json")
    assert refused.status_code == 403


def test_department_scoped_staff_see_and_act_on_their_departments_only(item):
    elsewhere = make_department("GA01", "市公安局")
    outsider = staff("carol", elsewhere)
    insider = staff("dave", item.department)

    assert outsider.get("/api/v1/reconciliation/discrepancies").json()["results"] == []
    assert outsider.get(url(item)).status_code == 404
    assert outsider.post(url(item, "comments"), {"text": "x"}, format="json").status_code == 404
    listed = insider.get("/api/v1/reconciliation/discrepancies").json()["results"]
    assert [row["id"] for row in listed] == [item.pk]


@pytest.mark.parametrize(
    "query",
    [
        {"type": "missing_in_channel"},
        {"party": "alipay"},
        {"department": "SCJG01"},
        {"status": "open"},
    ],
)
def test_the_queue_filters(item, query):
    client = staff("erin")
    assert [
        r["id"] for r in client.get("/api/v1/reconciliation/discrepancies", query).json()["results"]
    ] == [item.pk]
    other = {key: "x" if key != "type" else "duplicate" for key in query}
    if "status" in other:
        other["status"] = "resolved"
    assert client.get("/api/v1/reconciliation/discrepancies", other).json()["results"] == []
