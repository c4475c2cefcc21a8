"""The processors page (licences, breakers, departments) and the delivery backlogs with retry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from billing.health import FAILURE_THRESHOLD, channel_failed, channel_take_call
from billing.models import (
    AttemptStatus,
    ChannelHealth,
    DeliveryStatus,
    PaymentAttempt,
    Processor,
    RevenueRecord,
    RevenueRecordStatus,
    UnsettledPayment,
    UnsettledPaymentStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from billing.revenue import NO_SYSTEM, revenue_system_configure
from billing.services.orders import order_event_payload
from billing.webhooks import webhook_endpoint_create, webhook_event_emit
from core.auth import api_client_create
from core.models import AuditRecord
from core.money import business_date_of
from outbox.engine import deliver
from tests.billing.test_revenue_push import Sandbox, department_in, emit, paid_order
from tests.console.conftest import logged_in, make_staff
from tests.waiting import eventually

UNREACHABLE = "http://127.0.0.1:9/hooks"  # the discard port: the connection is refused


def english(client):
    client.cookies["django_language"] = "en"
    return client


def element(page: str, testid: str) -> str | None:
    """The element carrying ``testid``, tags included (enough for the flat markup tested)."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(testid)}"[^>]*>.*?</\1>', page, re.S)
    return found.group(0) if found else None


def page_of(client, url: str) -> str:
    answer = client.get(url)
    assert answer.status_code == 200, answer.content
    return answer.content.decode()


# Processors


def licensed_processor(code: str, *, valid_for_days: int, **fields) -> Processor:
    today = business_date_of(timezone.now())
    return Processor.objects.create(
        code=code,
        legal_name=f"{code} 网络技术有限公司",
        licence_number=f"Z20044{code.upper()}",
        licence_scope=["internet_payment"],
        licence_valid_until=today + timedelta(days=valid_for_days),
        max_amount=5_000_000,
        priority=20,
        **fields,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("valid_for_days", "fields", "tone"),
    [
        (31, {}, None),
        (30, {}, "warn"),
        (0, {}, "warn"),
        (-1, {}, "bad"),
        (200, {"status": Processor.Status.REVOKED}, "bad"),
    ],
)
def test_a_licence_is_flagged_from_30_days_before_expiry_and_when_expired_or_revoked(
    clerk, valid_for_days, fields, tone
):
    licensed_processor("alipay", valid_for_days=valid_for_days, **fields)

    page = page_of(english(clerk), "/console/processors/")

    row = element(page, "processor-alipay")
    assert "Z20044ALIPAY" in row and "internet payment" in row and "internet_payment" not in row
    warning = element(page, "licence-warning-alipay")
    if tone is None:
        assert warning is None
    else:
        assert f'data-tone="{tone}"' in warning
    assert element(page, "licence-warning-public_platform") is None  # needs no licence


@pytest.mark.django_db
def test_the_breaker_is_shown_as_it_stands_and_looking_does_not_move_it(clerk):
    for code in ("alipay", "wechatpay", "unionpay"):
        licensed_processor(code, valid_for_days=365)
    long_ago = timezone.now() - timedelta(hours=1)
    for _ in range(FAILURE_THRESHOLD):
        channel_failed("alipay", now=long_ago)  # open, and its cool-off is over
    for _ in range(FAILURE_THRESHOLD):
        channel_failed("wechatpay", now=long_ago)
    assert channel_take_call("wechatpay")  # takes the trial: half-open
    channel_failed("unionpay")

    page = page_of(english(clerk), "/console/processors/")

    opened = element(page, "breaker-alipay")
    assert 'data-state="open"' in opened
    assert f"{FAILURE_THRESHOLD} consecutive failures" in opened
    assert "a trial call is due" in opened
    assert f"{FAILURE_THRESHOLD} failures" in element(page, "breaker-change-alipay")
    assert 'data-state="half_open"' in element(page, "breaker-wechatpay")
    closed = element(page, "breaker-unionpay")
    assert 'data-state="closed"' in closed and "1 consecutive failure" in closed
    assert 'data-state="closed"' in element(page, "breaker-public_platform")
    assert ChannelHealth.objects.get(channel="alipay").state == ChannelHealth.State.OPEN


@pytest.mark.django_db
def test_a_scoped_clerk_sees_only_their_departments_accepting_and_paying(clerk):
    ours = department_in("330100", code="330100-SCJG")
    theirs = department_in("330100", code="330100-GA")
    paid_order(ours)
    paid_order(theirs)
    scoped = logged_in(make_staff("scoped", ours))

    everyone = page_of(clerk, "/console/processors/")
    limited = page_of(scoped, "/console/processors/")

    assert ours.name in element(everyone, "accepted-by-public_platform")
    assert theirs.name in element(everyone, "accepted-by-public_platform")
    assert "60.00" in element(everyone, "paid-today-public_platform")
    assert ours.name in element(limited, "accepted-by-public_platform")
    assert theirs.name not in limited
    assert "30.00" in element(limited, "paid-today-public_platform")


# Backlogs: records made through the services


def unroutable_record(department) -> RevenueRecord:
    """A paid order's record in a region no revenue system takes: failed at once."""
    record = emit(paid_order(department))
    assert (record.status, record.last_error) == (RevenueRecordStatus.FAILED, NO_SYSTEM)
    return record


def failed_delivery(
    payload: dict, settings, event_type: str = "payment_order.paid"
) -> WebhookDelivery:
    """An event's delivery to a refused connection, with no retry left in the schedule."""
    settings.WEBHOOK_RETRY_SCHEDULE = ()
    endpoint = WebhookEndpoint.objects.first()
    if endpoint is None:
        client, _key = api_client_create(name="portal", role="portal")
        endpoint, _secret = webhook_endpoint_create(client=client, url=UNREACHABLE, events=["*"])
    with transaction.atomic():
        event = webhook_event_emit(
            event_type=event_type, payload=payload, owner_id=endpoint.client_id
        )
    delivery = WebhookDelivery.objects.get(event=event)
    deliver("webhook_delivery", delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    return delivery


def test_a_revenue_system_that_is_down_and_a_failed_webhook_fill_the_backlogs_and_a_clerk_retries(
    live_service, task_worker, settings, clerk
):
    department = department_in("330100", code="330100-SCJG")
    sandbox = Sandbox(live_service, settings)
    sandbox.mode("down")
    order = paid_order(department)
    record = emit(order)
    deliver("revenue_record", record.pk)
    record.refresh_from_db()
    delivery = failed_delivery(order_event_payload(order), settings)

    page = page_of(english(clerk), "/console/backlogs/")

    row = element(page, f"revenue-{record.pk}")
    assert 'data-status="pending"' in row
    assert "HTTP 503" in row and sandbox.system.name in row
    assert f"/console/orders/{order.public_id}/" in row
    assert department.name in row
    assert ">1<" in element(page, "revenue-pending-count")
    webhook_row = element(page, f"webhook-{delivery.pk}")
    assert 'data-status="failed"' in webhook_row
    assert "connection_failed" in webhook_row and department.name in webhook_row
    assert ">1<" in element(page, "webhook-failed-count")
    assert order.payer_name not in page

    before = timezone.now()
    retried = english(clerk).post(f"/console/backlogs/revenue/{record.pk}/retry/", follow=True)
    record.refresh_from_db()
    assert retried.redirect_chain == [("/console/backlogs/#revenue-backlog", 303)]
    assert "Retry requested for revenue record" in retried.content.decode()
    audit = AuditRecord.objects.get(action="revenue_record.retry_now", object_id=record.public_id)
    assert audit.actor == "user:clerk"
    # Made due now and queued: the worker pushes it again at once (and it is still down).
    eventually(lambda: record.attempts.filter(at__gte=before, status_code=503).exists())

    answer = clerk.post(f"/console/backlogs/webhooks/{delivery.pk}/retry/?status=failed")
    delivery.refresh_from_db()
    assert (answer.status_code, answer["Location"]) == (
        303,
        "/console/backlogs/?status=failed#webhook-backlog",
    )
    assert delivery.status == DeliveryStatus.PENDING
    audit = AuditRecord.objects.get(action="webhook_delivery.retry_now")
    assert (audit.actor, audit.from_status, audit.to_status) == ("user:clerk", "failed", "pending")


@pytest.mark.django_db
def test_an_auditor_sees_the_backlogs_without_buttons_and_is_refused_a_retry(auditor, settings):
    record = unroutable_record(department_in("330100", code="330100-SCJG"))
    delivery = failed_delivery(order_event_payload(record.order), settings)

    page = page_of(auditor, "/console/backlogs/")

    assert element(page, f"revenue-{record.pk}") and element(page, f"webhook-{delivery.pk}")
    assert "retry-revenue-" not in page and "retry-webhook-" not in page
    assert "retry-failed-" not in page
    for url in (
        f"/console/backlogs/revenue/{record.pk}/retry/",
        f"/console/backlogs/webhooks/{delivery.pk}/retry/",
        "/console/backlogs/revenue/retry-failed/",
        "/console/backlogs/webhooks/retry-failed/",
    ):
        assert auditor.post(url, {"id": [record.pk]}).status_code == 403
    assert not AuditRecord.objects.filter(action__endswith="retry_now").exists()


@pytest.mark.django_db
def test_a_clerk_has_a_retry_button_per_row_and_for_the_failed_rows_shown(clerk, settings):
    record = unroutable_record(department_in("330100", code="330100-SCJG"))
    delivery = failed_delivery(order_event_payload(record.order), settings)

    page = page_of(clerk, "/console/backlogs/")

    assert element(page, f"retry-revenue-{record.pk}")
    assert element(page, f"retry-webhook-{delivery.pk}")
    assert element(page, "retry-failed-revenue") and element(page, "retry-failed-webhooks")


@pytest.mark.django_db
def test_a_scoped_clerk_sees_and_retries_only_their_departments_rows(settings):
    ours = department_in("330100", code="330100-SCJG")
    theirs = department_in("330100", code="330100-GA")
    our_record, their_record = unroutable_record(ours), unroutable_record(theirs)
    our_delivery = failed_delivery(order_event_payload(our_record.order), settings)
    their_delivery = failed_delivery(order_event_payload(their_record.order), settings)
    nobodys_delivery = failed_delivery({"id": "po_gone", "status": "paid"}, settings)
    our_refund, their_refund = (
        failed_delivery({"id": "rf_x", "order": order.public_id}, settings, "refund.failed")
        for order in (our_record.order, their_record.order)
    )
    scoped = logged_in(make_staff("scoped", ours))
    everyone = logged_in(make_staff("chief"))

    page = page_of(scoped, "/console/backlogs/")

    assert element(page, f"revenue-{our_record.pk}")
    assert element(page, f"webhook-{our_delivery.pk}")
    assert element(page, f"webhook-{our_refund.pk}")
    assert their_record.public_id not in page
    assert element(page, f"webhook-{their_delivery.pk}") is None
    assert element(page, f"webhook-{their_refund.pk}") is None
    assert element(page, f"webhook-{nobodys_delivery.pk}") is None
    assert ">1<" in element(page, "revenue-failed-count")
    assert ">2<" in element(page, "webhook-failed-count")
    unscoped = page_of(everyone, "/console/backlogs/")
    assert element(unscoped, f"webhook-{nobodys_delivery.pk}")
    assert ">5<" in element(unscoped, "webhook-failed-count")

    assert scoped.post(f"/console/backlogs/revenue/{their_record.pk}/retry/").status_code == 404
    assert scoped.post(f"/console/backlogs/webhooks/{their_delivery.pk}/retry/").status_code == 404
    assert (
        scoped.post(f"/console/backlogs/webhooks/{nobodys_delivery.pk}/retry/").status_code == 404
    )
    assert not AuditRecord.objects.filter(action__endswith="retry_now").exists()

    scoped.post(
        "/console/backlogs/webhooks/retry-failed/",
        {"id": [our_delivery.pk, their_delivery.pk, nobodys_delivery.pk]},
    )
    retried = AuditRecord.objects.filter(action="webhook_delivery.retry_now")
    assert list(retried.values_list("object_id", flat=True)) == [str(our_delivery.pk)]


@pytest.mark.django_db
def test_retrying_the_failed_records_shown_routes_each_again_once_a_system_exists(clerk):
    department = department_in("330100", code="330100-SCJG")
    records = [unroutable_record(department) for _ in range(2)]
    revenue_system_configure(
        code="zj",
        name="浙江省非税收入征管系统",
        region_prefix="33",
        base_url="http://127.0.0.1:9/revenue",
        app_key="backoffice",
        secret="secret",
        actor="test",
    )

    answer = english(clerk).post(
        "/console/backlogs/revenue/retry-failed/",
        {"id": [record.pk for record in records]},
        follow=True,
    )

    assert "Retry requested for 2 failed rows." in answer.content.decode()
    for record in records:
        record.refresh_from_db()
        assert record.status == RevenueRecordStatus.PENDING
        assert record.revenue_system.code == "zj"
    assert AuditRecord.objects.filter(action="revenue_record.retry_now").count() == 2


@pytest.mark.django_db
def test_filters_narrow_the_tables_and_the_counts_link_to_them(clerk, settings):
    record = unroutable_record(department_in("330100", code="330100-SCJG"))
    delivery = failed_delivery(order_event_payload(record.order), settings)

    pending_only = page_of(clerk, "/console/backlogs/?status=pending")
    by_endpoint = page_of(clerk, f"/console/backlogs/?endpoint={delivery.endpoint.public_id}")

    assert element(pending_only, f"revenue-{record.pk}") is None
    assert element(pending_only, f"webhook-{delivery.pk}") is None
    assert element(by_endpoint, f"webhook-{delivery.pk}")
    assert f"?endpoint={delivery.endpoint.public_id}" in element(
        by_endpoint, "webhook-counts-by-endpoint"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url", "data", "status"),
    [
        ("post", "/console/backlogs/revenue/999999/retry/", {}, 404),
        ("post", f"/console/backlogs/revenue/{10**30}/retry/", {}, 404),
        ("post", "/console/backlogs/webhooks/999999/retry/", {}, 404),
        ("post", "/console/backlogs/revenue/abc/retry/", {}, 404),
        ("get", "/console/backlogs/revenue/1/retry/", {}, 405),
        ("post", "/console/backlogs/revenue/retry-failed/", {"id": ["abc"]}, 400),
        ("post", "/console/backlogs/webhooks/retry-failed/", {"id": ["9" * 30]}, 400),
        ("get", "/console/backlogs/", {"status": "acknowledged"}, 400),
        ("get", "/console/backlogs/", {"system": "nowhere"}, 400),
        ("get", "/console/backlogs/", {"endpoint": "we_nope"}, 400),
    ],
)
def test_bad_ids_and_parameters_are_answered_without_a_server_error(
    clerk, method, url, data, status
):
    answer = getattr(clerk, method)(url, data)
    assert answer.status_code == status
    assert answer["Content-Type"].startswith("text/html")


# Refunds given up to a person


def refund_given_up(department, received: int) -> UnsettledPayment:
    """Money that could not settle a closed order, whose last automatic refund was declined."""
    attempt = PaymentAttempt.objects.create(
        order=paid_order(department),
        channel="public_platform",
        amount=3000,
        received_amount=received,
        status=AttemptStatus.SUCCEEDED,
        refund_due=True,
    )
    return UnsettledPayment.objects.create(
        attempt=attempt,
        status=UnsettledPaymentStatus.NEEDS_ATTENTION,
        tries=6,
        last_failure="declined: PAYER_ACCOUNT_ABNORMAL",
    )


@pytest.mark.django_db
def test_a_scoped_clerk_sees_and_retries_only_their_departments_refunds_given_up():
    ours = department_in("330100", code="330100-SCJG")
    theirs = department_in("330100", code="330100-GA")
    our_refund, their_refund = refund_given_up(ours, 123456), refund_given_up(theirs, 2999)
    scoped = logged_in(make_staff("scoped", ours))

    page = page_of(scoped, "/console/backlogs/")

    row = element(page, f"owed-{our_refund.pk}")
    assert "需要人工处理的退款" in page
    assert "1,234.56" in row and our_refund.attempt.order.public_id in row
    assert "declined: PAYER_ACCOUNT_ABNORMAL" in row and "<td>6</td>" in row
    assert element(page, f"retry-refund-{our_refund.pk}")
    assert element(page, f"owed-{their_refund.pk}") is None
    assert scoped.post(f"/console/backlogs/refunds/{their_refund.pk}/retry/").status_code == 404

    retried = english(scoped).post(f"/console/backlogs/refunds/{our_refund.pk}/retry/", follow=True)
    again = english(scoped).post(f"/console/backlogs/refunds/{our_refund.pk}/retry/", follow=True)

    assert "Retry requested for the refund of" in retried.content.decode()
    assert "only a refund given up is retried" in again.content.decode()
    our_refund.refresh_from_db()
    assert (our_refund.status, our_refund.tries) == (UnsettledPaymentStatus.REFUNDING, 0)
    retries = AuditRecord.objects.filter(action="unsettled_payment.retry_now")
    assert list(retries.values_list("object_id", flat=True)) == [str(our_refund.pk)]
