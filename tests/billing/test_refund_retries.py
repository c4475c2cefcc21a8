"""Automatic refunds of money that could not settle its order, against the platform's sandbox:
tried again only when due, given up after the last try to finance staff, the money owed to
the payer in the ledger until a refund succeeds."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db.models import Sum
from django.utils import timezone

from billing import tasks
from billing.models import (
    PaymentAttempt,
    Refund,
    RefundStatus,
    UnsettledPayment,
    UnsettledPaymentStatus,
    WebhookDelivery,
    WebhookEvent,
)
from billing.services import refunds
from billing.webhooks import webhook_endpoint_create
from core.auth import AUDITOR_GROUP
from core.models import AuditRecord
from ledger.models import LedgerEntry
from tests.billing.test_payment_flow import (
    new_order,
    platform_notification,
    portal_http,  # noqa: F401 (a fixture)
    post_notification,
    start_payment,
)
from tests.console.conftest import logged_in, make_staff
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)

BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
UNREACHABLE = "http://127.0.0.1:9/hooks"  # the discard port: the connection is refused


@pytest.fixture
def declined(portal_http, portal, task_worker, settings):  # noqa: F811
    """29.99 yuan the platform signs as paid for a 30.00 order it has not been paid: every
    refund of it is declined (TRADE_NOT_PAID) until the trade is paid at the platform."""
    settings.REFUND_RETRY_BACKOFF = BACKOFF
    settings.WEBHOOK_RETRY_SCHEDULE = ()
    webhook_endpoint_create(client=portal.api_client, url=UNREACHABLE, events=["refund.failed"])
    order = new_order(portal_http)
    started = start_payment(portal_http, order)
    attempt = PaymentAttempt.objects.select_related("order").get(public_id=started["id"])

    assert post_notification(portal_http, platform_notification(attempt, amount=2999)).ok

    # The worker makes the first try at once; the platform's refusal schedules the next.
    return eventually(
        lambda: UnsettledPayment.objects.filter(attempt=attempt, next_try_at__isnull=False).first()
    )


def refund_rows(unsettled: UnsettledPayment) -> list[Refund]:
    return list(Refund.objects.filter(attempt=unsettled.attempt).order_by("id"))


def give_up(unsettled: UnsettledPayment) -> None:
    while unsettled.status == UnsettledPaymentStatus.REFUNDING:
        assert refunds.unsettled_payments_refund_due(now=unsettled.next_try_at) == 1
        unsettled.refresh_from_db()


def balances() -> dict[str, int]:
    """Debits minus credits per ledger account."""
    rows = LedgerEntry.objects.values("account__code").annotate(
        debit=Sum("debit"), credit=Sum("credit")
    )
    return {row["account__code"]: row["debit"] - row["credit"] for row in rows}


def test_a_declined_automatic_refund_is_tried_again_only_when_due_then_given_up_once(declined):
    unsettled = declined
    assert [(r.status, r.amount) for r in refund_rows(unsettled)] == [("failed", 2999)]
    assert refund_rows(unsettled)[0].failure_reason == "declined: TRADE_NOT_PAID"

    for tries, wait in enumerate(BACKOFF, start=1):
        assert unsettled.tries == tries
        failed_at = refund_rows(unsettled)[-1].updated_at
        assert abs(unsettled.next_try_at - failed_at - wait) < timedelta(seconds=5)

        early = refunds.unsettled_payments_refund_due(
            now=unsettled.next_try_at - timedelta(seconds=1)
        )

        assert early == 0
        assert len(refund_rows(unsettled)) == tries
        assert refunds.unsettled_payments_refund_due(now=unsettled.next_try_at) == 1
        assert [r.status for r in refund_rows(unsettled)] == ["failed"] * (tries + 1)
        unsettled.refresh_from_db()

    assert (unsettled.status, unsettled.tries, unsettled.next_try_at) == (
        UnsettledPaymentStatus.NEEDS_ATTENTION,
        len(BACKOFF) + 1,
        None,
    )
    assert unsettled.last_failure == "declined: TRADE_NOT_PAID"
    assert refunds.unsettled_payments_refund_due(now=timezone.now() + timedelta(days=30)) == 0
    tasks.sweep_refunds()
    assert len(refund_rows(unsettled)) == len(BACKOFF) + 1
    given_up = WebhookEvent.objects.get(type="refund.failed")
    assert given_up.payload["id"] == refund_rows(unsettled)[-1].public_id
    assert given_up.owner == unsettled.attempt.order.created_by
    assert WebhookDelivery.objects.filter(event__type="refund.failed").count() == 1
    audit = AuditRecord.objects.get(action="unsettled_payment.needs_attention")
    assert (audit.from_status, audit.to_status) == ("refunding", "needs_attention")
    assert balances() == {"clearing:public_platform": 2999, "refunds_due:payers": -2999}


def test_the_money_given_up_waits_in_the_console_until_a_clerk_retries_it(declined):
    unsettled = declined
    give_up(unsettled)
    auditor = logged_in(make_staff("auditor", group=AUDITOR_GROUP))
    clerk = logged_in(make_staff("clerk"))
    clerk.cookies["django_language"] = "en"
    retry_url = f"/console/backlogs/refunds/{unsettled.pk}/retry/"

    page = clerk.get("/console/backlogs/").content.decode()
    audited = auditor.get("/console/backlogs/").content.decode()
    refused = auditor.post(retry_url)

    row = page.split(f'data-testid="owed-{unsettled.pk}"')[1].split("</tr>")[0]
    order = unsettled.attempt.order
    assert "29.99" in row and order.public_id in row and "Public payment platform" in row
    assert f"<td>{len(BACKOFF) + 1}</td>" in row
    assert "declined: TRADE_NOT_PAID" in row
    assert f'data-testid="retry-refund-{unsettled.pk}"' in row
    assert f'data-testid="owed-{unsettled.pk}"' in audited
    assert f'data-testid="retry-refund-{unsettled.pk}"' not in audited
    assert refused.status_code == 403
    unsettled.refresh_from_db()
    assert unsettled.status == UnsettledPaymentStatus.NEEDS_ATTENTION

    # The payer's trade settles at the platform, so the next refund can be taken from it.
    requests.post(unsettled.attempt.pay_url, json={"result": "success", "notify": False})
    answer = clerk.post(retry_url)

    assert (answer.status_code, answer["Location"]) == (303, "/console/backlogs/#refund-backlog")
    audit = AuditRecord.objects.get(action="unsettled_payment.retry_now")
    assert (audit.actor, audit.from_status, audit.to_status) == (
        "user:clerk",
        "needs_attention",
        "refunding",
    )
    eventually(
        lambda: UnsettledPayment.objects.get(pk=unsettled.pk).status
        == UnsettledPaymentStatus.REFUNDED
    )
    statuses = [r.status for r in refund_rows(unsettled)]
    assert statuses == [RefundStatus.FAILED] * (len(BACKOFF) + 1) + [RefundStatus.SUCCEEDED]
    assert WebhookEvent.objects.filter(type="refund.failed").count() == 1
    assert balances() == {"clearing:public_platform": 0, "refunds_due:payers": 0}
    assert (
        f'data-testid="owed-{unsettled.pk}"' not in clerk.get("/console/backlogs/").content.decode()
    )
    assert clerk.post(retry_url).status_code == 303  # refused as nothing is owed: no new try
    assert len(refund_rows(unsettled)) == len(BACKOFF) + 2
