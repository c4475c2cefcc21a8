"""The SMS gateway's callbacks: carriers' status reports and applicants' replies.

Posted as Tencent posts them to /notify/sms/: with the token in the URL they are taken,
idempotently; without it, or from an address not allowed, or unreadable, they are refused
with a 4xx and change nothing; no body makes the endpoint answer 500.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import quote

import pytest
from django.conf import settings

from core import pii
from core.models import AuditRecord
from core.money import BEIJING
from notices.models import NoticeKind, SmsMessage, SmsOptOut, SmsStatus
from notices.sealed import PHONE_COLUMN
from tests.notices.conftest import PHONE, order_paid_by

pytestmark = pytest.mark.django_db

S = SmsStatus
SENT_AT = datetime(2026, 3, 1, 10, 0, tzinfo=BEIJING)


def url(what: str, token: str | None = None) -> str:
    token = settings.SMS["callback_token"] if token is None else token
    return f"/notify/sms/{what}?token={quote(token, safe='')}"


def post(client, what: str, body: object, **options):
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False)
    return client.post(url(what, options.pop("token", None)), data, "application/json", **options)


def sent_message(department, serial_no: str = "2433:0001") -> SmsMessage:
    order = order_paid_by(department)
    return SmsMessage.objects.create(
        kind=NoticeKind.PAYMENT_RECEIVED,
        dedupe_key=f"payment_received:{order.public_id}",
        order=order,
        template_id="2100001",
        params=["8000", "30.00"],
        text="【政务服务】…",
        phone_encrypted=pii.encrypt(PHONE, column=PHONE_COLUMN),
        phone_index=pii.blind_index(PHONE, purpose="phone"),
        phone_masked=pii.mask_phone(PHONE),
        status=S.SENT,
        serial_no=serial_no,
        fee=1,
        sent_at=SENT_AT,
    )


def report(
    serial_no: str = "2433:0001", *, delivered: bool = True, minutes: int = 1, mobile: str = PHONE
) -> dict:
    return {
        "user_receive_time": (SENT_AT + timedelta(minutes=minutes)).strftime("%Y-%m-%d %H:%M:%S"),
        "nationcode": "86",
        "mobile": mobile,
        "report_status": "SUCCESS" if delivered else "FAIL",
        "errmsg": "DELIVRD" if delivered else "MK:0001",
        "description": "用户短信送达成功" if delivered else "用户关机",
        "sid": serial_no,
    }


def answer(response) -> tuple[int, int]:
    return response.status_code, response.json()["result"]


def moves(message: SmsMessage) -> list[str]:
    records = AuditRecord.objects.filter(object_type="SmsMessage", object_id=message.public_id)
    return list(records.order_by("id").values_list("action", flat=True))


# Status reports


def test_a_delivery_report_marks_the_message_delivered(client, department):
    message = sent_message(department)

    response = post(client, "status", [report()])

    assert answer(response) == (200, 0)
    assert response.json()["errmsg"] == "OK"
    message.refresh_from_db()
    assert (message.status, message.report_code) == (S.DELIVERED, "DELIVRD")
    assert message.received_at == SENT_AT + timedelta(minutes=1)
    assert moves(message) == ["sms_message.delivered"]


def test_a_failure_report_marks_it_undelivered_with_the_carriers_code(client, department):
    message = sent_message(department)

    assert answer(post(client, "status", [report(delivered=False)])) == (200, 0)

    message.refresh_from_db()
    assert (message.status, message.report_code, message.report_description) == (
        S.UNDELIVERED,
        "MK:0001",
        "用户关机",
    )


def test_a_duplicate_report_changes_nothing_and_is_acknowledged(client, department):
    message = sent_message(department)
    post(client, "status", [report()])

    assert answer(post(client, "status", [report(), report()])) == (200, 0)

    assert moves(message) == ["sms_message.delivered"]


def test_a_late_failure_report_does_not_undo_a_delivery(client, department):
    message = sent_message(department)
    post(client, "status", [report(minutes=5)])

    assert answer(post(client, "status", [report(delivered=False, minutes=2)])) == (200, 0)

    message.refresh_from_db()
    assert (message.status, message.received_at) == (S.DELIVERED, SENT_AT + timedelta(minutes=5))


def test_a_later_delivery_report_after_a_failure_delivers(client, department):
    message = sent_message(department)
    post(client, "status", [report(delivered=False, minutes=2)])

    post(client, "status", [report(minutes=1)])  # older than the failure: changes nothing
    assert SmsMessage.objects.get(pk=message.pk).status == S.UNDELIVERED
    post(client, "status", [report(minutes=9)])

    assert SmsMessage.objects.get(pk=message.pk).status == S.DELIVERED
    assert moves(message) == ["sms_message.undelivered", "sms_message.delivered"]


def test_a_report_of_a_message_not_yet_settled_is_asked_for_again(client, department):
    message = sent_message(department)

    response = post(client, "status", [report(), report("2433:9999")])

    assert answer(response) == (200, 1)  # Tencent sends it again; the known one is applied
    assert SmsMessage.objects.get(pk=message.pk).status == S.DELIVERED


def test_a_report_naming_another_number_changes_nothing(client, department):
    message = sent_message(department)

    assert answer(post(client, "status", [report(mobile="13900139000")])) == (200, 0)

    assert SmsMessage.objects.get(pk=message.pk).status == S.SENT


@pytest.mark.parametrize("token", ["", "guessed"])
def test_a_forged_report_is_refused_and_changes_nothing(client, department, token):
    message = sent_message(department)

    response = post(client, "status", [report()], token=token)

    assert answer(response) == (403, 1)
    assert SmsMessage.objects.get(pk=message.pk).status == S.SENT


def test_a_report_from_an_address_not_allowed_is_refused(client, department, settings):
    settings.SMS = {**settings.SMS, "callback_sources": ["203.0.113.0/24"]}
    message = sent_message(department)

    refused = post(client, "status", [report()], REMOTE_ADDR="198.51.100.7")
    taken = post(client, "status", [report()], REMOTE_ADDR="203.0.113.9")

    assert (answer(refused), answer(taken)) == ((403, 1), (200, 0))
    assert SmsMessage.objects.get(pk=message.pk).status == S.DELIVERED


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"null",
        b"{}",
        b"[]",
        b'[{"sid": "2433:0001"}]',
        b"[" * 5000,
        json.dumps([report()] * 1001).encode(),
        json.dumps([{**report(), "user_receive_time": "9999-99-99 99:99:99"}]).encode(),
        json.dumps([{**report(), "errmsg": "x" * 5000}]).encode()[:100],
        b"x" * 70_000,
    ],
)
def test_an_unreadable_report_is_refused_as_malformed_never_a_server_error(
    client, department, body
):
    message = sent_message(department)

    response = post(client, "status", body)

    assert answer(response) == (400, 1)
    assert SmsMessage.objects.get(pk=message.pk).status == S.SENT


def test_overlong_texts_in_a_report_are_kept_cut_to_size(client, department):
    message = sent_message(department)

    long = {**report(), "errmsg": "E" * 300, "description": "描" * 500}
    assert answer(post(client, "status", [long])) == (200, 0)

    message.refresh_from_db()
    assert (len(message.report_code), len(message.report_description)) == (40, 200)


def test_the_callbacks_are_not_served_while_sms_is_off(client, settings):
    settings.SMS = {**settings.SMS, "enabled": False}

    assert post(client, "status", [report()]).status_code == 404


# Replies


def reply(text: str, mobile: str = PHONE, nationcode: str = "86") -> dict:
    return {
        "extend": "",
        "mobile": mobile,
        "nationcode": nationcode,
        "sign": settings.SMS["sign_name"],
        "text": text,
        "time": 1772330400,
    }


@pytest.mark.parametrize("text", ["TD", "td", "ＴＤ", "退订", " 退订。"])
def test_an_unsubscribing_reply_puts_the_number_on_the_opt_out_list(client, text):
    assert answer(post(client, "reply", reply(text))) == (200, 0)

    [opt_out] = SmsOptOut.objects.all()
    assert opt_out.phone_index == pii.blind_index(PHONE, purpose="phone")
    assert opt_out.phone_masked == "138****8000" and opt_out.reply == text
    audit = AuditRecord.objects.get(action="sms_opt_out.created")
    assert audit.data == {"phone": "138****8000"} and PHONE not in json.dumps(audit.data)


def test_a_second_unsubscribing_reply_changes_nothing(client):
    post(client, "reply", reply("TD"))

    assert answer(post(client, "reply", reply("退订"))) == (200, 0)

    assert SmsOptOut.objects.count() == 1
    assert AuditRecord.objects.filter(action="sms_opt_out.created").count() == 1


@pytest.mark.parametrize(
    ("text", "mobile", "nationcode"),
    [("谢谢", PHONE, "86"), ("TD 谢谢", PHONE, "86"), ("TD", "85291234567", "852")],
)
def test_a_reply_that_does_not_unsubscribe_a_mainland_number_changes_nothing(
    client, text, mobile, nationcode
):
    assert answer(post(client, "reply", reply(text, mobile, nationcode))) == (200, 0)

    assert SmsOptOut.objects.count() == 0


def test_a_forged_reply_is_refused(client):
    assert answer(post(client, "reply", reply("TD"), token="guessed")) == (403, 1)
    assert answer(post(client, "reply", {"text": "TD"})) == (400, 1)

    assert SmsOptOut.objects.count() == 0
