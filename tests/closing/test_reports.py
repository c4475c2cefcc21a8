"""A settlement report's life: generated, replaced while a draft, submitted, approved by a
second person (or returned), never changed once approved, corrected by a new version."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.db import IntegrityError, transaction

from closing.models import (
    InstructionStatus,
    Remittance,
    RemittanceStatus,
    ReportStatus,
    SettlementReport,
)
from closing.services import reports
from closing.tasks import after_reconciliation_run
from core.errors import IllegalTransition, InvalidRequest
from core.models import AuditRecord
from reconciliation.models import PartyKind, ReconciliationRun, RunStatus
from tests.closing.conftest import DAY, TREASURY, at, order

pytestmark = pytest.mark.django_db
PAIN001 = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}"
ALL = SettlementReport.objects.all()


def generated() -> SettlementReport:
    [report] = reports.settlement_reports_generate(business_date=DAY, actor="system:closing")
    return report


def approved() -> SettlementReport:
    report = generated()
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    return reports.settlement_report_approve(
        public_id=report.public_id, visible=ALL, actor="user:approver"
    )


def actions(report: SettlementReport) -> list[str]:
    return list(
        AuditRecord.objects.filter(object_id=report.public_id)
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_generating_a_draft_again_changes_nothing_when_the_day_has_not(day_of_fees):
    first = generated()
    lines = list(first.lines.values_list("fee_item_code", "net"))

    again = generated()

    assert again.pk == first.pk and again.version == 1 and again.status == ReportStatus.DRAFT
    assert list(again.lines.values_list("fee_item_code", "net")) == lines
    assert SettlementReport.objects.count() == 1
    assert actions(again) == ["settlement_report.generated"]


def test_a_draft_is_replaced_when_the_day_has_changed(day_of_fees):
    first = generated()
    late = order(
        day_of_fees, (first.lines.get(fee_item_code="FEE-C").fee_item, 1, 2000), paid_at=at(DAY, 20)
    )

    again = generated()

    assert late.paid_at and again.pk == first.pk and again.version == 1
    assert (again.collected, again.net) == (6550 + 2000, 4950 + 2000)
    assert again.lines.get(fee_item_code="FEE-C").collected == 4000
    assert actions(again) == ["settlement_report.generated", "settlement_report.regenerated"]


def test_the_person_who_submitted_cannot_approve(day_of_fees):
    report = generated()
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")

    with pytest.raises(IllegalTransition) as refused:
        reports.settlement_report_approve(
            public_id=report.public_id, visible=ALL, actor="user:clerk"
        )
    with pytest.raises(IllegalTransition):
        reports.settlement_report_return(
            public_id=report.public_id, visible=ALL, actor="user:clerk", reason="wrong"
        )

    assert refused.value.status == 409
    report.refresh_from_db()
    assert report.status == ReportStatus.SUBMITTED and not Remittance.objects.exists()


def test_the_database_refuses_an_approval_by_the_preparer(day_of_fees):
    report = generated()
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementReport.objects.filter(pk=report.pk).update(
            status=ReportStatus.APPROVED, prepared_by="user:clerk", approved_by="user:clerk"
        )


def test_a_second_persons_approval_orders_the_remittance_of_the_net(day_of_fees):
    report = approved()

    assert (report.status, report.prepared_by, report.approved_by) == (
        ReportStatus.APPROVED,
        "user:clerk",
        "user:approver",
    )
    remittance = report.remittance
    assert (remittance.amount, remittance.status) == (4950, RemittanceStatus.INSTRUCTED)
    assert (remittance.debtor_bank, remittance.debtor_account) == ("icbc", "1202020209000012345")
    assert (remittance.creditor_account, remittance.creditor_name) == (
        TREASURY["account"],
        TREASURY["name"],
    )
    instruction = remittance.instruction
    assert instruction.status == InstructionStatus.SENDING and instruction.next_attempt_at
    document = ET.fromstring(instruction.document.encode())  # noqa: S314 - our own
    assert document.findtext(f".//{PAIN001}EndToEndId") == remittance.end_to_end_id
    assert document.findtext(f".//{PAIN001}MsgId") == instruction.message_id
    assert document.findtext(f".//{PAIN001}InstdAmt") == "49.50"
    assert actions(report) == [
        "settlement_report.generated",
        "settlement_report.submitted",
        "settlement_report.approved",
    ]


def test_an_approved_report_never_changes_and_a_correction_remits_the_difference(day_of_fees):
    first = approved()
    before = list(first.lines.values_list("fee_item_code", "collected", "net"))
    fee_c = first.lines.get(fee_item_code="FEE-C").fee_item
    order(day_of_fees, (fee_c, 1, 2000), paid_at=at(DAY, 21))  # applied late (补单)

    correction = generated()

    first.refresh_from_db()
    assert (first.status, first.net) == (ReportStatus.APPROVED, 4950)
    assert list(first.lines.values_list("fee_item_code", "collected", "net")) == before
    assert (correction.version, correction.corrects_id, correction.status) == (
        2,
        first.pk,
        ReportStatus.DRAFT,
    )
    assert (correction.net, correction.remitted_before, correction.to_remit) == (6950, 4950, 2000)
    with pytest.raises(IllegalTransition):
        reports.settlement_report_submit(public_id=first.public_id, visible=ALL, actor="user:x")

    reports.settlement_report_submit(
        public_id=correction.public_id, visible=ALL, actor="user:approver"
    )
    reports.settlement_report_approve(
        public_id=correction.public_id, visible=ALL, actor="user:clerk"
    )
    correction.refresh_from_db()
    assert correction.remittance.amount == 2000
    assert generated().pk == correction.pk  # the day matches the correction now


def test_steps_out_of_order_are_refused(day_of_fees):
    report = generated()

    with pytest.raises(IllegalTransition):
        reports.settlement_report_approve(public_id=report.public_id, visible=ALL, actor="user:a")
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    with pytest.raises(IllegalTransition):
        reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:b")
    with pytest.raises(InvalidRequest):
        reports.settlement_report_return(
            public_id=report.public_id, visible=ALL, actor="user:approver", reason="  "
        )


def test_a_returned_report_is_made_again_and_submitted_anew(day_of_fees):
    report = generated()
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    reports.settlement_report_return(
        public_id=report.public_id, visible=ALL, actor="user:approver", reason="FEE-B 缺少凭证"
    )
    report.refresh_from_db()
    assert (report.status, report.return_reason) == (ReportStatus.RETURNED, "FEE-B 缺少凭证")

    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")
    reports.settlement_report_approve(
        public_id=report.public_id, visible=ALL, actor="user:approver"
    )
    report.refresh_from_db()
    assert report.status == ReportStatus.APPROVED


def test_without_a_destination_nothing_is_approved(day_of_fees, settings):
    settings.CLOSING = {**settings.CLOSING, "destinations": {"regions": {}, "departments": {}}}
    report = generated()
    reports.settlement_report_submit(public_id=report.public_id, visible=ALL, actor="user:clerk")

    with pytest.raises(IllegalTransition):
        reports.settlement_report_approve(
            public_id=report.public_id, visible=ALL, actor="user:approver"
        )


def test_reports_are_made_once_every_run_of_the_date_has_finished(day_of_fees):
    processor = ReconciliationRun.objects.create(
        business_date=DAY, party="public_platform", party_kind=PartyKind.PROCESSOR
    )
    ReconciliationRun.objects.create(
        business_date=DAY, party="receipts", party_kind=PartyKind.RECEIPT, status=RunStatus.FAILED
    )

    assert after_reconciliation_run(processor.pk) == 0  # still queued
    processor.status = RunStatus.SUCCEEDED
    processor.save()
    assert after_reconciliation_run(processor.pk) == 1

    report = SettlementReport.objects.get()
    assert report.reconciliation == {"public_platform": "succeeded", "receipts": "failed"}
