"""Electronic fiscal receipts (财政电子票据), asked of the receipt platform through the outbox.

A paid order's receipt, and a refund's red-letter (冲红) receipt, are written in the
transaction of the payment or refund, and sent as an outbox row of kind ``receipt``
(outbox.engine: leased, retried on the schedule below, swept, retried by a person). The
request is built once, stored, and every try sends it unchanged: the platform issues one
receipt per business id and refuses the same id with other content. A receipt's request is
built at its first send, from the paid order, which no longer changes (one statement in
the payment's transaction, not three: a notification is the busiest path); a red-letter
receipt's is known at the refund, but for the code and number of the receipt it reddens,
so it waits until that one is issued. The platform's protocol is in
docs/receipt_platform.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import revenue, rows
from billing.models import (
    FeeKind,
    PayerType,
    PaymentAttempt,
    PaymentOrder,
    Receipt,
    ReceiptKind,
    ReceiptStatus,
    Refund,
)
from core import pii
from core.audit import audit_record
from core.errors import IllegalTransition
from core.money import business_date_of
from core.outside import get_receipt_platform
from integrations.receipts import base as platform
from notices.sms import NoticeKind, notice_request
from outbox.engine import dispatch_on_commit, retry_later
from outbox.kinds import RemoteKind

logger = logging.getLogger(__name__)

ACTOR = "system:receipts"
NO_RECEIPT_TO_REDDEN = "the order has no receipt to redden"
ITEM_UNIT = "次"
PAYER_ID_NUMBER = "order.payer_id_number"  # the column billing/services/orders.py seals it as
S = ReceiptStatus

# The revenue push's: about three days of tries.
DEFAULT_RETRY_SCHEDULE = revenue.DEFAULT_RETRY_SCHEDULE

RECEIPT_TRANSITIONS: dict[str, frozenset[str]] = {
    S.REQUESTED: frozenset({S.ISSUED, S.FAILED}),
    S.FAILED: frozenset({S.REQUESTED}),
    S.ISSUED: frozenset(),
}


# Asking for receipts, in the transaction of the payment or refund


def receipt_request(*, order: PaymentOrder) -> Receipt | None:
    """Write the paid order's receipt request in the caller's transaction; send it on commit.

    Freight is not public revenue: a freight order has no receipt.
    """
    if order.purpose == FeeKind.FREIGHT:
        return None
    return _create(Receipt(kind=ReceiptKind.NORMAL, order=order, amount=order.amount))


def receipt_red_request(*, order: PaymentOrder, refund: Refund) -> Receipt | None:
    """Write the red-letter receipt request of a succeeded refund in the caller's transaction.

    It reddens the order's receipt by the refund's amount. An order without a receipt (paid
    before receipts were issued) gets a failed request, so finance sees it.
    """
    if order.purpose == FeeKind.FREIGHT:
        return None
    original = order.receipts.filter(kind=ReceiptKind.NORMAL).first()
    receipt = Receipt(
        kind=ReceiptKind.RED,
        order=order,
        refund=refund,
        related=original,
        amount=-refund.amount,
        # The original's code and number join it when it is issued (``claim``).
        request={
            "business_id": refund.public_id,
            "amount_fen": refund.amount,
            "reason": refund.reason[:200],
        },
    )
    if original is None:
        receipt.status = S.FAILED
        receipt.last_error = NO_RECEIPT_TO_REDDEN
    return _create(receipt)


def _create(receipt: Receipt) -> Receipt:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("a receipt is requested in the transaction of its payment or refund")
    if receipt.status == S.REQUESTED:
        receipt.next_attempt_at = timezone.now()
    rows.row_insert(receipt)  # the row is the record of the request, as a revenue record's is
    if receipt.status == S.REQUESTED:
        dispatch_on_commit(RECEIPTS, receipt.pk)
    return receipt


def _receipt_request_of(order: PaymentOrder, attempt: PaymentAttempt) -> platform.ReceiptRequest:
    """The receipt of a paid order: its department issues it, its lines are the items.

    A person appears by name only; an organisation also by its unified social credit code,
    which its receipt shows.
    """
    organisation = order.payer_type == PayerType.LEGAL
    return platform.ReceiptRequest(
        business_id=order.public_id,
        invoicing_party_code=order.department.code,
        invoicing_party_name=order.department.name,
        payer_type=platform.PayerType.ORGANISATION if organisation else platform.PayerType.PERSON,
        payer_name=order.payer_name,
        payer_code=(
            pii.decrypt(order.payer_id_number_encrypted, column=PAYER_ID_NUMBER)
            if organisation
            else ""
        ),
        items=tuple(
            platform.ReceiptItem(
                code=line.fee_item.code,
                name=line.fee_item.name,
                quantity=Decimal(line.quantity),
                unit=ITEM_UNIT,
                standard_fen=line.unit_amount,
                amount_fen=line.amount,
            )
            for line in order.lines.select_related("fee_item").order_by("id")
            if line.amount > 0  # a waived line is not paid for
        ),
        total_fen=order.amount,
        pay_code=order.payment_code,
        pay_mode=attempt.channel,
        paid_on=business_date_of(attempt.paid_at),
        remark=f"业务编号 {order.case_number}"[:200],
    )


def _request_json(request: platform.ReceiptRequest) -> dict:
    return {
        "business_id": request.business_id,
        "invoicing_party_code": request.invoicing_party_code,
        "invoicing_party_name": request.invoicing_party_name,
        "payer_type": str(request.payer_type),
        "payer_name": request.payer_name,
        "payer_code": request.payer_code,
        "items": [
            {
                "code": item.code,
                "name": item.name,
                "quantity": str(item.quantity),
                "unit": item.unit,
                "standard_fen": item.standard_fen,
                "amount_fen": item.amount_fen,
            }
            for item in request.items
        ],
        "total_fen": request.total_fen,
        "pay_code": request.pay_code,
        "pay_mode": request.pay_mode,
        "paid_on": request.paid_on.isoformat(),
        "remark": request.remark,
    }


def _request_from_json(data: dict) -> platform.ReceiptRequest:
    return platform.ReceiptRequest(
        **{
            **data,
            "payer_type": platform.PayerType(data["payer_type"]),
            "items": tuple(
                platform.ReceiptItem(**{**item, "quantity": Decimal(item["quantity"])})
                for item in data["items"]
            ),
            "paid_on": date.fromisoformat(data["paid_on"]),
        }
    )


# Reading an issued receipt


def receipt_file(receipt: Receipt) -> platform.IssuedReceipt:
    """The issued receipt read back from its kept file, both signatures verified again."""
    if receipt.status != S.ISSUED:
        raise ValueError(f"receipt {receipt.public_id} is {receipt.status}, not issued")
    return get_receipt_platform().read(bytes(receipt.xml))


# Sending


@dataclass(frozen=True)
class _Call:
    platform: platform.ReceiptPlatform
    request: platform.ReceiptRequest | platform.RedReceiptRequest


@dataclass(frozen=True)
class _Outcome:
    issued: platform.IssuedReceipt | None
    error: str = ""
    retryable: bool = False


class ReceiptOutbox(RemoteKind):
    """Ask the platform for a receipt until it is issued, or refused."""

    name = "receipt"
    label = "fiscal receipt"
    model = Receipt
    transitions = RECEIPT_TRANSITIONS
    open_statuses = (S.REQUESTED,)
    failed_status = S.FAILED
    retry_permission = "billing.retry_receipt"

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return tuple(getattr(settings, "RECEIPT_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))

    def rows(self):
        return Receipt.objects.select_related("related", "order__department")

    def due(self, rows, now: datetime):
        waiting_for_original = Q(kind=ReceiptKind.RED) & ~Q(related__status=S.ISSUED)
        return super().due(rows, now).exclude(waiting_for_original)

    def reopen(self, row: Receipt) -> None:
        """A failed request gets a new round of tries, with the same request."""
        if row.status == S.ISSUED:
            raise IllegalTransition("An issued receipt has nothing to retry.")
        if row.kind == ReceiptKind.RED and row.related is None:
            raise IllegalTransition(NO_RECEIPT_TO_REDDEN.capitalize() + ".")
        if row.status == S.FAILED:  # the caller audits the move with who asked for it
            self.move(row, S.REQUESTED)
            row.attempt_count = 0

    def claim(self, row: Receipt, now: datetime) -> _Call | None:
        if row.kind == ReceiptKind.NORMAL:
            if row.request is None:
                paid_by = row.order.attempts.get(settles_order=True)
                row.request = _request_json(_receipt_request_of(row.order, paid_by))
                row.save(update_fields=["request"])
            return _Call(get_receipt_platform(), _request_from_json(row.request))
        original = row.related
        if original.status != S.ISSUED:
            return None  # it waits for the receipt it reddens
        if "original_number" not in row.request:
            row.request = {
                **row.request,
                "original_code": original.code,
                "original_number": original.number,
            }
            row.save(update_fields=["request"])
        return _Call(get_receipt_platform(), platform.RedReceiptRequest(**row.request))

    def send(self, call: _Call) -> _Outcome:
        try:
            if isinstance(call.request, platform.RedReceiptRequest):
                return _Outcome(call.platform.issue_red(call.request))
            return _Outcome(call.platform.issue(call.request))
        except platform.ProviderUnavailable as exc:
            return _Outcome(None, _error(exc), retryable=True)
        except platform.ProviderError as exc:  # refused, or an answer we cannot trust: final
            return _Outcome(None, _error(exc))

    def settle(self, row: Receipt, call: _Call, outcome: _Outcome, now: datetime) -> None:
        row.attempt_count += 1
        row.last_error = outcome.error[:255]
        if row.status != S.REQUESTED:
            return  # settled meanwhile by a send whose lease had run out
        if outcome.issued is not None:
            _issued(row, outcome.issued)
        elif outcome.retryable and retry_later(self, row, now):
            logger.info("receipt %s: %s; trying again later", row.public_id, outcome.error)
        else:
            row.next_attempt_at = None
            _move(row, S.FAILED, actor=ACTOR, reason=outcome.error)
            logger.warning("receipt %s failed: %s", row.public_id, outcome.error)


RECEIPTS = ReceiptOutbox()


def _issued(row: Receipt, issued: platform.IssuedReceipt) -> None:
    row.code, row.number, row.check_code = issued.code, issued.number, issued.check_code
    row.issued_at = issued.issued_at
    row.xml = issued.xml
    row.next_attempt_at = None
    _move(row, S.ISSUED, actor=ACTOR, data={"code": issued.code, "number": issued.number})
    notice_request(kind=NoticeKind.RECEIPT_ISSUED, receipt=row)
    waiting = row.red_receipts.filter(status=S.REQUESTED).values_list("pk", flat=True)
    for red_id in waiting:
        dispatch_on_commit(RECEIPTS, red_id)


def _move(row: Receipt, to: str, *, actor: str, reason: str = "", data: dict | None = None) -> None:
    """Every move of a receipt's status: checked against the transitions, and audited."""
    previous = row.status
    RECEIPTS.move(row, to)
    audit_record(
        actor=actor,
        action=f"receipt.{to}",
        obj=row,
        from_status=previous,
        to_status=to,
        reason=reason,
        data=data,
    )


def _error(exc: platform.ProviderError) -> str:
    return f"{type(exc).__name__}: {exc}"[:255]
