"""A notification reads revenue systems and webhook endpoints through the process's cache of
reference data, under the version its first statement read: a change committed by another
process is seen by the next notification."""

from __future__ import annotations

import pytest

from billing.models import (
    PaymentAttempt,
    RevenueRecord,
    RevenueRecordStatus,
    RevenueSystem,
    WebhookDelivery,
    WebhookEndpoint,
)
from billing.revenue import NO_SYSTEM
from billing.webhooks import SECRET_COLUMN
from core import pii, reference_data
from core.models import ApiClient
from tests.billing.conftest import create_order
from tests.billing.test_payment_flow import platform_notification
from tests.billing.test_payment_statements import notify, start
from tests.billing.test_reference_data import committed_elsewhere

pytestmark = pytest.mark.django_db(transaction=True)  # changes commit, as they do served


def paid(portal, case_number: str) -> PaymentAttempt:
    attempt = start(portal, create_order(portal, case_number=case_number))
    response = notify(platform_notification(PaymentAttempt.objects.get(public_id=attempt["id"])))
    assert response.status_code == 200, response.content
    return PaymentAttempt.objects.select_related("order").get(public_id=attempt["id"])


def deliveries_of(attempt: PaymentAttempt) -> int:
    return WebhookDelivery.objects.filter(event__payload__id=attempt.order.public_id).count()


def record_of(attempt: PaymentAttempt) -> RevenueRecord:
    return RevenueRecord.objects.get(order=attempt.order)


@pytest.fixture
def endpoint(portal, fixed_fee) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        client=ApiClient.objects.get(name="portal"),
        url="https://portal.example.cn/hooks",
        events=["payment_order.paid"],
        secret_encrypted=pii.encrypt("whsec-test", column=SECRET_COLUMN),
    )


def test_an_endpoint_disabled_elsewhere_hears_no_later_payment(live_service, portal, endpoint):
    assert deliveries_of(paid(portal, "heard")) == 1  # the client's endpoints are now cached

    committed_elsewhere(
        "UPDATE billing_webhookendpoint SET active = false WHERE id = %s", endpoint.pk
    )

    assert deliveries_of(paid(portal, "not heard")) == 0


def test_an_endpoint_registered_elsewhere_hears_the_next_payment(live_service, portal, endpoint):
    endpoint.active = False
    endpoint.save()
    assert deliveries_of(paid(portal, "nobody listens")) == 0

    committed_elsewhere(
        "UPDATE billing_webhookendpoint SET active = true WHERE id = %s", endpoint.pk
    )

    assert deliveries_of(paid(portal, "heard")) == 1


def test_a_revenue_system_activated_elsewhere_takes_the_next_record(
    live_service, portal, fixed_fee
):
    system = RevenueSystem.objects.create(
        code="hz",
        name="杭州市非税收入征管系统",
        region_prefix="3301",
        base_url="https://revenue.example.cn",
        app_key="app",
        secret_encrypted=pii.encrypt("secret", column="revenue_system.secret"),
        active=False,
    )
    before = record_of(paid(portal, "no system yet"))
    assert (before.status, before.last_error) == (RevenueRecordStatus.FAILED, NO_SYSTEM)

    committed_elsewhere("UPDATE billing_revenuesystem SET active = true WHERE id = %s", system.pk)

    after = record_of(paid(portal, "routed"))
    assert (after.status, after.revenue_system_id) == (RevenueRecordStatus.PENDING, system.pk)


def test_a_notification_leaves_no_version_behind(live_service, portal, fixed_fee):
    paid(portal, "one")
    assert reference_data._version.get() is None
