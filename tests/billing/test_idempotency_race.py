from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from billing.models import PaymentOrder
from core.models import IdempotencyRecord
from tests.billing.conftest import order_body

pytestmark = pytest.mark.django_db(transaction=True)

CONCURRENT_REQUESTS = 50


def test_fifty_concurrent_identical_requests_make_exactly_one_order(
    live_service, portal, fixed_fee
):
    url = f"{live_service.url}/api/v1/payment-orders"
    headers = {
        "Authorization": portal._credentials["HTTP_AUTHORIZATION"],
        "Idempotency-Key": "race-1",
    }
    start = threading.Barrier(CONCURRENT_REQUESTS)

    def post(_):
        start.wait()
        return requests.post(url, json=order_body(), headers=headers, timeout=60)

    with ThreadPoolExecutor(max_workers=CONCURRENT_REQUESTS) as pool:
        responses = list(pool.map(post, range(CONCURRENT_REQUESTS)))

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert PaymentOrder.objects.count() == 1
    assert IdempotencyRecord.objects.count() == 1
    assert (
        sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == 49
    )
