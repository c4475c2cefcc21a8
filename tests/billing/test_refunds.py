"""Refunds over HTTP: the portal asks, the platform's sandbox refunds and notifies."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from billing.models import OrderStatus, PaymentOrder, Refund, WebhookEvent
from ledger.models import LedgerPosting
from tests.billing.conftest import create_order, paid_at_platform
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def paid_order(live_service, portal, fixed_fee):
    order, http = paid_at_platform(portal, live_service.url)
    http.base = live_service.url
    order["http"] = http
    return order


def ask_refund(order, amount, key, reason="申请人撤回申请"):
    http = order["http"]
    return http.post(
        f"{http.base}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": amount, "reason": reason},
        headers={"Idempotency-Key": key},
    )


def settled(refund_id: str) -> Refund:
    return eventually(
        lambda: (r := Refund.objects.get(public_id=refund_id)).status != "pending" and r
    )


def test_a_partial_then_a_final_refund_move_the_order_and_reverse_the_ledger(paid_order):
    first = ask_refund(paid_order, 1000, "r1")
    assert first.status_code == 201, first.text
    assert settled(first.json()["id"]).status == "succeeded"
    assert PaymentOrder.objects.get(public_id=paid_order["id"]).status == "partially_refunded"

    second = ask_refund(paid_order, 2000, "r2")
    assert settled(second.json()["id"]).status == "succeeded"

    order = PaymentOrder.objects.get(public_id=paid_order["id"])
    assert (order.status, order.refunded_amount) == (OrderStatus.REFUNDED, 3000)
    reversals = LedgerPosting.objects.filter(kind="refund")
    entries = sorted(
        (e.account.code, e.debit, e.credit) for p in reversals for e in p.entries.all()
    )
    assert entries == [
        ("clearing:public_platform", 0, 1000),
        ("clearing:public_platform", 0, 2000),
        ("payable:SCJG01", 1000, 0),
        ("payable:SCJG01", 2000, 0),
    ]
    assert WebhookEvent.objects.filter(type="refund.succeeded").count() == 2


def test_a_refund_above_what_remains_is_refused(paid_order):
    ask_refund(paid_order, 2500, "r1")

    refused = ask_refund(paid_order, 501, "r2")

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "refund_exceeds_paid"
    assert refused.json()["error"]["fields"]["amount"] == ["At most 500."]


def test_two_racing_refunds_that_together_exceed_the_payment_let_one_through(paid_order):
    start = threading.Barrier(2)

    def race(key):
        start.wait()
        return ask_refund(paid_order, 2000, key)

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(race, ["a", "b"]))

    assert sorted(r.status_code for r in responses) == [201, 422]
    assert Refund.objects.count() == 1


def test_the_same_key_returns_the_same_refund(paid_order):
    first = ask_refund(paid_order, 1000, "same").json()
    again = ask_refund(paid_order, 1000, "same")

    assert again.json()["id"] == first["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1


def test_a_refund_the_platform_fails_frees_the_money_and_tells_the_portal(paid_order):
    http = paid_order["http"]
    control = f"{http.base}/sandbox/public_platform/_control/trades/{paid_order['attempt']['id']}"
    requests.post(f"{control}/fail-next-refund")

    failed = settled(ask_refund(paid_order, 3000, "r1").json()["id"])
    again = settled(ask_refund(paid_order, 3000, "r2").json()["id"])

    assert failed.status == "failed"
    assert again.status == "succeeded"
    assert WebhookEvent.objects.filter(type="refund.failed").count() == 1
    assert PaymentOrder.objects.get(public_id=paid_order["id"]).status == "refunded"


def test_an_unpaid_order_cannot_be_refunded(live_service, portal, fixed_fee):
    order = create_order(portal)

    response = portal.post(
        f"/api/v1/payment-orders/{order['id']}/refunds",
        {"amount": 100, "reason": "x"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="r",
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "refund_not_allowed"
