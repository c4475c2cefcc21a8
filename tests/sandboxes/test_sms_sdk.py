"""The SMS sandbox against Tencent's own SDK (tencentcloud-sdk-python-sms).

The SDK signs each request with TC3-HMAC-SHA256 and reads Tencent's answers as Tencent
documents them; none of our code is in between. A disagreement between the sandbox and
the protocol the SDK implements fails here. Everything goes over HTTP on loopback.
"""

from __future__ import annotations

import pytest
import requests
from django.conf import settings
from pytest_django.live_server_helper import LiveServer
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from sandboxes import state

pytestmark = pytest.mark.urls("tests.sandboxes.sms_root_urls")


@pytest.fixture(scope="module")
def live_sandbox():
    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


@pytest.fixture
def endpoint(live_sandbox, settings) -> str:
    """host:port of the sandbox; its state forgotten, and no status callbacks."""
    state.reset_all()
    app = settings.SMS["sdk_app_id"]
    apps = {app: {**settings.SANDBOX_SMS["apps"][app], "status_callback_url": ""}}
    settings.SANDBOX_SMS = {**settings.SANDBOX_SMS, "apps": apps}
    return live_sandbox.url.removeprefix("http://")


def client(endpoint: str, secret_key: str = settings.SMS["secret_key"]) -> SmsClient:
    profile = ClientProfile(httpProfile=HttpProfile(protocol="http", endpoint=endpoint))
    return SmsClient(Credential(settings.SMS["secret_id"], secret_key), "ap-guangzhou", profile)


def send_request(template: str = "payment_received", params: list[str] | None = None):
    request = models.SendSmsRequest()
    request.PhoneNumberSet = ["+8613800138000"]
    request.SmsSdkAppId = settings.SMS["sdk_app_id"]
    request.SignName = settings.SMS["sign_name"]
    request.TemplateId = settings.SMS["templates"][template]
    request.TemplateParamSet = ["8000", "30.00"] if params is None else params
    request.SessionContext = "sdk-1"
    return request


def test_the_sdk_sends_through_the_sandbox_and_gets_ok(endpoint, live_sandbox):
    answer = client(endpoint).SendSms(send_request())

    [status] = answer.SendStatusSet
    assert (status.Code, status.PhoneNumber, status.SessionContext, status.Fee) == (
        "Ok",
        "+8613800138000",
        "sdk-1",
        1,
    )
    assert status.SerialNo and answer.RequestId
    held = requests.get(f"{live_sandbox.url}/_control/messages", timeout=5).json()["messages"]
    assert [(m["sid"], m["params"]) for m in held] == [(status.SerialNo, ["8000", "30.00"])]


def test_the_sdk_with_a_wrong_secret_gets_a_signature_failure(endpoint):
    with pytest.raises(TencentCloudSDKException) as caught:
        client(endpoint, secret_key="not-the-key").SendSms(send_request())

    assert caught.value.get_code() == "AuthFailure.SignatureFailure"
    assert caught.value.get_request_id()


def test_the_sdk_reads_a_template_refusal_in_the_numbers_status(endpoint):
    answer = client(endpoint).SendSms(send_request(params=["8000"]))

    [status] = answer.SendStatusSet
    assert status.Code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    assert status.SerialNo == "" and status.Fee == 0
