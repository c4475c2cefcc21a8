"""A waived line charges exactly what its fee item's rule gives, with who approved it; an order
waived to nothing is settled at once, without a channel, money, receipt or revenue record."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader

from billing.models import (
    FeeItem,
    PaymentOrder,
    PaymentOrderLine,
    Receipt,
    RevenueRecord,
    WaiverKind,
    WaiverRule,
    WebhookEvent,
)
from core.models import AuditRecord
from tests.billing.conftest import order_body
from tests.conftest import charged_by_service_item

pytestmark = pytest.mark.django_db

APPROVAL = {"waiver_approved_by": "市监局 王科长", "waiver_approval_ref": "JM-2026-0042"}


@pytest.fixture
def odd_fee(department) -> FeeItem:
    """A fee of 1001 fen, an odd number of fen, with a rule of every kind."""
    item = FeeItem.objects.create(
        code="FEE-ODD",
        name="检定费",
        department=department,
        legal_basis="收费标准",
        standard_amount=1001,
    )
    for code, kind, reduced in (
        ("HALF", WaiverKind.HALF, None),
        ("EXEMPT", WaiverKind.EXEMPT, None),
        ("TO-300", WaiverKind.REDUCED_TO, 300),
        ("APPROVED", WaiverKind.REDUCTION_ALLOWED, None),
    ):
        WaiverRule.objects.create(
            fee_item=item, code=code, label=code, kind=kind, reduced_amount=reduced
        )
    charged_by_service_item(item)
    return item


@pytest.fixture
def ranged_fee(department) -> FeeItem:
    item = FeeItem.objects.create(
        code="FEE-RANGE",
        name="检验检测费",
        department=department,
        legal_basis="收费标准",
        min_amount=20000,
        max_amount=300000,
    )
    WaiverRule.objects.create(fee_item=item, code="HALF", label="小微企业减半", kind="half")
    charged_by_service_item(item)
    return item


def line(amount: int, reason: str = "", quantity: int = 1, **fields) -> dict:
    waiver = {"waiver_reason": reason, **APPROVAL} if reason else {}
    return {"fee_item": "FEE-ODD", "quantity": quantity, "amount": amount, **waiver, **fields}


def post(api, *lines: dict, key: str = "w-1"):
    return api.post(
        "/api/v1/payment-orders",
        order_body(lines=list(lines)),
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def refusal_of_line(response, index: int = 0) -> str:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "fee_item_mismatch"
    return error["fields"]["lines"][str(index)][0]


def test_half_of_1001_fen_is_501_half_a_fen_rounded_up(portal, odd_fee):
    response = post(portal, line(501, "HALF", quantity=3))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["amount"] == 1503
    assert {name: body["lines"][0][name] for name in APPROVAL} == APPROVAL
    assert (body["lines"][0]["standard_unit_amount"], body["lines"][0]["waiver_reason"]) == (
        1001,
        "HALF",
    )
    stored = PaymentOrderLine.objects.get(order__public_id=body["id"])
    assert stored.waiver_rule.kind == WaiverKind.HALF


@pytest.mark.parametrize("amount", [500, 502, 0, 1001])
def test_half_is_nothing_but_half(portal, odd_fee, amount):
    problem = refusal_of_line(post(portal, line(amount, "HALF")))

    assert "charges 501 fen of the standard 1001 fen" in problem
    assert not PaymentOrder.objects.exists()


def test_reduced_to_charges_its_amount_exactly(portal, odd_fee):
    assert post(portal, line(300, "TO-300")).json()["amount"] == 300
    assert "charges 300 fen" in refusal_of_line(post(portal, line(301, "TO-300"), key="w-2"))


def test_a_reduction_allowed_takes_any_amount_below_the_standard_and_only_below(portal, odd_fee):
    assert post(portal, line(777, "APPROVED")).json()["amount"] == 777

    problem = refusal_of_line(post(portal, line(1001, "APPROVED"), key="w-2"))

    assert "allows less than the standard 1001 fen, not 1001 fen" in problem


def test_a_rule_of_a_fixed_kind_allows_no_other_reduction(portal, odd_fee):
    problem = refusal_of_line(post(portal, line(777, "EXEMPT")))

    assert "charges 0 fen of the standard 1001 fen, not 777 fen" in problem


@pytest.mark.parametrize(
    "approval",
    [{}, {"waiver_approved_by": "王科长"}, {"waiver_approval_ref": "JM-1"}],
    ids=["none", "no reference", "no approver"],
)
def test_a_waiver_without_its_approver_and_reference_is_refused(portal, odd_fee, approval):
    waived = {"fee_item": "FEE-ODD", "quantity": 1, "amount": 501, "waiver_reason": "HALF"}

    problem = refusal_of_line(post(portal, waived | approval))

    assert "waiver_approved_by and waiver_approval_ref" in problem
    assert not PaymentOrder.objects.exists()


def test_an_approval_without_a_waiver_is_refused(portal, odd_fee):
    problem = refusal_of_line(post(portal, line(1001, **APPROVAL)))

    assert problem == "An approval goes with a waiver_reason."


def test_an_unknown_or_withdrawn_rule_is_refused(portal, odd_fee):
    WaiverRule.objects.filter(code="HALF").update(active=False)

    for reason, key in (("HALF", "w-1"), ("NO-SUCH", "w-2")):
        problem = refusal_of_line(post(portal, line(501, reason), key=key))
        assert f"Waiver reason '{reason}' is not allowed for fee item FEE-ODD." == problem


def test_a_waiver_on_a_range_is_taken_from_the_amount_assessed_in_it(portal, ranged_fee):
    assessed = {"fee_item": "FEE-RANGE", "quantity": 1, "waiver_reason": "HALF", **APPROVAL}

    unassessed = refusal_of_line(post(portal, assessed | {"amount": 15001}))
    outside = refusal_of_line(
        post(portal, assessed | {"amount": 5000, "standard_amount": 10000}, key="w-2")
    )
    created = post(portal, assessed | {"amount": 15001, "standard_amount": 30001}, key="w-3")

    assert "a waiver needs the standard_amount assessed in it" in unassessed
    assert outside == "10000 fen is below the range minimum 20000 fen."
    assert created.status_code == 201, created.content
    assert created.json()["lines"][0]["standard_unit_amount"] == 30001
    assert created.json()["amount"] == 15001


def test_a_standard_amount_other_than_the_fixed_standard_is_refused(portal, odd_fee):
    problem = refusal_of_line(post(portal, line(1000, standard_amount=1000)))

    assert "is not the standard amount 1001 fen of fee item FEE-ODD" in problem


def test_an_order_exempt_of_everything_is_waived_at_once_with_nothing_to_pay(portal, odd_fee):
    response = post(portal, line(0, "EXEMPT"))

    assert response.status_code == 201, response.content
    order = response.json()
    assert (order["status"], order["amount"]) == ("waived", 0)
    audit = AuditRecord.objects.get(action="payment_order.created", object_id=order["id"])
    assert audit.to_status == "waived"
    assert audit.data["waivers"] == [
        {
            "fee_item": "FEE-ODD",
            "waiver_reason": "EXEMPT",
            "standard_unit_amount": 1001,
            "unit_amount": 0,
            "approved_by": APPROVAL["waiver_approved_by"],
            "approval_ref": APPROVAL["waiver_approval_ref"],
        }
    ]
    # Nothing was paid: no webhook, no revenue record, no receipt.
    assert not WebhookEvent.objects.exists()
    assert not RevenueRecord.objects.exists()
    assert not Receipt.objects.exists()
    paying = portal.post(
        f"/api/v1/payment-orders/{order['id']}/payments", {"channel": "auto"}, format="json"
    )
    cancelling = portal.post(f"/api/v1/payment-orders/{order['id']}/cancel", {}, format="json")
    assert (paying.status_code, paying.json()["error"]["code"]) == (409, "order_not_payable")
    assert (cancelling.status_code, cancelling.json()["error"]["code"]) == (
        409,
        "illegal_transition",
    )


def test_an_exempt_line_beside_a_charged_one_leaves_an_order_to_pay(portal, odd_fee):
    response = post(portal, line(0, "EXEMPT"), line(1001))

    assert (response.json()["status"], response.json()["amount"]) == ("unpaid", 1001)


def test_the_public_slip_shows_the_waiver_but_not_who_approved_it(client, portal, odd_fee):
    order = post(portal, line(501, "HALF")).json()

    slip = client.get(
        f"/api/v1/payment-codes/{order['payment_code']}",
        {"verification_code": order["verification_code"]},
    ).json()

    assert slip["lines"][0]["waiver_reason"] == "HALF"
    assert "waiver_approved_by" not in slip["lines"][0]
    assert APPROVAL["waiver_approved_by"] not in str(slip)


def test_the_database_refuses_a_line_below_its_standard_without_a_rule(portal, odd_fee):
    order = PaymentOrder.objects.get(public_id=post(portal, line(1001)).json()["id"])

    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentOrderLine.objects.create(
            order=order, fee_item=odd_fee, quantity=1, unit_amount=900, amount=900,
            standard_unit_amount=1001,
        )  # fmt: skip


def test_the_database_refuses_a_waived_order_that_charges_something(portal, odd_fee):
    order = PaymentOrder.objects.get(public_id=post(portal, line(1001)).json()["id"])

    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentOrder.objects.filter(pk=order.pk).update(status="waived")


# -- the migration of the former lists of reasons -------------------------------------------


def billing_migration(suffix: str) -> tuple[str, str]:
    """The billing migration of that name, whatever its number."""
    nodes = MigrationLoader(connection).graph.nodes
    return next(key for key in nodes if key[0] == "billing" and key[1].endswith(suffix))


@pytest.mark.django_db(transaction=True)
def test_the_reason_lists_become_rules_that_keep_requests_and_lines_valid(department):
    before = billing_migration("_service_items_and_waiver_rules")  # lists, not yet rules
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old = MigrationExecutor(connection).loader.project_state([before]).apps
        item = old.get_model("billing", "FeeItem").objects.create(
            code="FEE-OLD",
            name="工本费",
            department_id=department.pk,
            legal_basis="收费标准",
            standard_amount=1500,
            waiver_reasons=["小微企业免收", "低保对象减半"],
        )
        order = old.get_model("billing", "PaymentOrder").objects.create(
            payment_code="33010000000000000018", verification_code_hash="0" * 64,
            case_number="OLD-1", service_item_code="old", department_id=department.pk,
            region_code="330100", payer_type="natural", payer_name="张三",
            payer_id_number_encrypted="x", payer_id_number_index="x",
            payer_id_number_masked="x", amount=1200, expires_at="2026-01-01T00:00:00Z",
        )  # fmt: skip
        lines = old.get_model("billing", "PaymentOrderLine").objects
        for reason, unit in (("低保对象减半", 700), ("已取消的减免", 300), ("", 200)):
            lines.create(
                order=order, fee_item=item, quantity=1, unit_amount=unit, amount=unit,
                waiver_reason=reason,
            )  # fmt: skip
    finally:
        # Every app's latest (billing's _waiver_reasons_become_rules among them): going back
        # unapplied the apps that depend on billing (closing), and later tests need them.
        latest = MigrationExecutor(connection)
        latest.migrate(latest.loader.graph.leaf_nodes())

    rules = WaiverRule.objects.filter(fee_item__code="FEE-OLD")
    assert sorted(rules.values_list("code", "label", "kind", "active")) == [
        ("低保对象减半", "低保对象减半", "reduction_allowed", True),
        ("小微企业免收", "小微企业免收", "reduction_allowed", True),
        ("已取消的减免", "已取消的减免", "reduction_allowed", False),
    ]
    migrated = PaymentOrderLine.objects.filter(order__case_number="OLD-1").order_by("pk")
    assert [
        (line.waiver_reason, getattr(line.waiver_rule, "code", None), line.standard_unit_amount)
        for line in migrated
    ] == [
        ("低保对象减半", "低保对象减半", None),
        ("已取消的减免", "已取消的减免", None),
        ("", None, 200),
    ]
