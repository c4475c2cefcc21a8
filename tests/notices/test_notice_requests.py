"""Which changes ask for which notice, to whom, saying what: written in the change's
transaction (here the test's, never committed, so nothing is sent)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Receipt, ReceiptKind
from core import pii
from integrations.couriers.base import Booking
from logistics.models import Shipment, ShipmentStatus
from logistics.services import booking
from notices import templates
from notices.models import NoticeKind, SmsMessage, SmsStatus
from notices.sealed import PHONE_COLUMN
from notices.sms import notice_request
from tests.billing.conftest import NATURAL_ID, portal_api
from tests.logistics.conftest import create_in_process
from tests.logistics.test_courier_events import zto
from tests.notices.conftest import PHONE, booked_shipment, messages_of, move, order_paid_by

pytestmark = pytest.mark.django_db
# A courier the service does not book with, which brings its waybill from the counter.
__all__ = ["zto"]


def unbooked_shipment(**overrides) -> Shipment:
    return create_in_process(portal_api(), **overrides)


def record_booking(shipment: Shipment, waybill_no: str) -> None:
    """The courier's answer to the booking, recorded as the booking task records it."""
    booking._record_booking(shipment.pk, Booking(shipment.public_id, waybill_no, b"label"))


def request(**sources) -> SmsMessage | None:
    with transaction.atomic():
        return notice_request(**sources)


def issued_receipt(order) -> Receipt:
    return Receipt.objects.create(
        kind=ReceiptKind.NORMAL,
        order=order,
        amount=order.amount,
        status="issued",
        code="33010126",
        number="0000012345",
        check_code="a1b2c3",
        issued_at=timezone.now(),
        xml=b"<EInvoice/>",
    )


def test_a_paid_order_asks_for_one_notice_with_its_code_tail_and_amount(department):
    order = order_paid_by(department)

    message = request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)

    assert (message.kind, message.order, message.status) == ("payment_received", order, "queued")
    assert message.template_id == settings.SMS["templates"]["payment_received"]
    assert message.params == [order.payment_code[-4:], "30.00"]
    assert message.text == (
        f"【{settings.SMS['sign_name']}】您缴款码尾号{order.payment_code[-4:]}的缴款30.00元已收到，"
        "财政电子票据开具后将短信通知您。"
    )
    assert pii.decrypt(message.phone_encrypted, column=PHONE_COLUMN) == PHONE
    assert message.phone_index == pii.blind_index(PHONE, purpose="phone")
    assert message.phone_masked == "138****8000"
    assert message.next_attempt_at is not None


def test_the_stored_text_holds_nothing_of_the_payer_but_the_templates_parameters(department):
    order = order_paid_by(department)

    message = request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)

    stored = " ".join([message.text, *message.params, message.phone_masked])
    for personal in (PHONE, order.payer_name, NATURAL_ID, order.payment_code, order.case_number):
        assert personal not in stored
    assert set(re.findall(r"\d+", message.text)) <= {*message.params[0:1], "30", "00"}


def test_a_notice_asked_for_twice_is_written_once(department):
    order = order_paid_by(department)

    first = request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)
    second = request(kind=NoticeKind.PAYMENT_RECEIVED, order=order)

    assert first is not None and second is None
    assert messages_of(order=order) == [first]


@pytest.mark.parametrize("phone", ["", "0571-87654321"])
def test_a_payer_without_a_mobile_number_gets_no_notice(department, phone):
    order = order_paid_by(department, phone=phone)

    assert request(kind=NoticeKind.PAYMENT_RECEIVED, order=order) is None
    assert messages_of() == []


def test_no_notice_while_sms_is_off(department, settings):
    settings.SMS = {**settings.SMS, "enabled": False}

    assert request(kind=NoticeKind.PAYMENT_RECEIVED, order=order_paid_by(department)) is None
    assert messages_of() == []


def test_a_kind_without_a_configured_template_fails_for_a_person_to_see(department, settings):
    templates_ = {**settings.SMS["templates"]}
    del templates_["payment_received"]
    settings.SMS = {**settings.SMS, "templates": templates_}

    message = request(kind=NoticeKind.PAYMENT_RECEIVED, order=order_paid_by(department))

    assert (message.status, message.next_attempt_at) == (SmsStatus.FAILED, None)
    assert "no template" in message.last_error


def test_an_issued_receipt_tells_its_number_and_a_red_letter_one_tells_nothing(department):
    order = order_paid_by(department)
    receipt = issued_receipt(order)

    message = request(kind=NoticeKind.RECEIPT_ISSUED, receipt=receipt)

    assert message.params == [order.payment_code[-4:], "30.00", "0000012345"]
    assert message.order == order and "查验下载" in message.text
    assert settings.SMS["portal_url"] in message.text
    red = Receipt(kind=ReceiptKind.RED, order=order, amount=-1000, number="0000012346")
    assert request(kind=NoticeKind.RECEIPT_ISSUED, receipt=red) is None


def test_a_result_shipment_is_told_booked_when_its_courier_gives_the_waybill(department):
    shipment = unbooked_shipment()

    record_booking(shipment, "SF7000000001")

    (told,) = messages_of(shipment=shipment)
    assert (told.kind, told.params, told.status) == (
        "shipment_booked",
        ["顺丰速运", "SF7000000001"],
        SmsStatus.QUEUED,
    )
    assert told.text == (
        f"【{settings.SMS['sign_name']}】您的办件结果已预约顺丰速运寄递，运单号SF7000000001，"
        f"可登录 {settings.SMS['portal_url']} 查询物流进度，请留意查收。"
    )
    assert pii.decrypt(told.phone_encrypted, column=PHONE_COLUMN) == PHONE
    assert told.phone_index == Shipment.objects.get(pk=shipment.pk).recipient_phone_index


def test_the_courier_s_scans_tell_of_delivery_each_once_and_nothing_more_of_the_booking(
    department,
):
    shipment = booked_shipment()

    for status in (
        ShipmentStatus.PICKED_UP,  # its booking was told when the waybill came
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
    ):
        shipment = move(shipment, status)

    told = messages_of(shipment=shipment)
    assert [(m.kind, m.params) for m in told] == [
        ("out_for_delivery", ["SF7000000001"]),
        ("delivered", ["SF7000000001"]),
    ]
    assert {pii.decrypt(m.phone_encrypted, column=PHONE_COLUMN) for m in told} == {PHONE}
    assert {m.phone_index for m in told} == {shipment.recipient_phone_index}


def test_a_parcel_a_counter_courier_took_is_told_booked_when_it_is_recorded(department, zto):
    shipment = unbooked_shipment(courier=zto, waybill_no="ZT7300012345678")

    assert [(m.kind, m.params) for m in messages_of(shipment=shipment)] == [
        ("shipment_booked", ["ZTO", "ZT7300012345678"])
    ]


def test_each_failed_delivery_asks_the_applicant_to_choose_on_the_portal(department):
    shipment = booked_shipment()
    for status, failed in (
        (ShipmentStatus.OUT_FOR_DELIVERY, 0),
        (ShipmentStatus.DELIVERY_FAILED, 1),
        (ShipmentStatus.OUT_FOR_DELIVERY, 1),
        (ShipmentStatus.DELIVERY_FAILED, 2),
    ):
        shipment = move(shipment, status, failed_attempts=failed)

    told = [(m.kind, m.dedupe_key.rsplit(":", 1)[1]) for m in messages_of(shipment=shipment)]
    assert told == [
        ("out_for_delivery", "0"),
        ("delivery_failed", "1"),
        ("out_for_delivery", "1"),
        ("delivery_failed", "2"),
    ]
    failed = messages_of(kind="delivery_failed")[0]
    assert failed.text.endswith(
        f"派送未成功，请登录 {settings.SMS['portal_url']} 选择再次派送、网点自取或退回办理机关。"
    )


def test_a_shipment_of_materials_to_an_agency_tells_no_applicant(department):
    shipment = unbooked_shipment(kind="materials")

    record_booking(shipment, "SF7000000002")
    for status in (ShipmentStatus.PICKED_UP, ShipmentStatus.DELIVERED):
        shipment = move(shipment, status)

    assert messages_of() == []


def test_a_shipment_cancelled_while_its_courier_booked_it_tells_nothing(
    department, settings, caplog
):
    settings.SF_EXPRESS = {**settings.SF_EXPRESS, "base_url": "http://127.0.0.1:9/sf"}
    shipment = unbooked_shipment()
    Shipment.objects.filter(pk=shipment.pk).update(status=ShipmentStatus.CANCELLED)

    record_booking(shipment, "SF7000000003")

    assert Shipment.objects.get(pk=shipment.pk).waybill_no == "SF7000000003"
    assert "could not be" in caplog.text  # its booking is cancelled at the courier, or tried
    assert messages_of() == []


def test_the_templates_the_sandbox_approved_take_the_parameters_the_texts_have():
    approved = settings.SANDBOX_SMS["apps"][settings.SMS["sdk_app_id"]]["templates"]

    assert {kind: approved[settings.SMS["templates"][kind]] for kind in templates.TEXTS} == {
        kind: templates.parameter_count(kind) for kind in templates.TEXTS
    }
    assert set(settings.SMS["templates"]) == set(NoticeKind.values)
