"""Tencent Cloud SMS's messages as the adapter writes and reads them, without the network."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from core.money import BEIJING
from integrations.errors import ProviderDeclined, ProviderError, ProviderUnavailable
from integrations.sms import tc3, wire
from integrations.sms.base import CallbackOutcome, InvalidCallback, SendThrottled, SmsRequest

REQUEST = SmsRequest(
    phone="13800138000", template_id="2100001", params=("8000", "30.00"), reference="sms_1"
)
NOW = datetime(2026, 3, 1, 15, 30, tzinfo=BEIJING)


def answer(**status: object) -> bytes:
    sent = {
        "SerialNo": "2433:0001",
        "PhoneNumber": "+8613800138000",
        "Fee": 1,
        "SessionContext": "sms_1",
        "Code": "Ok",
        "Message": "send success",
        "IsoCode": "CN",
        **status,
    }
    return json.dumps({"Response": {"SendStatusSet": [sent], "RequestId": "r-1"}}).encode()


def error_answer(code: str) -> bytes:
    error = {"Code": code, "Message": "refused"}
    return json.dumps({"Response": {"Error": error, "RequestId": "r-2"}}).encode()


# The request


def test_the_body_names_the_app_template_signature_parameters_and_our_reference():
    body = json.loads(wire.send_body(REQUEST, sdk_app_id="1400000001", sign_name="政务服务"))

    assert body == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400000001",
        "TemplateId": "2100001",
        "SignName": "政务服务",
        "TemplateParamSet": ["8000", "30.00"],
        "SessionContext": "sms_1",
    }


def test_a_landline_is_not_a_number_to_send_to():
    with pytest.raises(ValueError, match="mobile"):
        wire.e164("0571-87654321")


def test_the_headers_carry_the_action_and_a_signature_over_host_and_content_type():
    body = wire.send_body(REQUEST, sdk_app_id="1400000001", sign_name="政务服务")
    headers = wire.request_headers(
        host="sms.tencentcloudapi.com",
        region="ap-guangzhou",
        timestamp=1772350200,
        body=body,
        secret_id="AKIDexample",
        secret_key="secret",
    )

    assert headers["X-TC-Action"] == "SendSms" and headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Timestamp"] == "1772350200" and headers["X-TC-Region"] == "ap-guangzhou"
    signed = {"Content-Type": headers["Content-Type"], "Host": "sms.tencentcloudapi.com"}
    canonical = tc3.canonical_request("POST", signed, body)
    expected = tc3.signature(
        "secret", 1772350200, "sms", tc3.string_to_sign(1772350200, "sms", canonical)
    )
    assert headers["Authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKIDexample/2026-03-01/sms/tc3_request, "
        f"SignedHeaders=content-type;host, Signature={expected}"
    )


def test_the_canonical_request_lower_cases_the_signed_headers_and_hashes_the_body():
    canonical = tc3.canonical_request(
        "post", {"Host": "SMS.tencentcloudapi.com", "Content-Type": " application/json "}, b"{}"
    )

    assert canonical.split("\n") == [
        "POST",
        "/",
        "",
        "content-type:application/json",
        "host:sms.tencentcloudapi.com",
        "",
        "content-type;host",
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    ]


def test_the_scope_date_is_the_utc_date_of_the_timestamp():
    just_after_midnight_in_beijing = int(datetime(2026, 3, 2, 0, 30, tzinfo=BEIJING).timestamp())

    assert tc3.credential_scope(just_after_midnight_in_beijing, "sms") == (
        "2026-03-01/sms/tc3_request"
    )


# The answer


def test_an_ok_status_is_the_message_sent():
    sent = wire.read_send_answer(answer(), request=REQUEST, now=NOW)

    assert (sent.serial_no, sent.fee, sent.request_id) == ("2433:0001", 1, "r-1")


def test_a_thirty_second_limit_holds_the_message_back_for_thirty_seconds():
    with pytest.raises(SendThrottled) as caught:
        wire.read_send_answer(
            answer(Code="LimitExceeded.PhoneNumberThirtySecondLimit", SerialNo=""),
            request=REQUEST,
            now=NOW,
        )

    assert caught.value.code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert caught.value.retry_after == timedelta(seconds=30)
    assert isinstance(caught.value, ProviderUnavailable)  # retryable


def test_a_daily_limit_holds_the_message_back_until_midnight_in_beijing():
    with pytest.raises(SendThrottled) as caught:
        wire.read_send_answer(
            answer(Code="LimitExceeded.PhoneNumberDailyLimit"), request=REQUEST, now=NOW
        )

    assert caught.value.retry_after == timedelta(hours=8, minutes=30)


def test_a_signature_failure_is_a_refusal_with_tencents_code():
    with pytest.raises(ProviderDeclined) as caught:
        wire.read_send_answer(
            error_answer("AuthFailure.SignatureFailure"), request=REQUEST, now=NOW
        )

    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert not isinstance(caught.value, ProviderUnavailable)


def test_a_template_refusal_of_the_number_is_a_refusal():
    with pytest.raises(ProviderDeclined) as caught:
        wire.read_send_answer(
            answer(Code="InvalidParameterValue.TemplateParameterFormatError", SerialNo=""),
            request=REQUEST,
            now=NOW,
        )

    assert caught.value.code == "InvalidParameterValue.TemplateParameterFormatError"


@pytest.mark.parametrize("code", ["InternalError", "InternalError.Timeout"])
def test_an_internal_error_leaves_the_request_untaken(code):
    with pytest.raises(ProviderUnavailable):
        wire.read_send_answer(error_answer(code), request=REQUEST, now=NOW)


@pytest.mark.parametrize(
    "content",
    [
        b"<html>gateway</html>",
        b'{"Response": []}',
        b'{"Response": {"SendStatusSet": [], "RequestId": "r"}}',
        answer(PhoneNumber="+8613900139000"),
        answer(SessionContext="sms_2"),
        answer(SerialNo=""),
        answer(Fee="1"),
    ],
)
def test_an_answer_not_about_the_message_sent_is_not_trusted(content):
    with pytest.raises(ProviderError) as caught:
        wire.read_send_answer(content, request=REQUEST, now=NOW)

    assert type(caught.value) is ProviderError


# Callbacks

DOCUMENTED_REPORT = [
    {
        "user_receive_time": "2015-10-17 08:03:04",
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "2433:0001",
    }
]


def test_tencents_documented_status_report_reads_as_a_delivery():
    [report] = wire.read_status_reports(json.dumps(DOCUMENTED_REPORT).encode())

    assert (report.serial_no, report.phone, report.delivered, report.code) == (
        "2433:0001",
        "13800138000",
        True,
        "DELIVRD",
    )
    assert report.received_at == datetime(2015, 10, 17, 0, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        json.dumps([{**DOCUMENTED_REPORT[0], "report_status": "MAYBE"}]).encode(),
        json.dumps([{**DOCUMENTED_REPORT[0], "sid": 12}]).encode(),
        json.dumps([{**DOCUMENTED_REPORT[0], "sid": ""}]).encode(),
        json.dumps([{**DOCUMENTED_REPORT[0], "user_receive_time": "yesterday"}]).encode(),
        json.dumps([{**DOCUMENTED_REPORT[0], "description": "a\x00b"}]).encode(),
        b"[" * 100 + b"]" * 100,
    ],
)
def test_a_status_callback_that_cannot_be_read_is_refused_as_malformed(body):
    with pytest.raises(InvalidCallback) as caught:
        wire.read_status_reports(body)

    assert not caught.value.forged


def test_tencents_documented_reply_reads_as_the_applicants_words():
    body = {
        "extend": "",
        "mobile": "13800138000",
        "nationcode": "86",
        "sign": "政务服务",
        "text": "TD",
        "time": 1457336869,
    }

    reply = wire.read_reply(json.dumps(body, ensure_ascii=False).encode())

    assert (reply.phone, reply.country_code, reply.text, reply.sign_name) == (
        "13800138000",
        "86",
        "TD",
        "政务服务",
    )
    assert reply.replied_at == datetime(2016, 3, 7, 7, 47, 49, tzinfo=UTC)


def test_a_callback_without_our_token_is_forged():
    with pytest.raises(InvalidCallback) as caught:
        wire.check_token({"token": "guess"}, "the-token")

    assert caught.value.forged
    wire.check_token({"token": "the-token"}, "the-token")


def test_the_answers_to_a_callback():
    taken = wire.callback_answer(CallbackOutcome.ACCEPTED)
    again = wire.callback_answer(CallbackOutcome.RETRY_LATER, "not yet")
    forged = wire.callback_answer(CallbackOutcome.FORGED, "token")

    assert (taken.status, json.loads(taken.body)) == (200, {"result": 0, "errmsg": "OK"})
    assert (again.status, json.loads(again.body)) == (200, {"result": 1, "errmsg": "not yet"})
    assert forged.status == 403 and json.loads(forged.body)["result"] == 1


def test_a_refusal_that_names_the_number_is_kept_without_it():
    refusal = json.dumps(
        {
            "Response": {
                "Error": {"Code": "InvalidParameter", "Message": "bad +8613800138000 here"},
                "RequestId": "r-3",
            }
        }
    ).encode()

    with pytest.raises(ProviderDeclined) as caught:
        wire.read_send_answer(refusal, request=REQUEST, now=NOW)

    assert str(caught.value) == "InvalidParameter: bad <number> here (RequestId r-3)"
