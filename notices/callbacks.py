"""What the SMS gateway tells back: carriers' status reports, and applicants' replies.

Tencent signs no callback: one is taken when its URL carries our token and it comes from
an allowed address (settings.SMS["callback_sources"]); anything else is refused with a
4xx and changes nothing. Reports are applied at once, each message under its lock: a
report moves a sent message to delivered or undelivered, a later report of delivery
moves an undelivered one on, and a duplicate or a late report (older than the one
applied) changes nothing. A report whose message is not known yet (its send not settled)
is answered "send again", so it is applied on a later try. A reply that unsubscribes
(TD, 退订...) puts the number on the opt-out list, by its blind index.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping

from django.conf import settings
from django.db import transaction

from core import pii
from core.audit import audit_record, audit_records
from core.outside import get_sms_gateway
from core.source_addresses import source_allowed
from integrations.sms.base import CallbackAck, CallbackOutcome, InvalidCallback, StatusReport
from notices.models import SmsMessage, SmsOptOut, SmsStatus
from notices.sending import sms_message_moved

logger = logging.getLogger(__name__)

ACTOR = "gateway:sms"
S = SmsStatus
# Replies that unsubscribe: Tencent's templates offer 回TD退订; people also write these.
OPT_OUT_REPLIES = frozenset({"TD", "T", "R", "N", "退订", "拒收", "取消"})
MAINLAND = "86"
MOBILE = re.compile(r"1[3-9][0-9]{9}")
_TRAILING = "。.!！ "


def sms_status_callback_receive(
    *, query: Mapping[str, str], body: bytes, source_ip: str
) -> CallbackAck:
    """Verify a status callback, apply its reports, and answer the gateway."""
    gateway = get_sms_gateway()
    try:
        _check_source(source_ip)
        reports = gateway.read_status_reports(query, body)
    except InvalidCallback as exc:
        logger.warning("refused an SMS status callback from %s: %s", source_ip, exc)
        return gateway.acknowledge(_refusal(exc), str(exc))
    unmatched = sms_status_reports_apply(reports=reports)
    if unmatched:
        message = f"{unmatched} of {len(reports)} reports name no message sent yet"
        logger.info("SMS status callback: %s", message)
        return gateway.acknowledge(CallbackOutcome.RETRY_LATER, message)
    return gateway.acknowledge(CallbackOutcome.ACCEPTED)


def sms_status_reports_apply(*, reports: list[StatusReport]) -> int:
    """Apply the reports, each to its message, in one transaction; returns how many name
    no message we sent."""
    unmatched, entries = 0, []
    with transaction.atomic(durable=True):
        serials = {report.serial_no for report in reports}
        messages = {
            message.serial_no: message
            for message in SmsMessage.objects.select_for_update()
            .filter(serial_no__in=serials)
            .order_by("pk")
        }
        changed: dict[int, SmsMessage] = {}
        for report in sorted(reports, key=lambda report: report.received_at):
            message = messages.get(report.serial_no)
            if message is None:
                unmatched += 1
            elif message.phone_index not in pii.blind_indexes(report.phone, purpose="phone"):
                logger.warning("an SMS report of %s names another number", message.public_id)
            elif (entry := _applied(message, report)) is not None:
                entries.append(entry)
                changed[message.pk] = message
        for message in changed.values():
            message.save(
                update_fields=["status", "report_code", "report_description", "received_at"]
            )
        audit_records(*entries)
    return unmatched


def _applied(message: SmsMessage, report: StatusReport):
    """Move the message as the report says, if it says something new; its audit row."""
    if message.status == S.SENT:
        to = S.DELIVERED if report.delivered else S.UNDELIVERED
    elif message.status == S.UNDELIVERED and report.delivered:
        if report.received_at <= message.received_at:
            return None  # older than the report applied
        to = S.DELIVERED
    else:
        return None  # a duplicate, a late report, or a message never sent
    message.report_code = report.code[:40]
    message.report_description = report.description[:200]
    message.received_at = report.received_at
    return sms_message_moved(
        message,
        to,
        actor=ACTOR,
        reason=message.report_code,
        data={"at": report.received_at.isoformat()},
    )


def sms_reply_callback_receive(
    *, query: Mapping[str, str], body: bytes, source_ip: str
) -> CallbackAck:
    """Verify a reply callback; an unsubscribing reply puts its number on the opt-out list."""
    gateway = get_sms_gateway()
    try:
        _check_source(source_ip)
        reply = gateway.read_reply(query, body)
    except InvalidCallback as exc:
        logger.warning("refused an SMS reply callback from %s: %s", source_ip, exc)
        return gateway.acknowledge(_refusal(exc), str(exc))
    if reply.country_code == MAINLAND and MOBILE.fullmatch(reply.phone) and is_opt_out(reply.text):
        sms_opt_out_record(phone=reply.phone, reply=reply.text)
    else:
        logger.info("an SMS reply that does not unsubscribe: nothing to do")
    return gateway.acknowledge(CallbackOutcome.ACCEPTED)


def is_opt_out(text: str) -> bool:
    """Whether a reply unsubscribes: one of OPT_OUT_REPLIES, in either width or case."""
    return unicodedata.normalize("NFKC", text).strip(_TRAILING).upper() in OPT_OUT_REPLIES


def sms_opt_out_record(*, phone: str, reply: str) -> SmsOptOut:
    """Put the number on the opt-out list (once: a second reply changes nothing), audited."""
    with transaction.atomic(durable=True):
        existing = SmsOptOut.objects.filter(
            phone_index__in=pii.blind_indexes(phone, purpose="phone")
        ).first()
        if existing is not None:
            return existing
        opt_out, created = SmsOptOut.objects.get_or_create(
            phone_index=pii.blind_index(phone, purpose="phone"),
            defaults={"phone_masked": pii.mask_phone(phone), "reply": reply[:20]},
        )
        if created:
            audit_record(
                actor="applicant:sms-reply",
                action="sms_opt_out.created",
                obj=opt_out,
                data={"phone": opt_out.phone_masked},
            )
    return opt_out


def _check_source(source_ip: str) -> None:
    if not source_allowed(source_ip, settings.SMS.get("callback_sources") or []):
        raise InvalidCallback(f"{source_ip} is not an allowed SMS callback source", forged=True)


def _refusal(exc: InvalidCallback) -> CallbackOutcome:
    return CallbackOutcome.FORGED if exc.forged else CallbackOutcome.MALFORMED
