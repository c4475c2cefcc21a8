"""Tencent Cloud SMS's sandbox: how it checks requests, and the callbacks it posts."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings

from integrations.sms import wire as adapter_wire
from integrations.sms.base import SmsRequest
from sandboxes import common, state
from tests.integrations.helpers import StubServer

API = "/sandbox/sms/"
HOST = "testserver"
OK = json.dumps({"result": 0, "errmsg": "OK"}).encode()
NOT_YET = json.dumps({"result": 1, "errmsg": "unknown sid"}).encode()


@pytest.fixture
def receiver():
    server = StubServer(default=(200, OK))
    yield server
    server.close()


def callbacks_to(settings, url: str) -> None:
    app = settings.SMS["sdk_app_id"]
    callbacks = {"status_callback_url": url, "reply_callback_url": url}
    apps = {app: {**settings.SANDBOX_SMS["apps"][app], **callbacks}}
    settings.SANDBOX_SMS = {**settings.SANDBOX_SMS, "apps": apps}


@pytest.fixture(autouse=True)
def sandbox(settings, receiver):
    """The sandbox's state forgotten; its app's callbacks go to ``receiver``."""
    state.reset_all()
    callbacks_to(settings, receiver.url)


def signed(
    *,
    params: tuple[str, ...] = ("8000", "30.00"),
    timestamp: int | None = None,
    secret_key: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    request = SmsRequest(
        phone="13800138000",
        template_id=settings.SMS["templates"]["payment_received"],
        params=params,
        reference="sms_wire",
    )
    body = adapter_wire.send_body(
        request, sdk_app_id=settings.SMS["sdk_app_id"], sign_name=settings.SMS["sign_name"]
    )
    headers = adapter_wire.request_headers(
        host=HOST,
        region="ap-guangzhou",
        timestamp=int(time.time()) if timestamp is None else timestamp,
        body=body,
        secret_id=settings.SMS["secret_id"],
        secret_key=secret_key or settings.SMS["secret_key"],
    )
    return body, headers


def post(client, body: bytes, headers: dict[str, str]) -> dict:
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    extra.pop("HTTP_CONTENT_TYPE")
    response = client.post(API, body, content_type=headers["Content-Type"], **extra)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"  # what Tencent's SDKs read errors from
    return response.json()["Response"]


def error_code(answer: dict) -> str:
    return answer["Error"]["Code"]


def messages(client) -> list[dict]:
    return client.get(f"{API}_control/messages").json()["messages"]


def test_a_signed_request_is_sent_and_journalled(client):
    answer = post(client, *signed())

    [status] = answer["SendStatusSet"]
    assert (status["Code"], status["Message"], status["IsoCode"]) == ("Ok", "send success", "CN")
    assert [message["sid"] for message in messages(client)] == [status["SerialNo"]]


def test_a_body_changed_after_signing_fails_the_signature(client):
    body, headers = signed()

    answer = post(client, body.replace(b"30.00", b"0.01"), headers)

    assert error_code(answer) == "AuthFailure.SignatureFailure"
    assert messages(client) == []


def test_a_timestamp_more_than_five_minutes_off_has_expired(client):
    answer = post(client, *signed(timestamp=int(time.time()) - 301))

    assert error_code(answer) == "AuthFailure.SignatureExpire"


def test_a_request_without_tc3_authorization_is_refused(client):
    body, headers = signed()

    answer = post(client, body, {**headers, "Authorization": "Basic c2VjcmV0"})

    assert error_code(answer) == "AuthFailure.InvalidAuthorization"


@pytest.mark.parametrize(
    ("header", "value", "code"),
    [
        ("X-TC-Action", "SendStatusStatistics", "InvalidAction"),
        ("X-TC-Version", "2019-07-11", "NoSuchVersion"),
        ("X-TC-Region", "mars-1", "UnsupportedRegion"),
    ],
)
def test_only_sendsms_of_this_version_in_an_sms_region_is_answered(client, header, value, code):
    body, headers = signed()

    assert error_code(post(client, body, {**headers, header: value})) == code


def test_a_frequency_limit_refuses_the_number_and_sends_nothing(client, settings):
    settings.SANDBOX_SMS = {
        **settings.SANDBOX_SMS,
        "frequency_limits": {"thirty_seconds": 10, "one_hour": 1, "day": 10},
    }
    post(client, *signed())

    [status] = post(client, *signed())["SendStatusSet"]

    assert (status["Code"], status["SerialNo"], status["Fee"]) == (
        "LimitExceeded.PhoneNumberOneHourLimit",
        "",
        0,
    )
    assert len(messages(client)) == 1


def test_a_status_report_is_posted_as_tencent_documents_it_until_it_is_taken(client, settings):
    refusing_once = StubServer([(200, NOT_YET)], default=(200, OK))
    callbacks_to(settings, refusing_once.url)
    try:
        [status] = post(client, *signed())["SendStatusSet"]
        first = json.loads(refusing_once.next_request()[1])
        second = json.loads(refusing_once.next_request()[1])
    finally:
        refusing_once.close()

    assert first == second
    [report] = first
    assert set(report) == {
        "user_receive_time",
        "nationcode",
        "mobile",
        "report_status",
        "errmsg",
        "description",
        "sid",
    }
    assert (report["sid"], report["mobile"], report["nationcode"]) == (
        status["SerialNo"],
        "13800138000",
        "86",
    )
    assert (report["report_status"], report["errmsg"]) == ("SUCCESS", "DELIVRD")
    deadline = time.monotonic() + 5
    while not messages(client)[0]["acknowledged"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert [try_["acknowledged"] for try_ in messages(client)[0]["deliveries"]] == [False, True]


def test_a_number_set_to_fail_gets_a_fail_report(client, receiver):
    outcome = {"phone": "13800138000", "delivered": False, "code": "MK:0001"}
    assert client.post(f"{API}_control/outcomes", outcome, "application/json").status_code == 200

    post(client, *signed())

    [report] = json.loads(receiver.next_request()[1])
    assert (report["report_status"], report["errmsg"]) == ("FAIL", "MK:0001")


def test_a_report_can_be_rendered_without_being_sent(client, receiver):
    [status] = post(client, *signed())["SendStatusSet"]
    receiver.next_request()

    rendered = client.post(f"{API}_control/messages/{status['SerialNo']}/report?send=false")

    assert rendered.json()["url"] == receiver.url
    assert receiver.received.empty()


def test_an_applicants_reply_is_posted_to_the_reply_callback(client, receiver):
    answer = client.post(
        f"{API}_control/reply", {"phone": "13800138000", "text": "TD"}, "application/json"
    )

    assert answer.status_code == 200
    body = json.loads(receiver.next_request()[1])
    assert (body["mobile"], body["nationcode"], body["text"], body["sign"]) == (
        "13800138000",
        "86",
        "TD",
        settings.SMS["sign_name"],
    )
    assert isinstance(body["time"], int)


def test_a_restarted_sandbox_goes_on_posting_a_report_until_it_is_taken(client, settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path  # journalled, as the sandboxes' own server keeps them
    state.reset_all()
    busy = StubServer([(503, b"busy")] * 2, default=(200, OK))
    callbacks_to(settings, busy.url)
    try:
        [status] = post(client, *signed())["SendStatusSet"]
        busy.next_request()  # refused

        state.reload_all()  # the process starts again, short of the process
        common.resume_notifications()

        reports = [json.loads(busy.next_request()[1]) for _ in range(2)]
    finally:
        busy.close()
        deadline = time.monotonic() + 5
        while not messages(client)[0]["acknowledged"] and time.monotonic() < deadline:
            time.sleep(0.02)
        state.reload_all()
        journal = messages(client)
        state.reset_all()

    assert [report["sid"] for [report] in reports] == [status["SerialNo"]] * 2
    assert journal[0]["acknowledged"] and journal[0]["deliveries"][-1]["status_code"] == 200
