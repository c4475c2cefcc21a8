"""Fiscal receipts asked for when an order is paid or refunded, issued by the platform's
sandbox through the outbox and a real worker, and the rules the database holds."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import pytest
import requests
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import PaymentAttempt, PaymentOrder, Receipt, ReceiptKind, ReceiptStatus
from billing.receipts import (
    NO_RECEIPT_TO_REDDEN,
    RECEIPTS,
    _receipt_request_of,
    receipt_file,
    receipt_red_request,
    receipt_request,
)
from core.models import AuditRecord
from core.outside import get_receipt_platform
from integrations.receipts.base import PayerType
from outbox.engine import deliver, retry_now, sweep
from tests.billing.conftest import LEGAL_ID, paid_at_platform
from tests.billing.test_payment_flow import platform_notification, post_notification
from tests.billing.test_revenue_push import department_in, paid_order, refund_of
from tests.waiting import eventually

S = ReceiptStatus


class Platform:
    """The receipt platform's sandbox as the live server serves it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = f"{base_url}/sandbox/receipts"

    def mode(self, mode: str, **options) -> None:
        answer = requests.post(
            f"{self.base_url}/_control/mode", json={"mode": mode, **options}, timeout=5
        )
        assert answer.status_code == 200, answer.content

    def receipts_of(self, business_id: str) -> list[dict]:
        held = requests.get(f"{self.base_url}/_control/receipts", timeout=5).json()["receipts"]
        return [receipt for receipt in held if receipt["biz_code"] == business_id]


@pytest.fixture
def platform(live_service):
    sandbox = Platform(live_service.url)
    yield sandbox
    sandbox.mode("up")


def issued(receipt: Receipt) -> Receipt | None:
    receipt.refresh_from_db()
    return receipt if receipt.status == S.ISSUED else None


def receipt_of(order_id: str, kind: str = ReceiptKind.NORMAL) -> Receipt:
    return eventually(lambda: Receipt.objects.filter(order__public_id=order_id, kind=kind).first())


def actions(receipt: Receipt) -> list[str]:
    records = AuditRecord.objects.filter(object_type="Receipt", object_id=receipt.public_id)
    return list(records.order_by("id").values_list("action", flat=True))


# End to end: paid at the platform's cashier, issued by the worker


def test_a_paid_order_gets_one_receipt_whose_signed_file_shows_the_order(
    task_worker, platform, portal, fixed_fee, live_service
):
    order, _ = paid_at_platform(portal, live_service.url)

    receipt = eventually(lambda: issued(receipt_of(order["id"])))

    [held] = platform.receipts_of(order["id"])
    assert (held["code"], held["number"], held["check_code"]) == (
        receipt.code,
        receipt.number,
        receipt.check_code,
    )
    assert held["total_fen"] == receipt.amount == 3000
    assert held["invoicing_party_code"] == "SCJG01"
    read = receipt_file(receipt)  # both signatures verified again from the kept file
    assert read.business_id == order["id"]
    assert read.face.payer_name == "张三" and read.face.payer_code == ""
    assert read.face.pay_code == order["payment_code"]
    assert [(i.code, i.quantity, i.standard_fen, i.amount_fen) for i in read.face.items] == [
        ("FEE-LIC", 2, 1500, 3000)
    ]
    assert receipt.attempt_count == 1 and receipt.last_error == ""
    assert actions(receipt) == ["receipt.issued"]


def test_an_organisations_receipt_shows_its_credit_code(
    task_worker, platform, portal, fixed_fee, live_service
):
    payer = {"type": "legal", "name": "杭州某某科技有限公司", "id_number": LEGAL_ID}
    order, _ = paid_at_platform(portal, live_service.url, payer=payer)

    receipt = eventually(lambda: issued(receipt_of(order["id"])))

    face = receipt_file(receipt).face
    assert (face.payer_type, face.payer_code) == (PayerType.ORGANISATION, LEGAL_ID)
    assert face.payer_name == "杭州某某科技有限公司"


def test_a_duplicate_payment_notification_leaves_one_receipt(
    task_worker, platform, portal, fixed_fee, live_service
):
    order, _ = paid_at_platform(portal, live_service.url)
    receipt = eventually(lambda: issued(receipt_of(order["id"])))
    attempt = PaymentAttempt.objects.get(public_id=order["attempt"]["id"])

    again = post_notification(
        SimpleNamespace(base=live_service.url), platform_notification(attempt)
    )

    assert again.status_code == 200
    time.sleep(0.5)  # what a second receipt request would have needed to be sent
    assert list(Receipt.objects.filter(order__public_id=order["id"])) == [receipt]
    assert len(platform.receipts_of(order["id"])) == 1


def test_a_platform_down_for_a_while_issues_the_receipt_once_when_it_is_back(
    task_worker, platform, portal, fixed_fee, live_service, settings
):
    settings.RECEIPT_RETRY_SCHEDULE = (timedelta(milliseconds=300),) * 20
    platform.mode("down")
    order, _ = paid_at_platform(portal, live_service.url)
    receipt = receipt_of(order["id"])

    def tried_twice():
        receipt.refresh_from_db()
        if receipt.attempt_count < 2:
            sweep()
            time.sleep(0.1)
            return False
        return True

    eventually(tried_twice)
    assert receipt.status == S.REQUESTED and "ProviderUnavailable" in receipt.last_error
    assert platform.receipts_of(order["id"]) == []

    platform.mode("up")

    def issued_after_sweeps():
        sweep()
        time.sleep(0.1)
        return issued(receipt)

    eventually(issued_after_sweeps)
    assert len(platform.receipts_of(order["id"])) == 1
    assert receipt.attempt_count >= 3 and receipt.last_error == ""
    assert actions(receipt) == ["receipt.issued"]


def test_a_receipt_issued_after_the_answer_timed_out_is_the_one_the_retry_gets(
    task_worker, platform, portal, fixed_fee, live_service, settings
):
    settings.RECEIPTS = {**settings.RECEIPTS, "timeout": (1.0, 0.3)}
    settings.RECEIPT_RETRY_SCHEDULE = (timedelta(milliseconds=300),) * 5
    platform.mode("slow", delay_ms=600)
    order, _ = paid_at_platform(portal, live_service.url)
    receipt = receipt_of(order["id"])
    eventually(lambda: receipt.refresh_from_db() or receipt.attempt_count >= 1)
    assert "ProviderUnavailable" in receipt.last_error
    # The platform issued it all the same, after its delay.
    [stored] = eventually(lambda: platform.receipts_of(order["id"]))

    platform.mode("up")

    def issued_after_sweeps():
        sweep()
        time.sleep(0.1)
        return issued(receipt)

    eventually(issued_after_sweeps)
    assert (receipt.code, receipt.number) == (stored["code"], stored["number"])
    assert len(platform.receipts_of(order["id"])) == 1


def test_a_refund_gets_a_red_letter_receipt_for_the_refunded_part(
    task_worker, platform, portal, fixed_fee, live_service
):
    order, http = paid_at_platform(portal, live_service.url)
    blue = eventually(lambda: issued(receipt_of(order["id"])))

    asked = http.post(
        f"{live_service.url}/api/v1/payment-orders/{order['id']}/refunds",
        json={"amount": 1000, "reason": "申请人撤回申请"},
        headers={"Idempotency-Key": "receipt-refund"},
    )

    assert asked.status_code == 201, asked.text
    red = eventually(lambda: issued(receipt_of(order["id"], ReceiptKind.RED)))
    assert red.amount == -1000
    assert red.related == blue and red.refund.public_id == asked.json()["id"]
    read = receipt_file(red)
    assert read.total_fen == -1000 and read.is_red
    assert (read.face.related_code, read.face.related_number) == (blue.code, blue.number)
    assert read.face.red_reason == "申请人撤回申请"
    [original] = platform.receipts_of(order["id"])
    assert original["reddened_fen"] == 1000
    assert len(platform.receipts_of(asked.json()["id"])) == 1


# The outbox's rules, with rows built directly


def held_back(receipt: Receipt) -> Receipt:
    """Not due until the test sends it: a worker serving other tests leaves it alone."""
    later = timezone.now() + timedelta(days=1)
    Receipt.objects.filter(pk=receipt.pk).update(next_attempt_at=later)
    return receipt


def request_paid(order: PaymentOrder) -> Receipt:
    with transaction.atomic():
        return held_back(receipt_request(order=order))


def send_now(receipt: Receipt) -> Receipt:
    """Deliver it now, as the worker would."""
    Receipt.objects.filter(pk=receipt.pk).update(next_attempt_at=timezone.now())
    deliver(RECEIPTS.name, receipt.pk)
    receipt.refresh_from_db()
    return receipt


def test_a_red_letter_receipt_waits_until_the_receipt_it_reddens_is_issued(transactional_db):
    order = paid_order(department_in("330100", code="330100-SCJG"))
    request_paid(order)  # not issued
    with transaction.atomic():
        red = receipt_red_request(order=order, refund=refund_of(order))

    send_now(red)  # its turn has not come: no call is made

    assert red.status == S.REQUESTED and red.attempt_count == 0
    assert red.request == {
        "business_id": red.refund.public_id,
        "amount_fen": 1500,
        "reason": "申请人撤回",
    }
    assert sweep()[RECEIPTS.name] == 0


def test_a_refund_of_an_order_without_a_receipt_fails_visibly_and_cannot_be_retried(
    transactional_db,
):
    order = paid_order(department_in("330100", code="330100-SCJG"))

    with transaction.atomic():
        red = receipt_red_request(order=order, refund=refund_of(order))

    assert (red.status, red.last_error, red.next_attempt_at) == (
        S.FAILED,
        NO_RECEIPT_TO_REDDEN,
        None,
    )
    with pytest.raises(Exception, match="no receipt to redden"):
        retry_now(RECEIPTS.name, red.pk, actor="user:finance")


def test_a_request_the_platform_refuses_fails_at_once_and_a_person_may_retry_it(
    live_service, platform, transactional_db
):
    order = paid_order(department_in("330100", code="330100-SCJG"))
    receipt = request_paid(order)
    # The platform already holds this business id with other content: E2002, final.
    request = _receipt_request_of(order, order.attempts.get())
    get_receipt_platform().issue(replace(request, remark="another request"))

    receipt = send_now(receipt)

    assert receipt.status == S.FAILED and receipt.next_attempt_at is None
    assert receipt.last_error.startswith("ProviderDeclined: E2002")
    assert actions(receipt) == ["receipt.failed"]

    receipt = retry_now(RECEIPTS.name, receipt.pk, actor="user:finance")
    assert (receipt.status, receipt.attempt_count) == (S.REQUESTED, 0)
    assert actions(receipt)[-1] == "receipt.retry_now"


def test_the_database_holds_one_receipt_per_order_and_one_red_letter_per_refund(
    transactional_db,
):
    order = paid_order(department_in("330100", code="330100-SCJG"))
    refund = refund_of(order)
    request_paid(order)
    with transaction.atomic():
        receipt_red_request(order=order, refund=refund)

    with pytest.raises(IntegrityError, match="one_receipt_per_order"):
        request_paid(order)
    with pytest.raises(IntegrityError, match="one_red_receipt_per_refund"), transaction.atomic():
        receipt_red_request(order=order, refund=refund)


def test_requesting_outside_the_transaction_of_the_payment_is_refused(transactional_db):
    order = paid_order(department_in("330100", code="330100-SCJG"))

    with pytest.raises(RuntimeError, match="in the transaction"):
        receipt_request(order=order)
