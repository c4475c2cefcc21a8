"""Remittances (缴库) ordered, and their credit transfers sent to the bank through the outbox.

An approved report's remittance and its pain.001 are written in the approval's transaction:
the message (its MsgId, the remittance's EndToEndId, its amount and execution date) is
built once and stored, and every try sends those bytes unchanged, so a bank down for hours
gets the same instruction when it is back, and one it already executed is not paid twice
(the bank knows a message by its MsgId). The outbox (outbox.engine) leases, retries on the
schedule below, sweeps and lets a person retry. The bank's pain.002 is kept: accepted, or
rejected with its reason; a remittance is then tracked on the statement (leg 6).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from billing.revenue import DEFAULT_RETRY_SCHEDULE
from closing.destinations import settlement_account_holder, transfer_bank
from closing.models import (
    InstructionStatus,
    Remittance,
    RemittanceInstruction,
    SettlementReport,
    new_message_id,
)
from core.audit import audit_record
from core.errors import IllegalTransition
from core.money import business_date_of
from integrations.banks import pain
from integrations.banks.base import BankTransfers
from integrations.errors import ProviderError, ProviderUnavailable
from outbox.engine import dispatch_on_commit, retry_later
from outbox.kinds import RemoteKind

logger = logging.getLogger(__name__)

ACTOR = "system:closing"
S = InstructionStatus


def remittance_instruct(*, report: SettlementReport, bank: str) -> Remittance | None:
    """In the approval's transaction: the remittance of what the report leaves to remit,
    from the settlement account at ``bank``, and its instruction, sent once committed.
    Nothing when the report leaves nothing to remit."""
    amount = report.to_remit
    if amount <= 0:
        return None
    now = timezone.now()
    department = report.department
    remittance = Remittance.objects.create(
        report=report,
        department=department,
        business_date=report.business_date,
        amount=amount,
        debtor_bank=bank,
        debtor_account=department.settlement_account_number,
        creditor_kind=report.destination_kind,
        creditor_account=report.destination_account,
        creditor_name=report.destination_name,
        creditor_bank=report.destination_bank,
        creditor_bank_name=report.destination_bank_name,
        execution_date=business_date_of(now),
    )
    message_id = new_message_id()
    transfer = pain.CreditTransfer(
        message_id=message_id,
        end_to_end_id=remittance.end_to_end_id,
        created_at=now,
        execution_date=remittance.execution_date,
        amount_fen=amount,
        debtor=settlement_account_holder(department, bank),
        creditor=pain.AccountHolder(
            account=remittance.creditor_account,
            name=remittance.creditor_name,
            bank=remittance.creditor_bank,
            bank_name=remittance.creditor_bank_name,
        ),
        # The EndToEndId first: every statement format carries the remittance information.
        remittance_information=(
            f"{remittance.end_to_end_id} 缴库 {department.code} {report.business_date}"
        ),
        initiating_party=department.name,
    )
    instruction = RemittanceInstruction.objects.create(
        remittance=remittance,
        message_id=message_id,
        document=pain.build_pain001(transfer).decode("utf-8"),
        next_attempt_at=now,
    )
    audit_record(
        actor=ACTOR,
        action="remittance.instructed",
        obj=remittance,
        to_status=remittance.status,
        data={
            "amount": amount,
            "report": report.public_id,
            "end_to_end_id": remittance.end_to_end_id,
            "message_id": instruction.message_id,
        },
    )
    dispatch_on_commit(REMITTANCE_INSTRUCTIONS, instruction.pk)
    return remittance


@dataclass(frozen=True)
class _Call:
    bank: BankTransfers
    document: bytes
    end_to_end_id: str


@dataclass(frozen=True)
class _Outcome:
    report: pain.PaymentStatusReport | None
    error: str = ""
    retryable: bool = False


class RemittanceOutbox(RemoteKind):
    """Send a remittance's pain.001 until its bank answers."""

    name = "remittance_instruction"
    label = "remittance instruction"
    model = RemittanceInstruction
    transitions = {
        S.SENDING: frozenset({S.ACCEPTED, S.REJECTED, S.FAILED}),
        S.FAILED: frozenset({S.SENDING}),
        S.ACCEPTED: frozenset(),
        S.REJECTED: frozenset(),
    }
    open_statuses = (S.SENDING,)
    failed_status = S.FAILED
    retry_permission = "closing.retry_remittanceinstruction"

    def retry_schedule(self) -> tuple[timedelta, ...]:
        return tuple(settings.CLOSING.get("instruction_retry_schedule", DEFAULT_RETRY_SCHEDULE))

    def rows(self):
        return RemittanceInstruction.objects.select_related("remittance")

    def reopen(self, row: RemittanceInstruction) -> None:
        """A failed instruction gets a new round of tries, with the same message."""
        if row.status in (S.ACCEPTED, S.REJECTED):
            raise IllegalTransition("The bank has answered this instruction: nothing to send.")
        if row.status == S.FAILED:  # the caller audits the move with who asked for it
            self.move(row, S.SENDING)
            row.attempt_count = 0

    def claim(self, row: RemittanceInstruction, now: datetime) -> _Call:
        return _Call(
            bank=transfer_bank(row.remittance.debtor_bank),
            document=row.document.encode("utf-8"),
            end_to_end_id=row.remittance.end_to_end_id,
        )

    def send(self, call: _Call) -> _Outcome:
        try:
            return _Outcome(call.bank.initiate_transfer(call.document))
        except ProviderUnavailable as exc:
            return _Outcome(None, _error(exc), retryable=True)
        except ProviderError as exc:  # refused, or an answer we cannot read: for a person
            return _Outcome(None, _error(exc))

    def settle(
        self, row: RemittanceInstruction, call: _Call, outcome: _Outcome, now: datetime
    ) -> None:
        row.attempt_count += 1
        row.last_error = outcome.error[:255]
        if row.status != S.SENDING:
            return  # settled meanwhile by a send whose lease had run out
        if outcome.report is not None:
            _answered(row, outcome.report, call.end_to_end_id, now)
        elif outcome.retryable and retry_later(self, row, now):
            logger.info("remittance %s: %s; sending again later", row.message_id, outcome.error)
        else:
            row.next_attempt_at = None
            _move(row, S.FAILED, reason=outcome.error)
            logger.warning("remittance %s failed: %s", row.message_id, outcome.error)


REMITTANCE_INSTRUCTIONS = RemittanceOutbox()


def _answered(
    row: RemittanceInstruction, report: pain.PaymentStatusReport, end_to_end_id: str, now
) -> None:
    """The bank's pain.002: the transaction's own status where it gives one."""
    transaction = report.status_of(end_to_end_id)
    status = transaction.status if transaction else report.group_status
    reason = (transaction.reason if transaction else "") or report.reason
    detail = (transaction.detail if transaction else "") or report.detail
    row.bank_status = status[:4]
    row.bank_reason = f"{reason} {detail}".strip()[:255]
    row.bank_ref = transaction.bank_ref[:35] if transaction else ""
    row.answered_at, row.next_attempt_at = now, None
    rejected = report.rejected
    _move(
        row,
        S.REJECTED if rejected else S.ACCEPTED,
        reason=row.bank_reason,
        data={"bank_status": status, "bank_ref": row.bank_ref},
    )
    if rejected:
        logger.error("the bank refused remittance %s: %s", row.message_id, row.bank_reason)


def _move(
    row: RemittanceInstruction, to: str, *, reason: str = "", data: dict | None = None
) -> None:
    previous = row.status
    REMITTANCE_INSTRUCTIONS.move(row, to)
    audit_record(
        actor=ACTOR,
        action=f"remittance_instruction.{to}",
        obj=row,
        from_status=previous,
        to_status=to,
        reason=reason,
        data=data,
    )


def _error(exc: ProviderError) -> str:
    return f"{type(exc).__name__}: {exc}"[:255]
