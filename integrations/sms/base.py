"""The contract between the service and its SMS gateway.

Only this package touches the wire format (docs/sms.md); the service sees these frozen
dataclasses. The errors are those of integrations.errors. ProviderUnavailable is the only
retryable one, and SendThrottled is one: the gateway's frequency limit refused the
message, nothing was sent, and the same message may go once ``retry_after`` has passed.
ProviderDeclined is a refusal that sending again will not change (a bad signature, an
unknown template, a number the gateway will not send to). InvalidCallback is a callback
that does not come from the gateway, or cannot be read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from integrations.errors import InvalidInbound, ProviderDeclined, ProviderError, ProviderUnavailable

__all__ = [
    "CallbackAck",
    "CallbackOutcome",
    "InvalidCallback",
    "ProviderDeclined",
    "ProviderError",
    "ProviderUnavailable",
    "Reply",
    "SendThrottled",
    "SentSms",
    "SmsGateway",
    "SmsRequest",
    "StatusReport",
]


class SendThrottled(ProviderUnavailable):
    """A frequency limit of the gateway's refused the message: not sent; ``code`` is the
    gateway's, and the same message may go again after ``retry_after``."""

    def __init__(self, message: str, *, code: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after


class InvalidCallback(InvalidInbound):
    """A status-report or reply callback that is forged (``forged``) or cannot be read."""

    def __init__(self, message: str, *, forged: bool = False) -> None:
        super().__init__(message)
        self.forged = forged


@dataclass(frozen=True)
class SmsRequest:
    """One templated message to one mainland mobile number."""

    phone: str  # eleven digits, 1[3-9]..., or E.164 (+86...)
    template_id: str  # the approved template's id, as the gateway numbers it
    params: tuple[str, ...]  # the template's parameters, {1} first
    reference: str  # ours, echoed in the answer (SessionContext): the message's public id


@dataclass(frozen=True)
class SentSms:
    """The gateway took the message for the carrier: what status reports will name."""

    serial_no: str  # the gateway's id of the message (a status report's sid)
    fee: int  # how many billed messages it took
    request_id: str


@dataclass(frozen=True)
class StatusReport:
    """A carrier's word on one message (状态回执)."""

    serial_no: str
    phone: str  # the mobile number, without its country code
    delivered: bool
    code: str  # the carrier's status code: DELIVRD, or why it was not delivered
    description: str
    received_at: datetime  # when the phone got it, or the carrier gave up (Beijing time)


@dataclass(frozen=True)
class Reply:
    """An applicant's reply to a message (上行短信)."""

    phone: str  # the mobile number, without its country code
    country_code: str  # "86" for the mainland
    text: str
    sign_name: str  # the signature of the message replied to
    replied_at: datetime


class CallbackOutcome(enum.Enum):
    ACCEPTED = "accepted"
    RETRY_LATER = "retry_later"  # not taken now (a report not yet matched): send it again
    MALFORMED = "malformed"
    FORGED = "forged"


@dataclass(frozen=True)
class CallbackAck:
    """The exact HTTP answer the gateway expects to a callback."""

    status: int
    body: bytes
    content_type: str


class SmsGateway(Protocol):
    def send(self, request: SmsRequest) -> SentSms:
        """Send one message; SendThrottled, ProviderUnavailable, ProviderDeclined or
        ProviderError when it was not taken."""
        ...

    def read_status_reports(self, query: Mapping[str, str], body: bytes) -> list[StatusReport]:
        """The reports of a status callback whose URL carries our token; InvalidCallback."""
        ...

    def read_reply(self, query: Mapping[str, str], body: bytes) -> Reply:
        """The reply of a reply callback whose URL carries our token; InvalidCallback."""
        ...

    def acknowledge(self, outcome: CallbackOutcome, message: str = "") -> CallbackAck: ...
