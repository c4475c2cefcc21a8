"""A day closed end to end: the approved report's remittance sent through the outbox to the
sandbox bank, which is down for a while, paid once, and seen on the bank's statement."""

from __future__ import annotations

import pytest
import requests
from django.utils import timezone

from closing.models import (
    InstructionStatus,
    RemittanceInstruction,
    RemittanceStatus,
    SettlementReport,
)
from closing.services import reports
from closing.services.remittances import remittances_record_statement
from integrations.banks.transfers import HttpTransferBank
from outbox.engine import deliver, retry_now
from reconciliation.models import Discrepancy, RunStatus
from reconciliation.services import runs
from tests.closing.conftest import DAY, SETTLEMENT_ACCOUNT
from tests.integrations.helpers import unreachable_url
from tests.waiting import eventually

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
KIND = "remittance_instruction"
ALL = SettlementReport.objects.all()


def bank_at(settings, base_url: str) -> None:
    settings.BANKS = {**settings.BANKS, "icbc": {**settings.BANKS["icbc"], "base_url": base_url}}


def booked(live_service) -> list[dict]:
    answer = requests.get(
        f"{live_service.url}/sandbox/banks/_control/accounts/{SETTLEMENT_ACCOUNT}/entries",
        timeout=5,
    )
    return answer.json()["entries"]


def settled(instruction: RemittanceInstruction, check):
    def done():
        instruction.refresh_from_db()
        return instruction if check(instruction) else None

    return eventually(done)


def test_the_remittance_survives_the_bank_down_is_paid_once_and_seen(
    live_service, day_of_fees, settings
):
    requests.post(f"{live_service.url}/sandbox/_control/reset", timeout=5).raise_for_status()
    settings.SANDBOX_BANKS = {**settings.SANDBOX_BANKS, "hold_until_day_ends": False}
    bank_url = settings.BANKS["icbc"]["base_url"]
    bank_at(settings, unreachable_url())
    [report] = reports.settlement_reports_generate(business_date=DAY, actor="system:closing")
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    reports.settlement_report_approve(
        public_id=report.public_id, visible=ALL, actor="user:approver"
    )
    instruction = RemittanceInstruction.objects.select_related("remittance").get()
    document, message_id = instruction.document, instruction.message_id

    deliver(KIND, instruction.pk)  # a worker may have sent it already: either is one try
    down = settled(instruction, lambda row: row.attempt_count >= 1)
    assert down.status == InstructionStatus.SENDING and "ProviderUnavailable" in down.last_error
    assert down.next_attempt_at > timezone.now() and booked(live_service) == []

    bank_at(settings, bank_url)
    retry_now(KIND, instruction.pk, actor="user:clerk")
    deliver(KIND, instruction.pk)
    up = settled(instruction, lambda row: row.status != InstructionStatus.SENDING)
    assert (up.status, up.bank_status) == (InstructionStatus.ACCEPTED, "ACSC")
    assert (up.document, up.message_id) == (document, message_id)  # the same message

    deliver(KIND, instruction.pk)  # a late duplicate task: nothing is due
    resent = HttpTransferBank(code="icbc", base_url=bank_url).initiate_transfer(document.encode())
    assert resent.status_of(up.remittance.end_to_end_id).bank_ref == up.bank_ref
    [debit] = booked(live_service)
    assert (debit["amount"], debit["end_to_end_id"]) == (-4950, up.remittance.end_to_end_id)

    day = up.remittance.execution_date
    run = runs.run_request(
        business_date=day, party_code=f"remittance:icbc:{SETTLEMENT_ACCOUNT}", actor="user:test"
    )
    run = runs.run_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    remittances_record_statement(run_id=run.pk)
    remittance = up.remittance
    remittance.refresh_from_db()
    assert (remittance.status, remittance.seen_on, remittance.bank_ref) == (
        RemittanceStatus.SEEN,
        day,
        up.bank_ref,
    )
    assert not Discrepancy.objects.filter(party=run.party).exists()
