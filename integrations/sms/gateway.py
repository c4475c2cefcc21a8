"""TencentSmsGateway: Tencent Cloud SMS over HTTP, each message read by the wire functions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from integrations import http
from integrations.configuration import required
from integrations.errors import ConfigurationError, ProviderError
from integrations.sms import wire
from integrations.sms.base import (
    CallbackAck,
    CallbackOutcome,
    Reply,
    SentSms,
    SmsRequest,
    StatusReport,
)

DEFAULT_REGION = "ap-guangzhou"


class TencentSmsGateway:
    """Sends through one SMS app (SdkAppId) under one signature (签名), with one API key.

    ``base_url`` is the API's address, https://sms.tencentcloudapi.com, or a sandbox's;
    ``callback_token`` is the secret that the callback URLs set in Tencent's console carry.
    """

    def __init__(
        self,
        *,
        base_url: str,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        callback_token: str,
        region: str = DEFAULT_REGION,
        timeout: tuple[float, float] = (3.0, 10.0),
        session: http.SessionPerThread | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/"
        self.host = urlsplit(self.url).netloc
        if not self.host:
            raise ConfigurationError(f"base_url {base_url!r} names no host")
        self.secret_id = secret_id
        self._secret_key = secret_key
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        self._callback_token = callback_token
        self.region = region
        self.timeout = timeout
        self.session = session or http.SessionPerThread()

    def send(self, request: SmsRequest) -> SentSms:
        body = wire.send_body(request, sdk_app_id=self.sdk_app_id, sign_name=self.sign_name)
        headers = wire.request_headers(
            host=self.host,
            region=self.region,
            timestamp=int(time.time()),
            body=body,
            secret_id=self.secret_id,
            secret_key=self._secret_key,
        )
        response = http.send_answered(
            wire.ACTION,
            lambda: self.session.post(
                self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            ),
        )
        if response.status_code != 200:
            raise ProviderError(
                f"SendSms: HTTP {response.status_code}", http_status=response.status_code
            )
        return wire.read_send_answer(response.content, request=request, now=datetime.now(UTC))

    def read_status_reports(self, query: Mapping[str, str], body: bytes) -> list[StatusReport]:
        wire.check_token(query, self._callback_token)
        return wire.read_status_reports(body)

    def read_reply(self, query: Mapping[str, str], body: bytes) -> Reply:
        wire.check_token(query, self._callback_token)
        return wire.read_reply(body)

    def acknowledge(self, outcome: CallbackOutcome, message: str = "") -> CallbackAck:
        return wire.callback_answer(outcome, message)


def build_sms_gateway(config: Mapping) -> TencentSmsGateway:
    """The gateway from a configuration shaped like settings.SMS (``region`` and
    ``timeout``, seconds to connect and to read, are optional; other keys are the
    service's own and ignored here)."""
    values = required(
        config,
        ("base_url", "secret_id", "secret_key", "sdk_app_id", "sign_name", "callback_token"),
    )
    optional = {name: config[name] for name in ("region", "timeout") if name in config}
    return TencentSmsGateway(**values, **optional)
