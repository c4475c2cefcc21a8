"""The channel's answer about a trade can arrive while the call that opens it is still out.

The trade is stored once the call returns; an attempt that an answer (a notification, a
status query) has already moved on is not moved back to pending.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from billing import states
from billing.models import AttemptStatus, OrderStatus, PaymentAttempt, PaymentOrder
from billing.services import attempts
from core.models import AuditRecord
from integrations.payments.base import CreatedTrade, CreateTrade, TradeResult, TradeStatus
from tests.billing.conftest import create_order

pytestmark = pytest.mark.django_db(transaction=True)  # the service's own transactions


@dataclass
class AnsweredWhileOpening:
    """A channel whose answer about the trade is applied before create_trade returns."""

    status: TradeStatus
    code: str = "public_platform"

    def create_trade(self, request: CreateTrade) -> CreatedTrade:
        attempts.payment_attempt_apply_result(
            result=TradeResult(
                out_trade_no=request.out_trade_no,
                status=self.status,
                amount=request.amount,
                provider_trade_no="T-1",
            ),
            actor="channel:public_platform",
        )
        return CreatedTrade(
            out_trade_no=request.out_trade_no,
            provider_trade_no="T-1",
            pay_url="https://pay.example/cashier/T-1",
        )


def start(portal, order: dict):
    return portal.post(
        f"/api/v1/payment-orders/{order['id']}/payments",
        {"channel": "public_platform"},
        format="json",
    )


def test_a_payment_applied_before_the_trade_is_stored_stays_paid(portal, fixed_fee, monkeypatch):
    channel = AnsweredWhileOpening(TradeStatus.SUCCEEDED)
    monkeypatch.setattr(attempts, "get_channel", lambda code: channel)
    order = create_order(portal)

    response = start(portal, order)

    assert response.status_code == 201, response.content
    assert response.json()["status"] == AttemptStatus.SUCCEEDED
    attempt = PaymentAttempt.objects.get(public_id=response.json()["id"])
    assert (attempt.status, attempt.provider_trade_no) == (AttemptStatus.SUCCEEDED, "T-1")
    assert attempt.pay_url == "https://pay.example/cashier/T-1"
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAID
    moves = AuditRecord.objects.filter(object_id=attempt.public_id).values_list("action", flat=True)
    assert sorted(moves) == ["payment_attempt.created", "payment_attempt.succeeded"]


def test_a_pending_answer_before_the_trade_is_stored_is_not_recorded_twice(
    portal, fixed_fee, monkeypatch
):
    channel = AnsweredWhileOpening(TradeStatus.PENDING)
    monkeypatch.setattr(attempts, "get_channel", lambda code: channel)

    response = start(portal, create_order(portal))

    assert response.status_code == 201, response.content
    attempt = PaymentAttempt.objects.get(public_id=response.json()["id"])
    assert (attempt.status, attempt.pay_url) == (
        AttemptStatus.PENDING,
        "https://pay.example/cashier/T-1",
    )
    moves = AuditRecord.objects.filter(object_id=attempt.public_id).values_list("action", flat=True)
    assert sorted(moves) == ["payment_attempt.created", "payment_attempt.pending"]


def test_storing_the_trade_is_a_move_the_attempts_state_table_allows():
    """`_record_trade` moves a created attempt to pending by a conditional UPDATE, without
    `check_transition`: the table must keep allowing that move."""
    assert AttemptStatus.PENDING in states.ATTEMPT_TRANSITIONS[AttemptStatus.CREATED]
