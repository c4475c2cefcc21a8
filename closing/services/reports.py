"""Settlement reports (结报): generated from the day's figures, submitted, and approved or
returned by a second person.

Each step is one transaction under the report's row lock (generation under its
department's, which also keeps two generations of one day apart), checked against the
transitions below and audited. An approved report never changes: when the day's figures
no longer match it, generating the day again makes a new version that corrects it, and
approving that remits the difference.
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.models import Department, FeeItem
from closing.destinations import bank_of_account, destination_for
from closing.figures import DepartmentFigures, day_figures
from closing.instructions import remittance_instruct
from closing.models import Remittance, ReportStatus, SettlementReport, SettlementReportLine
from core.audit import audit_record
from core.errors import IllegalTransition, InvalidRequest, NotFound
from core.states import check_transition
from reconciliation.models import ReconciliationRun

S = ReportStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.APPROVED, S.RETURNED}),
    S.RETURNED: frozenset({S.DRAFT, S.SUBMITTED}),
    S.APPROVED: frozenset(),
}
# A report's figures, which each of its lines has too, in the order they are shown.
FIGURES = (
    "payments_count",
    "collected",
    "refunds_count",
    "refunded",
    "waivers_count",
    "waived",
    "net",
)


# Generating -------------------------------------------------------------------------------


def settlement_reports_generate(
    *, business_date: date, actor: str, departments: list[int] | None = None
) -> list[SettlementReport]:
    """The date's report of every department with something to report (of ``departments``
    when given), each made or made again as the figures are now; a submitted one is left
    for its approver."""
    figures = day_figures(business_date)
    if departments is not None:
        figures = {key: value for key, value in figures.items() if key in departments}
    runs = dict(
        ReconciliationRun.objects.filter(business_date=business_date).values_list("party", "status")
    )
    return [
        _generate(department_id, business_date, figures[department_id], runs, actor)
        for department_id in sorted(figures)
    ]


def _generate(
    department_id: int, business_date: date, figures: DepartmentFigures, runs: dict, actor: str
) -> SettlementReport:
    with transaction.atomic(durable=True):
        department = Department.objects.select_for_update().get(pk=department_id)
        latest = (
            SettlementReport.objects.filter(department=department, business_date=business_date)
            .order_by("-version")
            .first()
        )
        lines = _lines(figures)
        if latest is None:
            return _create(department, business_date, figures, lines, runs, actor)
        if latest.status == S.SUBMITTED or _same(latest, figures, lines):
            return latest
        if latest.status == S.APPROVED:
            return _create(department, business_date, figures, lines, runs, actor, latest)
        return _replace(latest, figures, lines, runs, actor)


def _create(
    department: Department,
    business_date: date,
    figures: DepartmentFigures,
    lines: list[SettlementReportLine],
    runs: dict,
    actor: str,
    corrects: SettlementReport | None = None,
) -> SettlementReport:
    report = SettlementReport(
        department=department,
        business_date=business_date,
        version=corrects.version + 1 if corrects else 1,
        corrects=corrects,
        remitted_before=(
            Remittance.objects.filter(department=department, business_date=business_date).aggregate(
                total=Sum("amount")
            )["total"]
            or 0
        ),
    )
    _fill(report, figures, runs)
    report.save(force_insert=True)
    _write_lines(report, lines)
    audit_record(
        actor=actor,
        action="settlement_report.generated",
        obj=report,
        to_status=report.status,
        data={"net": report.net, **({"corrects": corrects.public_id} if corrects else {})},
    )
    return report


def _replace(
    report: SettlementReport,
    figures: DepartmentFigures,
    lines: list[SettlementReportLine],
    runs: dict,
    actor: str,
) -> SettlementReport:
    """A draft (or a returned report) made again from the figures as they are now."""
    report = SettlementReport.objects.select_for_update().get(pk=report.pk)
    previous = report.status
    if previous != S.DRAFT:
        check_transition(TRANSITIONS, kind="settlement report", current=previous, new=S.DRAFT)
        report.status = S.DRAFT
    _fill(report, figures, runs)
    report.save()
    report.lines.all().delete()
    _write_lines(report, lines)
    audit_record(
        actor=actor,
        action="settlement_report.regenerated",
        obj=report,
        from_status=previous,
        to_status=report.status,
        data={"net": report.net},
    )
    return report


def _fill(report: SettlementReport, figures: DepartmentFigures, runs: dict) -> None:
    items = figures.items.values()
    report.payments_count = figures.payments_count
    report.refunds_count = figures.refunds_count
    report.waivers_count = sum(item.waivers_count for item in items)
    report.collected = sum(item.collected for item in items)
    report.refunded = sum(item.refunded for item in items)
    report.waived = sum(item.waived for item in items)
    report.net = report.collected - report.refunded
    destination = destination_for(report.department)
    report.destination_kind = destination.kind if destination else ""
    report.destination_account = destination.account if destination else ""
    report.destination_name = destination.name if destination else ""
    report.destination_bank = destination.bank if destination else ""
    report.destination_bank_name = destination.bank_name if destination else ""
    report.reconciliation = runs
    report.generated_at = timezone.now()


def _lines(figures: DepartmentFigures) -> list[SettlementReportLine]:
    fee_items = FeeItem.objects.in_bulk(list(figures.items))
    lines = [
        SettlementReportLine(
            fee_item=fee_items[fee_item_id],
            fee_item_code=fee_items[fee_item_id].code,
            fee_item_name=fee_items[fee_item_id].name,
            payments_count=item.payments_count,
            collected=item.collected,
            refunds_count=item.refunds_count,
            refunded=item.refunded,
            waivers_count=item.waivers_count,
            waived=item.waived,
            net=item.net,
        )
        for fee_item_id, item in figures.items.items()
    ]
    return sorted(lines, key=lambda line: line.fee_item_code)


def _write_lines(report: SettlementReport, lines: list[SettlementReportLine]) -> None:
    for line in lines:
        line.report = report
    SettlementReportLine.objects.bulk_create(lines)


def _same(
    report: SettlementReport, figures: DepartmentFigures, lines: list[SettlementReportLine]
) -> bool:
    """Whether the report already holds these figures."""
    held = sorted(report.lines.values_list("fee_item_id", *FIGURES), key=lambda row: row[0])
    fresh = sorted(
        ((line.fee_item_id, *(getattr(line, name) for name in FIGURES)) for line in lines),
        key=lambda row: row[0],
    )
    return held == fresh and (report.payments_count, report.refunds_count) == (
        figures.payments_count,
        figures.refunds_count,
    )


# Moving -----------------------------------------------------------------------------------


def settlement_report_submit(*, public_id: str, visible: QuerySet, actor: str) -> SettlementReport:
    """The preparer hands the report to a second person; the preparer is who submits it."""
    with transaction.atomic(durable=True):
        report = _locked(public_id, visible)
        _move(report, S.SUBMITTED, actor=actor)
        report.prepared_by, report.submitted_at = actor, timezone.now()
        report.save(update_fields=["status", "prepared_by", "submitted_at", "updated_at"])
    return report


def settlement_report_approve(*, public_id: str, visible: QuerySet, actor: str) -> SettlementReport:
    """The second person's approval; it orders the remittance of what is left to remit."""
    with transaction.atomic(durable=True):
        report = _locked(public_id, visible)
        check_transition(
            TRANSITIONS, kind="settlement report", current=report.status, new=S.APPROVED
        )
        _second_person(report, actor)
        bank = _remitting_bank(report)
        _move(report, S.APPROVED, actor=actor)
        report.approved_by, report.approved_at = actor, timezone.now()
        report.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
        if bank:
            remittance_instruct(report=report, bank=bank)
    return report


def settlement_report_return(
    *, public_id: str, visible: QuerySet, actor: str, reason: str
) -> SettlementReport:
    """The second person sends the report back to be made again, saying why."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest(_("Say why the report is returned."), fields={"reason": ["Required."]})
    with transaction.atomic(durable=True):
        report = _locked(public_id, visible)
        check_transition(
            TRANSITIONS, kind="settlement report", current=report.status, new=S.RETURNED
        )
        _second_person(report, actor)
        _move(report, S.RETURNED, actor=actor, reason=reason)
        report.returned_by, report.returned_at = actor, timezone.now()
        report.return_reason = reason[:255]
        report.save(
            update_fields=["status", "returned_by", "returned_at", "return_reason", "updated_at"]
        )
    return report


def _locked(public_id: str, visible: QuerySet) -> SettlementReport:
    found = (
        visible.select_for_update(of=("self",))
        .select_related("department")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise NotFound(_("No such settlement report."))
    return found


def _second_person(report: SettlementReport, actor: str) -> None:
    if actor == report.prepared_by:
        raise IllegalTransition(
            _("A second person approves or returns a report: not the one who submitted it.")
        )


def _remitting_bank(report: SettlementReport) -> str:
    """The bank the report's remittance leaves from ("" when it remits nothing); refused
    when there is something to remit and nowhere to send it, or no bank to send it from."""
    if report.to_remit <= 0:
        return ""
    if not report.destination_account:
        raise IllegalTransition(
            _(
                "No treasury or special account is configured for the department: "
                "nothing can be remitted."
            )
        )
    bank = bank_of_account(report.department.settlement_account_number)
    if bank is None:
        raise IllegalTransition(
            _("No bank of the service keeps the department's settlement account.")
        )
    return bank


def _move(report: SettlementReport, to: str, *, actor: str, reason: str = "") -> None:
    previous = report.status
    check_transition(TRANSITIONS, kind="settlement report", current=previous, new=to)
    report.status = to
    audit_record(
        actor=actor,
        action=f"settlement_report.{to}",
        obj=report,
        from_status=previous,
        to_status=to,
        reason=reason,
        data={"net": report.net, "version": report.version},
    )
