"""SMS notices in the console: each message newest first, its number masked, its order or
shipment linked, filtered by status, kind and date, and only the reader's departments'."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from logistics.models import Shipment
from notices.callbacks import sms_opt_out_record
from notices.models import NoticeKind, SmsMessage, SmsStatus
from notices.sms import notice_request
from tests.billing.conftest import portal_api
from tests.billing.test_revenue_push import department_in
from tests.console.conftest import logged_in, make_staff
from tests.console.test_i18n import foreign_words, text_of
from tests.console.test_operations import element, english, page_of
from tests.logistics.conftest import create_in_process
from tests.notices.conftest import PHONE, order_paid_by

pytestmark = pytest.mark.django_db

POLICE_PHONE = "13912345678"
PAGE = "/console/sms/"


@pytest.fixture
def police():
    return department_in("330100", code="330100-GA")


@pytest.fixture
def told(department, police) -> dict[str, SmsMessage]:
    """The market's payer and applicant, and the police's payer, each told once."""
    shipment = create_in_process(portal_api())  # the market's (the department fixture's)
    Shipment.objects.filter(pk=shipment.pk).update(waybill_no="SF7000000001")
    shipment.refresh_from_db()
    with transaction.atomic():
        return {
            "market order": notice_request(
                kind=NoticeKind.PAYMENT_RECEIVED, order=order_paid_by(department)
            ),
            "market shipment": notice_request(kind=NoticeKind.SHIPMENT_BOOKED, shipment=shipment),
            "police order": notice_request(
                kind=NoticeKind.PAYMENT_RECEIVED, order=order_paid_by(police, phone=POLICE_PHONE)
            ),
        }


def listed(page: str) -> list[str]:
    """The public ids of the messages in the table, top to bottom."""
    return re.findall(r'data-testid="sms-(sms_\w+)"', page)


def found(client, **query) -> set[str]:
    return set(listed(client.get(PAGE, query).content.decode()))


def test_every_message_is_listed_newest_first_its_kind_in_words_and_its_number_masked(clerk, told):
    delivered_at = timezone.now()
    SmsMessage.objects.filter(pk=told["market order"].pk).update(
        status=SmsStatus.DELIVERED,
        serial_no="2433:0001",
        sent_at=delivered_at - timedelta(seconds=5),
        received_at=delivered_at,
        attempt_count=1,
    )

    page = page_of(clerk, PAGE)

    newest_first = [told[name].public_id for name in ("police order", "market shipment")]
    assert listed(page) == [*newest_first, told["market order"].public_id]
    paid = element(page, f"sms-{told['market order'].public_id}")
    assert "缴款到账" in paid and "已送达" in paid and 'data-status="delivered"' in paid
    assert "138****8000" in paid
    assert f"/console/orders/{told['market order'].order.public_id}/" in paid
    assert timezone.localtime(delivered_at).strftime("%Y-%m-%d %H:%M:%S") in paid
    booked = element(page, f"sms-{told['market shipment'].public_id}")
    assert "已预约寄递" in booked and "待发送" in booked
    assert f"/console/shipments/{told['market shipment'].shipment.public_id}/" in booked
    assert "139****5678" in page
    in_english = page_of(english(clerk), PAGE)
    assert "payment received" in in_english and "booked with the courier" in in_english


def test_each_language_says_its_own_words_and_no_code(clerk, told):
    SmsMessage.objects.filter(pk=told["police order"].pk).update(
        status=SmsStatus.UNDELIVERED, serial_no="2433:0002", report_code="MK:0001"
    )

    for language in ("zh-hans", "en"):
        page = page_of(english(clerk) if language == "en" else clerk, PAGE)
        assert foreign_words(text_of(page, translatable_only=True), language=language) == []


def test_no_full_phone_number_reaches_the_page_in_either_language(clerk, told):
    for page in (page_of(clerk, PAGE), page_of(english(clerk), PAGE)):
        assert PHONE not in page and POLICE_PHONE not in page
        assert not re.search(r"1[3-9]\d{9}", page)


def test_staff_of_a_department_see_only_their_departments_messages(department, police, told):
    market_clerk = logged_in(make_staff("market.clerk", department))
    police_clerk = logged_in(make_staff("police.clerk", police))

    market_page = page_of(market_clerk, PAGE)
    assert set(listed(market_page)) == {
        told["market order"].public_id,
        told["market shipment"].public_id,
    }
    assert "139****5678" not in market_page
    assert set(listed(page_of(police_clerk, PAGE))) == {told["police order"].public_id}
    assert found(police_clerk, kind="shipment_booked") == set()


def test_auditors_read_the_page_too(auditor, told):
    assert len(listed(page_of(auditor, PAGE))) == 3


def test_messages_are_filtered_by_status_kind_and_date(clerk, told):
    failed = told["police order"]
    SmsMessage.objects.filter(pk=failed.pk).update(
        status=SmsStatus.FAILED, last_error="ProviderDeclined: FailedOperation.TemplateUnapproved"
    )
    today = timezone.localdate()

    assert found(clerk, status="failed") == {failed.public_id}
    assert "TemplateUnapproved" in element(page_of(clerk, PAGE), f"sms-{failed.public_id}")
    assert found(clerk, kind="shipment_booked") == {told["market shipment"].public_id}
    assert found(clerk, kind="payment_received", status="queued") == {
        told["market order"].public_id
    }
    assert len(found(clerk, created_from=today.isoformat(), created_to=today.isoformat())) == 3
    assert found(clerk, created_from=(today + timedelta(days=1)).isoformat()) == set()
    assert found(clerk, created_to=(today - timedelta(days=1)).isoformat()) == set()


@pytest.mark.parametrize(
    "query", [{"status": "lost"}, {"kind": "x"}, {"created_from": "2026-13-01"}, {"page": "0"}]
)
def test_a_bad_filter_is_a_400_page(clerk, query):
    assert clerk.get(PAGE, query).status_code == 400


def test_the_numbers_that_unsubscribed_are_counted_not_listed(clerk, auditor):
    for number in (PHONE, POLICE_PHONE):
        sms_opt_out_record(phone=number, reply="TD")

    in_chinese = page_of(auditor, PAGE)
    in_english = page_of(english(clerk), PAGE)

    assert "2 个号码已回复退订" in element(in_chinese, "sms-opted-out")
    assert "2 numbers have replied to unsubscribe" in element(in_english, "sms-opted-out")
    assert "138****8000" not in in_english


def test_the_console_offers_the_page_to_staff_and_no_one_else(clerk, client):
    assert 'href="/console/sms/"' in page_of(clerk, "/console/")
    assert client.get(PAGE).status_code == 302  # to the login page
