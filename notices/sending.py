"""Sending notices through the SMS gateway, as outbox rows of kind ``sms_message``.

Each message is leased, sent outside any transaction and settled under its lock again
(outbox.engine), retried on the schedule below while the gateway cannot be reached or a
frequency limit holds it back (never before the limit's window has passed), and failed
for a person when the gateway refuses it: a bad signature or an unapproved template does
not mend itself. A number that opted out is skipped, not sent to. The gateway takes no
idempotency key: a message whose answer was lost is sent again, and may reach the
applicant twice, which a notice they must act on is worth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

from core import pii
from core.audit import audit_entry, audit_records
from core.errors import IllegalTransition
from core.models import AuditRecord
from core.outside import get_sms_gateway
from integrations.sms import base as sms
from notices.models import SmsMessage, SmsOptOut, SmsStatus
from notices.sealed import PHONE_COLUMN
from outbox.engine import retry_later
from outbox.kinds import FIRST_HOURS_BACKOFF, RemoteKind

logger = logging.getLogger(__name__)

ACTOR = "system:sms"
OPTED_OUT = "opted_out"
S = SmsStatus

# 30 s, 2 min, 10 min, 30 min, then hourly doubling to 8 h: about a day, after which a
# notice of a parcel at the door has lost its point.
DEFAULT_RETRY_SCHEDULE = (*FIRST_HOURS_BACKOFF, timedelta(hours=8))

SMS_TRANSITIONS: dict[str, frozenset[str]] = {
    S.QUEUED: frozenset({S.SENT, S.SKIPPED, S.FAILED}),
    S.FAILED: frozenset({S.QUEUED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED}),
    # A later report that the phone got it after all.
    S.UNDELIVERED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.SKIPPED: frozenset(),
}


@dataclass(frozen=True)
class _Call:
    gateway: sms.SmsGateway
    request: sms.SmsRequest


@dataclass(frozen=True)
class _Outcome:
    sent: sms.SentSms | None
    code: str = ""
    error: str = ""
    retryable: bool = False
    not_before: timedelta | None = None  # a frequency limit's window


class SmsOutbox(RemoteKind):
    """Send each notice until the gateway takes it, or refuses it."""

    name = "sms_message"
    label = "SMS notice"
    model = SmsMessage
    transitions = SMS_TRANSITIONS
    open_statuses = (S.QUEUED,)
    failed_status = S.FAILED
    retry_permission = "notices.retry_smsmessage"

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return tuple(getattr(settings, "SMS_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))

    def reopen(self, row: SmsMessage) -> None:
        """A failed notice gets a new round of tries, with its template as configured now
        if it had none."""
        if row.status != S.FAILED:
            raise IllegalTransition(f"An SMS notice {row.status} has nothing to retry.")
        row.template_id = row.template_id or settings.SMS.get("templates", {}).get(row.kind, "")
        self.move(row, S.QUEUED)
        row.attempt_count = 0

    def claim(self, row: SmsMessage, now: datetime) -> _Call | None:
        if not row.template_id:
            _fail(row, "no template id is configured for this kind")
            row.save()
            return None
        phone = pii.decrypt(row.phone_encrypted, column=PHONE_COLUMN)
        indexes = pii.blind_indexes(phone, purpose="phone")
        if SmsOptOut.objects.filter(phone_index__in=indexes).exists():
            row.skip_reason = OPTED_OUT
            row.next_attempt_at = None
            _move(row, S.SKIPPED, reason="the number opted out")
            row.save()
            return None
        request = sms.SmsRequest(
            phone=phone,
            template_id=row.template_id,
            params=tuple(row.params),
            reference=row.public_id,
        )
        return _Call(get_sms_gateway(), request)

    def send(self, call: _Call) -> _Outcome:
        try:
            return _Outcome(call.gateway.send(call.request), code="Ok")
        except sms.SendThrottled as exc:
            return _Outcome(None, exc.code, _error(exc), retryable=True, not_before=exc.retry_after)
        except sms.ProviderUnavailable as exc:
            return _Outcome(None, "", _error(exc), retryable=True)
        except sms.ProviderDeclined as exc:
            return _Outcome(None, exc.code, _error(exc))
        except sms.ProviderError as exc:  # an answer we cannot trust: final
            return _Outcome(None, "", _error(exc))

    def settle(self, row: SmsMessage, call: _Call, outcome: _Outcome, now: datetime) -> None:
        row.attempt_count += 1
        row.last_error = outcome.error[:255]
        row.gateway_code = outcome.code[:80]
        if row.status != S.QUEUED:
            return  # settled meanwhile by a send whose lease had run out
        if outcome.sent is not None:
            row.serial_no = outcome.sent.serial_no
            row.fee = outcome.sent.fee
            row.sent_at = now
            row.next_attempt_at = None
            _move(row, S.SENT, data={"serial_no": row.serial_no})
        elif outcome.retryable and retry_later(self, row, now):
            if outcome.not_before is not None:
                row.next_attempt_at = max(row.next_attempt_at, now + outcome.not_before)
            logger.info("SMS notice %s: %s; trying again later", row.public_id, outcome.error)
        else:
            _fail(row, outcome.error)
            logger.warning("SMS notice %s failed: %s", row.public_id, outcome.error)


SMS_MESSAGES = SmsOutbox()


def _fail(row: SmsMessage, reason: str) -> None:
    row.next_attempt_at = None
    row.last_error = reason[:255]
    _move(row, S.FAILED, reason=reason)


def sms_message_moved(
    row: SmsMessage, to: str, *, actor: str = ACTOR, reason: str = "", data: dict | None = None
) -> AuditRecord:
    """Move a notice's status as its transitions allow; returns its audit row, not yet
    written (``audit_records``)."""
    previous = row.status
    SMS_MESSAGES.move(row, to)
    return audit_entry(
        actor=actor,
        action=f"sms_message.{to}",
        obj=row,
        from_status=previous,
        to_status=to,
        reason=reason,
        data=data,
    )


def _move(row: SmsMessage, to: str, *, reason: str = "", data: dict | None = None) -> None:
    audit_records(sms_message_moved(row, to, reason=reason, data=data))


def _error(exc: sms.ProviderError) -> str:
    return f"{type(exc).__name__}: {exc}"[:255]
