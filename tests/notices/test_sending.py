"""Notices sent through the outbox by a real worker to the SMS sandbox, which reports back.

Each trigger sends its template once; a rolled-back change sends nothing; a gateway that
is down is tried again, a frequency limit waits out its window, a refusal (a bad
signature) is final; a number that opted out is skipped.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import PaymentAttempt
from core.models import AuditRecord
from notices.models import NoticeKind, SmsMessage, SmsOptOut, SmsStatus
from notices.sending import SMS_MESSAGES
from notices.sms import notice_request
from outbox.engine import deliver, sweep
from tests.billing.conftest import NATURAL_ID, paid_at_platform
from tests.billing.test_payment_flow import platform_notification, post_notification
from tests.logistics.conftest import booked, create_shipment, scan, wait_for
from tests.notices.conftest import PHONE, message_in, messages_of, order_paid_by
from tests.waiting import eventually

S = SmsStatus


def ask(kind: str = NoticeKind.PAYMENT_RECEIVED, **sources) -> SmsMessage:
    with transaction.atomic():
        return notice_request(kind=kind, **sources)


def swept(condition):
    """``condition()``, after the outbox's sweep has queued what is due and a moment."""
    sweep()
    time.sleep(0.1)
    return condition()


@pytest.fixture
def quick_retries(settings):
    settings.SMS_RETRY_SCHEDULE = (timedelta(milliseconds=200),) * 10


# Each trigger, end to end


def test_a_payment_at_the_cashier_tells_the_payer_once_and_the_receipt_follows(
    task_worker, sms, portal, fixed_fee, live_service
):
    order, _ = paid_at_platform(portal, live_service.url)

    paid = message_in(S.DELIVERED, order__public_id=order["id"], kind="payment_received")
    ready = message_in(S.DELIVERED, order__public_id=order["id"], kind="receipt_issued")

    journal = {m["session_context"]: m for m in sms.messages(PHONE)}
    assert {ref: (m["template_id"], m["params"]) for ref, m in journal.items()} == {
        paid.public_id: (settings.SMS["templates"]["payment_received"], paid.params),
        ready.public_id: (settings.SMS["templates"]["receipt_issued"], ready.params),
    }
    assert paid.serial_no == journal[paid.public_id]["sid"] and paid.fee == 1
    assert (paid.report_code, paid.attempt_count, paid.last_error) == ("DELIVRD", 1, "")
    actions = AuditRecord.objects.filter(object_id=paid.public_id).values_list("action", flat=True)
    assert list(actions.order_by("id")) == ["sms_message.sent", "sms_message.delivered"]


def test_a_duplicate_payment_notification_sends_nothing_twice(
    task_worker, sms, portal, fixed_fee, live_service
):
    order, _ = paid_at_platform(portal, live_service.url)
    message_in(S.DELIVERED, order__public_id=order["id"], kind="payment_received")
    attempt = PaymentAttempt.objects.get(public_id=order["attempt"]["id"])

    again = post_notification(
        SimpleNamespace(base=live_service.url), platform_notification(attempt)
    )

    assert again.status_code == 200
    time.sleep(0.5)  # what a second notice would have needed to be sent
    payment_notices = messages_of(order__public_id=order["id"], kind="payment_received")
    assert len(payment_notices) == 1
    sent_payment_notices = [
        m for m in sms.messages(PHONE) if m["session_context"] == payment_notices[0].public_id
    ]
    assert len(sent_payment_notices) == 1


def test_a_result_shipment_tells_the_applicant_it_is_booked_coming_and_delivered(
    task_worker, sms, portal_http
):
    shipment = create_shipment(portal_http)
    waybill_no = booked(portal_http, shipment["id"])["waybill_no"]
    message_in(S.DELIVERED, shipment__public_id=shipment["id"], kind="shipment_booked")

    for op_code, status in (("50", "picked_up"), ("44", "out_for_delivery"), ("80", "delivered")):
        scan(portal_http, "sf", waybill_no, opCode=op_code)
        wait_for(portal_http, shipment["id"], lambda s, status=status: s["status"] == status)
    eventually(
        lambda: len(messages_of(shipment__public_id=shipment["id"], status=S.DELIVERED)) == 3
    )

    journal = sms.messages(PHONE)
    templates_ = settings.SMS["templates"]
    assert [(m["template_id"], m["params"]) for m in journal] == [
        (templates_["shipment_booked"], ["顺丰速运", waybill_no]),
        (templates_["out_for_delivery"], [waybill_no]),
        (templates_["delivered"], [waybill_no]),
    ]


def test_a_rolled_back_change_sends_nothing(task_worker, sms, department):
    order = order_paid_by(department)

    with pytest.raises(RuntimeError), transaction.atomic():
        notice_request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)
        raise RuntimeError("the payment failed after all")

    time.sleep(0.5)
    assert messages_of() == [] and sms.messages() == []


# The outbox: retries and refusals


def test_a_gateway_down_for_a_while_sends_the_notice_once_it_is_back(
    task_worker, sms, department, quick_retries
):
    sms.control("mode", mode="down")
    message = ask(order=order_paid_by(department))
    eventually(lambda: swept(lambda: SmsMessage.objects.get(pk=message.pk).attempt_count >= 2))
    assert SmsMessage.objects.get(pk=message.pk).status == S.QUEUED
    assert sms.messages() == []

    sms.control("mode", mode="up")
    sent = eventually(
        lambda: swept(lambda: SmsMessage.objects.filter(pk=message.pk, status=S.DELIVERED).first())
    )

    assert sent.attempt_count >= 3 and sent.last_error == ""
    assert [m["session_context"] for m in sms.messages()] == [message.public_id]


def test_a_signature_failure_fails_the_notice_at_once_and_is_not_retried(
    task_worker, sms, department, quick_retries, settings
):
    settings.SMS = {**settings.SMS, "secret_key": "not-the-key"}

    message = ask(order=order_paid_by(department))

    failed = message_in(S.FAILED, pk=message.pk)
    assert failed.gateway_code == "AuthFailure.SignatureFailure"
    assert failed.next_attempt_at is None and failed.attempt_count == 1
    time.sleep(0.5)
    assert sweep()[SMS_MESSAGES.name] == 0
    assert SmsMessage.objects.get(pk=message.pk).attempt_count == 1
    assert sms.messages() == []


def test_a_frequency_limit_is_waited_out_not_failed(task_worker, sms, department, settings):
    settings.SANDBOX_SMS = {
        **settings.SANDBOX_SMS,
        "frequency_limits": {"thirty_seconds": 1, "one_hour": 100, "day": 100},
    }
    asked = [ask(order=order_paid_by(department)).pk for _ in range(2)]
    message_in(S.DELIVERED, pk__in=asked)

    throttled = eventually(
        lambda: SmsMessage.objects.filter(pk__in=asked, status=S.QUEUED, attempt_count=1).first()
    )
    assert throttled.gateway_code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert throttled.next_attempt_at >= throttled.last_attempt_at + timedelta(seconds=30)
    assert sweep()[SMS_MESSAGES.name] == 0  # not due before the window has passed

    settings.SANDBOX_SMS = {
        **settings.SANDBOX_SMS,
        "frequency_limits": {"thirty_seconds": 2, "one_hour": 100, "day": 100},
    }
    SmsMessage.objects.filter(pk=throttled.pk).update(next_attempt_at=timezone.now())
    deliver(SMS_MESSAGES.name, throttled.pk)

    assert SmsMessage.objects.get(pk=throttled.pk).status in (S.SENT, S.DELIVERED)
    assert len(sms.messages(PHONE)) == 2


def test_a_number_that_opted_out_is_skipped_and_gets_nothing(task_worker, sms, department):
    SmsOptOut.objects.create(phone_index="unrelated", phone_masked="139****0000", reply="TD")
    from notices.callbacks import sms_opt_out_record

    sms_opt_out_record(phone=PHONE, reply="TD")

    skipped = message_in(S.SKIPPED, pk=ask(order=order_paid_by(department)).pk)

    assert skipped.skip_reason == "opted_out" and skipped.serial_no == ""
    assert sms.messages() == []


def test_nothing_of_the_applicant_but_the_parameters_reaches_the_logs(
    task_worker, sms, portal, fixed_fee, live_service, caplog
):
    caplog.set_level(logging.DEBUG)

    order, _ = paid_at_platform(portal, live_service.url)
    message_in(S.DELIVERED, order__public_id=order["id"], kind="receipt_issued")

    for record in caplog.records:
        text = record.getMessage()
        for personal in (PHONE, "138****8000", "张三", NATURAL_ID):
            assert personal not in text, (record.name, text)
