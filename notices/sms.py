"""Asking for a notice to an applicant, in the transaction of the change it tells of.

``notice_request`` writes the message (one INSERT, which writes nothing when the same
notice was asked for before: its dedupe key) and sends it once the caller commits
(notices.sending). ``shipment_notice_request`` is the one a shipment's status change
calls: the statuses an applicant is told of each have their kind. That a shipment is
booked is told by its booking, once the courier's waybill number is known.

Whom: an order's payer, by the phone the portal gave with the order (none given, or a
landline, no notice); a result shipment's recipient, the applicant (a shipment of
materials goes to an agency, which gets none). Nothing here reads the opt-out list: a
number that opted out is skipped when its message is about to be sent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing import rows
from billing.models import PaymentOrder, Receipt, ReceiptKind
from billing.sealed import PAYER_PHONE
from core import pii
from core.money import yuan_text
from logistics import contacts
from logistics.models import Shipment, ShipmentKind, ShipmentStatus
from notices import templates
from notices.models import NoticeKind, SmsMessage, SmsStatus
from notices.sealed import PHONE_COLUMN
from notices.sending import SMS_MESSAGES
from outbox.engine import dispatch_on_commit

logger = logging.getLogger(__name__)

__all__ = ["NoticeKind", "notice_request", "shipment_notice_request"]

NO_TEMPLATE = "no template id is configured for this kind"
MOBILE = re.compile(r"1[3-9][0-9]{9}")
# The couriers as an applicant knows them; another courier by its code.
COURIER_NAMES = {"sf": "顺丰速运", "ems": "中国邮政EMS"}
# The shipment statuses an applicant is told of. That it is booked is told when the
# courier gives its waybill (logistics.services.booking), not by a status.
SHIPMENT_NOTICES = {
    ShipmentStatus.OUT_FOR_DELIVERY: NoticeKind.OUT_FOR_DELIVERY,
    ShipmentStatus.DELIVERY_FAILED: NoticeKind.DELIVERY_FAILED,
    ShipmentStatus.DELIVERED: NoticeKind.DELIVERED,
}
# Kinds an applicant may be told of again on a later delivery attempt.
PER_DELIVERY_ATTEMPT = frozenset({NoticeKind.OUT_FOR_DELIVERY, NoticeKind.DELIVERY_FAILED})

_Source = TypeVar("_Source", PaymentOrder, Receipt, Shipment)


@dataclass(frozen=True)
class _Notice:
    dedupe_key: str
    params: tuple[str, ...]
    phone: str
    phone_index: str
    order: PaymentOrder | None = None
    shipment: Shipment | None = None


def notice_request(
    *,
    kind: str,
    order: PaymentOrder | None = None,
    receipt: Receipt | None = None,
    shipment: Shipment | None = None,
) -> SmsMessage | None:
    """Write the notice of ``kind`` in the caller's transaction; it is sent on commit.

    Its source: the paid ``order`` (payment received), the issued ``receipt`` (receipt
    ready: a red-letter one tells nothing), the ``shipment`` (the delivery kinds). None
    when there is no one to tell, SMS is off, or the notice was asked for already.
    """
    if not settings.SMS.get("enabled"):
        return None
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a notice is asked for in the transaction of its change")
    if kind == NoticeKind.PAYMENT_RECEIVED:
        notice = _payment_received(_given(order, "order"))
    elif kind == NoticeKind.RECEIPT_ISSUED:
        notice = _receipt_issued(_given(receipt, "receipt"))
    else:
        notice = _shipment_notice(kind, _given(shipment, "shipment"))
    return _write(kind, notice) if notice else None


def shipment_notice_request(*, shipment: Shipment) -> SmsMessage | None:
    """The notice of the status a shipment has just moved to, if it is one told of."""
    kind = SHIPMENT_NOTICES.get(shipment.status)
    return notice_request(kind=kind, shipment=shipment) if kind else None


def _given(source: _Source | None, name: str) -> _Source:
    if source is None:
        raise ValueError(f"this notice is of a {name}")
    return source


# Each kind's parameters and recipient


def _payment_received(order: PaymentOrder) -> _Notice | None:
    params = (order.payment_code[-4:], yuan_text(order.amount))
    return _to_payer(order, f"payment_received:{order.public_id}", params)


def _receipt_issued(receipt: Receipt) -> _Notice | None:
    if receipt.kind != ReceiptKind.NORMAL:
        return None
    order = receipt.order
    params = (order.payment_code[-4:], yuan_text(receipt.amount), receipt.number)
    return _to_payer(order, f"receipt_issued:{receipt.public_id}", params)


def _to_payer(order: PaymentOrder, dedupe_key: str, params: tuple[str, ...]) -> _Notice | None:
    if not order.payer_phone_encrypted:
        return None
    phone = pii.decrypt(order.payer_phone_encrypted, column=PAYER_PHONE)
    if not MOBILE.fullmatch(phone):
        return None
    return _Notice(dedupe_key, params, phone, order.payer_phone_index, order=order)


def _shipment_notice(kind: str, shipment: Shipment) -> _Notice | None:
    if shipment.kind != ShipmentKind.RESULT or not shipment.waybill_no:
        return None
    key = f"{kind}:{shipment.public_id}"
    if kind in PER_DELIVERY_ATTEMPT:
        key += f":{shipment.failed_attempts}"
    if kind == NoticeKind.SHIPMENT_BOOKED:
        params = (
            COURIER_NAMES.get(shipment.courier, shipment.courier.upper()),
            shipment.waybill_no,
        )
    else:
        params = (shipment.waybill_no,)
    phone = contacts.unseal(shipment.recipient_encrypted, column=contacts.RECIPIENT).phone
    if not MOBILE.fullmatch(phone):
        return None
    return _Notice(key, params, phone, shipment.recipient_phone_index, shipment=shipment)


# The message


def _write(kind: str, notice: _Notice) -> SmsMessage | None:
    template_id = settings.SMS.get("templates", {}).get(kind, "")
    message = SmsMessage(
        kind=kind,
        dedupe_key=notice.dedupe_key,
        order=notice.order,
        shipment=notice.shipment,
        template_id=template_id,
        params=list(notice.params),
        text=templates.render(
            kind,
            notice.params,
            sign_name=settings.SMS["sign_name"],
            portal_url=settings.SMS["portal_url"],
        ),
        phone_encrypted=pii.encrypt(notice.phone, column=PHONE_COLUMN),
        phone_index=notice.phone_index,
        phone_masked=pii.mask_phone(notice.phone),
        status=SmsStatus.QUEUED if template_id else SmsStatus.FAILED,
        next_attempt_at=timezone.now() if template_id else None,
        last_error="" if template_id else NO_TEMPLATE,
    )
    if not rows.row_insert(message, unless_taken="dedupe_key"):
        return None
    if template_id:
        dispatch_on_commit(SMS_MESSAGES, message.pk)
    else:
        logger.warning("SMS notice %s (%s): %s", message.public_id, kind, NO_TEMPLATE)
    return message
