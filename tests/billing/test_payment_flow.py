"""The whole money path over HTTP: the service and the platform's sandbox on a real port."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from billing.models import (
    AttemptStatus,
    OrderStatus,
    PaymentAttempt,
    PaymentNotification,
    PaymentOrder,
    WebhookEvent,
)
from billing.services import attempts, closing
from config import dev_keys
from core.money import business_date_of
from core.outside import get_channel
from integrations.payments import signing
from integrations.payments.base import TradeStatus
from ledger.models import LedgerEntry, LedgerPosting
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def portal_http(live_service, portal, fixed_fee, finance):
    session = requests.Session()
    session.headers["Authorization"] = portal._credentials["HTTP_AUTHORIZATION"]
    session.base = live_service.url
    session.finance_auth = finance._credentials["HTTP_AUTHORIZATION"]
    return session


def new_order(http, n=0) -> dict:
    from tests.billing.conftest import order_body

    response = http.post(
        f"{http.base}/api/v1/payment-orders",
        json=order_body(case_number=f"C-{n}"),
        headers={"Idempotency-Key": f"flow-{n}-{time.monotonic_ns()}"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def start_payment(http, order) -> dict:
    response = http.post(
        f"{http.base}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "public_platform"},
    )
    assert response.status_code == 201, response.text
    return response.json()


def assert_refused_with_nothing_applied(response, attempt, order) -> None:
    """A notification refused with a 4xx: kept as rejected, the payment and books untouched."""
    assert 400 <= response.status_code < 500
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.PENDING
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAYING
    assert not LedgerEntry.objects.exists()
    stored = PaymentNotification.objects.get()
    assert (stored.verified, stored.outcome) == (False, "rejected")


def wait_for_status(http, order, status, seconds=10.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        current = http.get(f"{http.base}/api/v1/payment-orders/{order['id']}").json()
        if current["status"] == status:
            return current
        time.sleep(0.05)
    raise AssertionError(f"order stayed {current['status']}, expected {status}")


def platform_notification(
    attempt: PaymentAttempt, *, amount=None, status="SUCCESS", key_name="public-platform-platform"
) -> bytes:
    """A notification as the platform signs it (or as a forger would, with another key)."""
    message = {
        "notify_id": f"N{time.monotonic_ns()}",
        "notify_time": timezone.now().isoformat(),
        "notify_type": "trade.status_sync",
        "app_id": settings.PUBLIC_PLATFORM["app_id"],
        "out_trade_no": attempt.public_id,
        "trade_no": attempt.provider_trade_no or "T-unknown",
        "payment_code": attempt.order.payment_code,
        "amount": attempt.amount if amount is None else amount,
        "trade_status": status,
        "paid_time": timezone.now().isoformat(),
        "sign_type": "RSA2",
    }
    message["sign"] = signing.sign(
        message, signing.load_private_key(dev_keys.rsa_private_pem(key_name))
    )
    return json.dumps(message).encode()


def post_notification(http, body: bytes) -> requests.Response:
    return requests.post(
        f"{http.base}/notify/public_platform",
        data=body,
        headers={"Content-Type": "application/json"},
    )


def test_an_order_paid_at_the_platform_is_paid_posted_and_announced(portal_http):
    order = new_order(portal_http)
    attempt = start_payment(portal_http, order)
    assert attempt["status"] == "pending"
    assert attempt["pay_url"].startswith(f"{portal_http.base}/sandbox/public_platform/")
    assert portal_http.get(attempt["pay_url"]).status_code == 200  # the cashier page
    front = requests.get(f"{portal_http.base}/sandbox/public_platform/")
    assert attempt["pay_url"].removeprefix(portal_http.base) in front.text

    paid = requests.post(attempt["pay_url"], json={"result": "success"})
    assert paid.status_code == 200

    final = wait_for_status(portal_http, order, "paid")
    assert final["paid_at"]
    posting = LedgerPosting.objects.get(kind="payment", reference=attempt["id"])
    entries = {
        (e.account.code, e.debit, e.credit) for e in posting.entries.select_related("account")
    }
    assert entries == {("clearing:public_platform", 3000, 0), ("payable:SCJG01", 0, 3000)}
    event = WebhookEvent.objects.get(type="payment_order.paid")
    assert event.payload["id"] == order["id"]
    assert "id_number" not in json.dumps(event.payload)

    trial = requests.get(
        f"{portal_http.base}/api/v1/ledger/trial-balance",
        params={"business_date": business_date_of(timezone.now()).isoformat()},
        headers={"Authorization": portal_http.finance_auth},
    ).json()
    assert trial["balanced"] is True
    assert trial["total_debit"] == trial["total_credit"] == 3000


def test_a_duplicate_notification_changes_nothing(portal_http):
    order = new_order(portal_http)
    attempt = start_payment(portal_http, order)
    requests.post(attempt["pay_url"], json={"result": "success"})
    wait_for_status(portal_http, order, "paid")

    again = requests.post(
        f"{portal_http.base}/sandbox/public_platform/_control/trades/{attempt['id']}/notify"
    ).json()

    assert again["status_code"] == 200
    assert LedgerPosting.objects.filter(reference=attempt["id"]).count() == 1
    assert WebhookEvent.objects.filter(type="payment_order.paid").count() == 1
    outcomes = PaymentNotification.objects.filter(out_trade_no=attempt["id"]).values_list(
        "outcome", flat=True
    )
    assert sorted(outcomes) == ["applied", "duplicate"]


@pytest.mark.parametrize("forgery", ["other_key", "tampered_amount", "not_json"])
def test_a_forged_or_tampered_notification_is_refused_and_changes_nothing(portal_http, forgery):
    order = new_order(portal_http)
    start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(order__public_id=order["id"])
    if forgery == "other_key":
        body = platform_notification(attempt, key_name="public-platform-merchant")
    elif forgery == "tampered_amount":
        body = platform_notification(attempt).replace(b'"amount": 3000', b'"amount": 1')
    else:
        body = b"amount=3000&trade_status=SUCCESS"

    response = post_notification(portal_http, body)

    assert_refused_with_nothing_applied(response, attempt, order)


def test_money_arriving_for_a_cancelled_order_is_kept_and_flagged_for_refund(portal_http):
    order = new_order(portal_http)
    start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(order__public_id=order["id"])
    cancelled = portal_http.post(
        f"{portal_http.base}/api/v1/payment-orders/{order['id']}/cancel", json={}
    )
    assert cancelled.json()["status"] == "cancelled"

    # The payer's money was taken just before the close reached the platform.
    response = post_notification(portal_http, platform_notification(attempt))

    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.status, attempt.refund_due, attempt.settles_order) == ("succeeded", True, False)
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.CANCELLED
    posting = LedgerPosting.objects.get(kind="unsettled_payment", reference=attempt.public_id)
    assert {e.account.code for e in posting.entries.all()} == {
        "clearing:public_platform",
        "refunds_due:payers",
    }


def test_a_lost_notification_is_recovered_by_the_sweeper(portal_http):
    order = new_order(portal_http)
    attempt = start_payment(portal_http, order)
    requests.post(attempt["pay_url"], json={"result": "success", "notify": False})
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAYING

    asked = attempts.payment_attempts_query_overdue(now=timezone.now() + timedelta(minutes=2))

    assert asked == 1
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAID
    assert LedgerPosting.objects.filter(kind="payment", reference=attempt["id"]).exists()


def test_an_unpaid_order_past_its_time_expires_and_its_trade_is_closed(portal_http):
    order = new_order(portal_http)
    attempt = start_payment(portal_http, order)
    PaymentOrder.objects.filter(public_id=order["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    expired = closing.payment_orders_expire_due()

    assert expired == 1
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.EXPIRED
    assert PaymentAttempt.objects.get(public_id=attempt["id"]).status == AttemptStatus.CLOSED
    assert requests.post(attempt["pay_url"], json={"result": "success"}).status_code == 409
    assert WebhookEvent.objects.filter(type="payment_order.expired").count() == 1


def test_cancel_closes_the_trade_so_the_cashier_refuses_payment(portal_http):
    order = new_order(portal_http)
    attempt = start_payment(portal_http, order)

    portal_http.post(f"{portal_http.base}/api/v1/payment-orders/{order['id']}/cancel", json={})

    assert requests.post(attempt["pay_url"], json={"result": "success"}).status_code == 409
    assert PaymentAttempt.objects.get(public_id=attempt["id"]).status == AttemptStatus.CLOSED


def test_a_payment_the_payer_abandons_can_be_retried(portal_http):
    order = new_order(portal_http)
    first = start_payment(portal_http, order)
    requests.post(first["pay_url"], json={"result": "failed"})
    wait_for_status(portal_http, order, "unpaid")

    second = start_payment(portal_http, order)
    requests.post(second["pay_url"], json={"result": "success"})

    assert second["id"] != first["id"]
    wait_for_status(portal_http, order, "paid")


def test_a_second_start_reuses_the_pending_trade(portal_http):
    order = new_order(portal_http)

    assert start_payment(portal_http, order)["id"] == start_payment(portal_http, order)["id"]


def test_a_channel_the_department_does_not_accept_is_refused(portal_http, department):
    order = new_order(portal_http)
    department.accepted_channels = []
    department.save()
    url = f"{portal_http.base}/api/v1/payment-orders/{order['id']}/payments"

    refused = portal_http.post(url, json={"channel": "public_platform"})
    unknown = portal_http.post(url, json={"channel": "paypal"})

    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "channel_not_accepted"
    assert unknown.status_code == 400
    assert "channel" in unknown.json()["error"]["fields"]


def test_an_unreachable_platform_leaves_the_attempt_unknown_for_the_sweeper(portal_http, settings):
    order = new_order(portal_http)
    settings.PUBLIC_PLATFORM = {
        **settings.PUBLIC_PLATFORM,
        "base_url": "http://127.0.0.1:9/nothing",
    }

    response = portal_http.post(
        f"{portal_http.base}/api/v1/payment-orders/{order['id']}/payments",
        json={"channel": "public_platform"},
    )

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "channel_unavailable"
    attempt = PaymentAttempt.objects.get(order__public_id=order["id"])
    assert attempt.status == AttemptStatus.UNKNOWN
    assert attempt.next_query_at is not None


def test_a_trade_opened_while_the_answer_timed_out_is_not_handed_out_without_a_pay_url(
    portal_http,
):
    """The platform answered the create after the adapter gave up; a status query then
    found the trade, with no pay_url (only the create answer carries it). The next start
    opens a trade the payer can pay."""
    order = new_order(portal_http)
    faults = f"{portal_http.base}/sandbox/_control/faults/public_platform"
    requests.post(faults, json={"slow_seconds": 10.5}, timeout=5).raise_for_status()
    try:
        timed_out = portal_http.post(
            f"{portal_http.base}/api/v1/payment-orders/{order['id']}/payments",
            json={"channel": "public_platform"},
        )
    finally:
        requests.delete(faults, timeout=5)
    lost = PaymentAttempt.objects.get(order__public_id=order["id"])
    platform = get_channel("public_platform")
    eventually(  # the platform opens the trade half a second after the adapter gave up
        lambda: platform.query_trade(lost.out_trade_no, opened_at=lost.created_at).status
        == TradeStatus.PENDING
    )
    attempts.payment_attempt_query(public_id=lost.public_id, actor="test")
    lost.refresh_from_db()

    second = start_payment(portal_http, order)
    paid = requests.post(second["pay_url"], json={"result": "success"})

    assert timed_out.status_code == 503
    assert (lost.status, lost.pay_url) == (AttemptStatus.PENDING, "")
    assert second["id"] != lost.public_id
    assert paid.status_code == 200
    wait_for_status(portal_http, order, "paid")
    assert LedgerPosting.objects.filter(kind="payment", reference=second["id"]).count() == 1


def test_a_late_failure_notification_does_not_unpay_a_paid_order(portal_http):
    order = new_order(portal_http)
    started = start_payment(portal_http, order)
    requests.post(started["pay_url"], json={"result": "success"})
    wait_for_status(portal_http, order, "paid")
    attempt = PaymentAttempt.objects.select_related("order").get(public_id=started["id"])

    response = post_notification(portal_http, platform_notification(attempt, status="FAILED"))

    assert response.status_code == 200
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAID
    assert PaymentAttempt.objects.get(public_id=started["id"]).status == AttemptStatus.SUCCEEDED
    assert PaymentNotification.objects.filter(outcome="duplicate").count() == 1


def test_a_success_after_a_failure_still_pays_the_order(portal_http):
    order = new_order(portal_http)
    started = start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(public_id=started["id"])
    post_notification(portal_http, platform_notification(attempt, status="FAILED"))
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.UNPAID

    post_notification(portal_http, platform_notification(attempt))

    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAID
    assert LedgerPosting.objects.filter(kind="payment", reference=started["id"]).count() == 1


def test_money_in_a_different_amount_does_not_pay_the_order_and_is_owed_back(portal_http):
    order = new_order(portal_http)
    start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(order__public_id=order["id"])

    response = post_notification(portal_http, platform_notification(attempt, amount=2999))

    assert response.status_code == 200
    attempt.refresh_from_db()
    assert (attempt.status, attempt.refund_due, attempt.settles_order) == ("succeeded", True, False)
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.UNPAID
    posting = LedgerPosting.objects.get(kind="unsettled_payment", reference=attempt.public_id)
    assert sorted(posting.entries.values_list("debit", "credit")) == [(0, 2999), (2999, 0)]


def test_a_signed_notification_for_an_unknown_trade_is_kept_and_not_acknowledged(portal_http):
    order = new_order(portal_http)
    start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(order__public_id=order["id"])
    attempt.public_id = "pay_doesnotexist000000000000"

    response = post_notification(portal_http, platform_notification(attempt))

    assert response.status_code == 400
    stored = PaymentNotification.objects.get(out_trade_no="pay_doesnotexist000000000000")
    assert (stored.verified, stored.outcome) == (True, "unknown_trade")
    assert PaymentOrder.objects.get(public_id=order["id"]).status == OrderStatus.PAYING
