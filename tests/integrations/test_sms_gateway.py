"""The SMS adapter against Tencent Cloud SMS's sandbox, a real HTTP peer on loopback."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.conf import settings
from pytest_django.live_server_helper import LiveServer

from integrations.errors import ConfigurationError, IncompleteConfiguration
from integrations.sms import gateway as gateway_module
from integrations.sms.base import (
    ProviderDeclined,
    ProviderUnavailable,
    SendThrottled,
    SmsRequest,
)
from integrations.sms.gateway import TencentSmsGateway, build_sms_gateway
from sandboxes import state
from tests.integrations.clocks import TOO_FAR, skew_clock
from tests.integrations.helpers import unreachable_url

pytestmark = pytest.mark.urls("config.sandbox_urls")

PAYMENT_RECEIVED = settings.SMS["templates"]["payment_received"]


@pytest.fixture(scope="module")
def live_sandboxes():
    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture
def server(live_sandboxes, settings):
    """The sandboxes' server, every sandbox's state forgotten; no status callbacks."""
    state.reset_all()
    app = settings.SMS["sdk_app_id"]
    apps = {app: {**settings.SANDBOX_SMS["apps"][app], "status_callback_url": ""}}
    settings.SANDBOX_SMS = {**settings.SANDBOX_SMS, "apps": apps}
    return live_sandboxes


def gateway_at(base_url: str, **changes) -> TencentSmsGateway:
    return build_sms_gateway({**settings.SMS, "base_url": base_url, **changes})


@pytest.fixture
def gateway(server) -> TencentSmsGateway:
    return gateway_at(f"{server.url}/sandbox/sms")


def journal(server) -> list[dict]:
    answer = requests.get(f"{server.url}/sandbox/sms/_control/messages", timeout=5)
    return answer.json()["messages"]


def request(**changes) -> SmsRequest:
    fields = {
        "phone": "13800138000",
        "template_id": PAYMENT_RECEIVED,
        "params": ("8000", "30.00"),
        "reference": "sms_test1",
    }
    return SmsRequest(**{**fields, **changes})


def test_a_message_is_signed_sent_and_journalled_by_the_gateway(gateway, server):
    sent = gateway.send(request())

    [held] = journal(server)
    assert held["sid"] == sent.serial_no and sent.fee == 1 and sent.request_id
    assert held["phone"] == "+8613800138000"
    assert (held["template_id"], held["params"]) == (PAYMENT_RECEIVED, ["8000", "30.00"])
    assert (held["sign_name"], held["session_context"]) == (settings.SMS["sign_name"], "sms_test1")


def test_a_wrong_secret_key_is_a_signature_failure_and_nothing_is_sent(server):
    gateway = gateway_at(f"{server.url}/sandbox/sms", secret_key="not-the-key")

    with pytest.raises(ProviderDeclined) as caught:
        gateway.send(request())

    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert not isinstance(caught.value, ProviderUnavailable)
    assert journal(server) == []


def test_an_unknown_secret_id_is_refused(server):
    gateway = gateway_at(f"{server.url}/sandbox/sms", secret_id="AKIDnobody")

    with pytest.raises(ProviderDeclined) as caught:
        gateway.send(request())

    assert caught.value.code == "AuthFailure.SecretIdNotFound"


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"template_id": "1"}, "FailedOperation.TemplateIncorrectOrUnapproved"),
        ({"params": ("8000",)}, "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"),
        ({"params": ("8000", "")}, "InvalidParameterValue.TemplateParameterFormatError"),
        (
            {"params": ("8000", "https://evil.example")},
            "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        ),
    ],
)
def test_a_message_its_template_refuses_is_declined_with_the_gateways_code(
    gateway, server, changes, code
):
    with pytest.raises(ProviderDeclined) as caught:
        gateway.send(request(**changes))

    assert caught.value.code == code
    assert journal(server) == []


def test_an_unapproved_signature_is_declined(server):
    gateway = gateway_at(f"{server.url}/sandbox/sms", sign_name="别的签名")

    with pytest.raises(ProviderDeclined) as caught:
        gateway.send(request())

    assert caught.value.code == "FailedOperation.SignatureIncorrectOrUnapproved"


def test_another_accounts_app_is_refused(server, settings):
    settings.SANDBOX_SMS = {
        **settings.SANDBOX_SMS,
        "apps": {"1400000002": {**settings.SANDBOX_SMS["apps"][settings.SMS["sdk_app_id"]]}},
    }
    settings.SANDBOX_SMS["apps"]["1400000002"]["owner"] = "AKIDsomeoneelse"

    with pytest.raises(ProviderDeclined) as caught:
        gateway_at(f"{server.url}/sandbox/sms", sdk_app_id="1400000002").send(request())

    assert caught.value.code == "UnauthorizedOperation.SmsSdkAppIdVerifyFail"


def test_a_number_over_its_frequency_limit_is_throttled_for_the_limits_window(
    gateway, server, settings
):
    settings.SANDBOX_SMS = {
        **settings.SANDBOX_SMS,
        "frequency_limits": {"thirty_seconds": 1, "one_hour": 5, "day": 10},
    }
    gateway.send(request())

    with pytest.raises(SendThrottled) as caught:
        gateway.send(request(reference="sms_test2"))

    assert caught.value.code == "LimitExceeded.PhoneNumberThirtySecondLimit"
    assert caught.value.retry_after == timedelta(seconds=30)
    assert len(journal(server)) == 1
    gateway.send(request(phone="13900139000", reference="sms_test3"))  # another number goes


def test_a_gateway_that_is_down_leaves_the_message_unsent_and_retryable(gateway, server):
    requests.post(f"{server.url}/sandbox/sms/_control/mode", json={"mode": "down"}, timeout=5)
    try:
        with pytest.raises(ProviderUnavailable):
            gateway.send(request())
    finally:
        requests.post(f"{server.url}/sandbox/sms/_control/mode", json={"mode": "up"}, timeout=5)
    assert journal(server) == []


@pytest.mark.parametrize("offset", [-TOO_FAR, TOO_FAR], ids=["late", "early"])
def test_an_expired_signature_leaves_the_message_unsent_and_retryable(
    gateway, server, monkeypatch, offset
):
    skew_clock(monkeypatch, gateway_module, offset)

    with pytest.raises(ProviderUnavailable, match="clock") as caught:
        gateway.send(request())

    assert "AuthFailure.SignatureExpire" in str(caught.value)
    assert journal(server) == []
    monkeypatch.undo()
    gateway.send(request())  # signed afresh, it goes
    assert len(journal(server)) == 1


def test_an_unreachable_gateway_is_unavailable():
    with pytest.raises(ProviderUnavailable):
        gateway_at(unreachable_url()).send(request())


def test_the_gateway_needs_its_key_app_signature_and_callback_token():
    with pytest.raises(IncompleteConfiguration) as caught:
        build_sms_gateway({"base_url": "https://sms.tencentcloudapi.com", "secret_id": "AKID"})

    assert caught.value.missing == ["secret_key", "sdk_app_id", "sign_name", "callback_token"]
    with pytest.raises(ConfigurationError):
        gateway_at("sms.tencentcloudapi.com")
