from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from billing import health
from billing.models import ChannelHealth, PaymentOrder, Processor
from billing.routing import AUTO, route
from tests.billing.conftest import create_order

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def processor(code: str, **overrides) -> Processor:
    fields = {
        "legal_name": f"{code} 支付有限公司",
        "licence_number": f"Z20{code.upper()}0001",
        "licence_scope": ["internet_payment", "mobile_payment"],
        "licence_valid_until": date.today() + timedelta(days=365),
        "max_amount": 5_000_000,
        "priority": 50,
    }
    return Processor.objects.create(code=code, **(fields | overrides))


@pytest.fixture
def order(portal, fixed_fee, department) -> PaymentOrder:
    department.accepted_channels = ["public_platform", "alipay", "wechatpay", "unionpay"]
    department.save()
    return PaymentOrder.objects.select_related("department").get(
        public_id=create_order(portal)["id"]
    )


def test_auto_offers_every_eligible_channel_best_first(order):
    processor("alipay", priority=20)
    processor("wechatpay", priority=30)

    decision = route(order=order, requested=AUTO, now=NOW)

    assert decision.candidates == ["public_platform", "alipay", "wechatpay"]
    assert decision.rejected == {"unionpay": "not registered as a processor"}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"licence_valid_until": date.today() - timedelta(days=1)}, "licence expired"),
        ({"status": Processor.Status.REVOKED}, "processor revoked"),
        ({"licence_scope": ["bank_card_acquiring"]}, "does not cover internet_payment"),
        ({"max_amount": 1000}, "amount outside its limits"),
        ({"min_amount": 5000, "max_amount": 10000}, "amount outside its limits"),
    ],
)
def test_a_processor_that_may_not_take_the_payment_is_never_routed_to(order, overrides, reason):
    processor("alipay", **overrides)

    decision = route(order=order, requested="alipay", now=NOW)

    assert decision.candidates == []
    assert reason in decision.rejected["alipay"]


def test_a_channel_the_department_does_not_accept_is_not_offered(order):
    processor("alipay")
    order.department.accepted_channels = ["public_platform"]

    decision = route(order=order, requested=AUTO, now=NOW)

    assert decision.candidates == ["public_platform"]
    assert route(order=order, requested="alipay", now=NOW).candidates == []


def test_an_open_circuit_takes_a_channel_out_of_rotation(order):
    processor("alipay")
    for _ in range(health.FAILURE_THRESHOLD):
        health.channel_failed("alipay", now=NOW)

    decision = route(order=order, requested=AUTO, now=NOW)

    assert "alipay" not in decision.candidates
    assert decision.rejected["alipay"] == "out of rotation (circuit open)"


def test_failures_below_the_threshold_keep_the_circuit_closed():
    for _ in range(health.FAILURE_THRESHOLD - 1):
        health.channel_failed("alipay", now=NOW)
    health.channel_succeeded("alipay")
    health.channel_failed("alipay", now=NOW)

    assert health.channel_take_call("alipay", now=NOW)
    assert ChannelHealth.objects.get(channel="alipay").consecutive_failures == 1


def test_after_the_cool_off_one_trial_call_decides():
    for _ in range(health.FAILURE_THRESHOLD):
        health.channel_failed("alipay", now=NOW)
    later = NOW + health.COOL_OFF + timedelta(seconds=1)

    assert not health.channel_take_call("alipay", now=NOW)
    assert health.channel_take_call("alipay", now=later)  # this caller takes the trial
    assert not health.channel_take_call("alipay", now=later)  # others wait for it
    health.channel_succeeded("alipay")
    assert health.channel_take_call("alipay", now=later)
    assert ChannelHealth.objects.get(channel="alipay").state == ChannelHealth.State.CLOSED


def test_routing_offers_a_cooled_off_channel_without_taking_its_trial():
    for _ in range(health.FAILURE_THRESHOLD):
        health.channel_failed("alipay", now=NOW)
    later = NOW + health.COOL_OFF + timedelta(seconds=1)

    # Asked about by the router for every payment, yet only the caller that calls takes it.
    assert health.channel_in_rotation("alipay", now=later)
    assert health.channel_in_rotation("alipay", now=later)
    assert ChannelHealth.objects.get(channel="alipay").state == ChannelHealth.State.OPEN
    assert health.channel_take_call("alipay", now=later)
    assert not health.channel_in_rotation("alipay", now=later)


def test_a_failed_trial_opens_the_circuit_again():
    for _ in range(health.FAILURE_THRESHOLD):
        health.channel_failed("alipay", now=NOW)
    later = NOW + health.COOL_OFF + timedelta(seconds=1)
    assert health.channel_take_call("alipay", now=later)

    health.channel_failed("alipay", now=later)

    breaker = ChannelHealth.objects.get(channel="alipay")
    assert breaker.state == ChannelHealth.State.OPEN
    assert not health.channel_take_call("alipay", now=later + timedelta(seconds=1))
