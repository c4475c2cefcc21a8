"""The day closed: each department's settlement report (结报) submitted by one finance
officer and approved by a second, its net remitted (缴库) to the treasury, and each
remittance found on the settlement account's statement (leg 6).

One report is left submitted, for the console to show a report waiting for its second
person: that department remits nothing yet.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.contrib.auth import get_user_model

from closing.models import InstructionStatus, Remittance, ReportStatus, SettlementReport
from closing.selectors import visible_reports
from closing.services import remittances, reports
from core.auth import principal_for_user
from demo.access import FINANCE_USERNAME, REVIEWER_USERNAME
from demo.waiting import wait_until
from reconciliation.models import ReconciliationRun, RunStatus

PREPARER, APPROVER = FINANCE_USERNAME, REVIEWER_USERNAME
AWAITING_APPROVAL = "330106-SCJG"  # the district's market regulator: submitted, not approved


def approve_the_days_reports(business_date: date, *, actor: str) -> list[Remittance]:
    """The date's reports, made once its runs have finished (the worker makes them too,
    after each run: made again here, they do not change), submitted and approved; the
    remittances the approvals ordered, once the bank has answered their instructions."""
    reports_submit_and_approve(business_date, actor=actor, waiting=(AWAITING_APPROVAL,))
    ordered = Remittance.objects.filter(business_date=business_date)
    wait_until(
        lambda: not ordered.filter(instruction__status=InstructionStatus.SENDING).exists(),
        what="the bank to answer the remittances' instructions",
    )
    return list(ordered)


def reports_submit_and_approve(
    business_date: date, *, actor: str, waiting: tuple[str, ...] = ()
) -> list[SettlementReport]:
    """Each department's report of the date (made again as the figures are now) submitted
    by the finance officer and approved by the reviewer, but those of the ``waiting``
    departments, left for their approver; one submitted or approved before is left."""
    preparer, approver = _staff(PREPARER), _staff(APPROVER)
    made = reports.settlement_reports_generate(business_date=business_date, actor=actor)
    for report in made:
        if report.status != ReportStatus.DRAFT:
            continue
        _step(reports.settlement_report_submit, report, preparer)
        if report.department.code not in waiting:
            _step(reports.settlement_report_approve, report, approver)
    return made


def record_remittances(requested: list[ReconciliationRun]) -> None:
    """The remittances as their runs' statements show them: the worker records them after
    each run too, and recording them twice changes nothing."""
    for run in ReconciliationRun.objects.filter(
        pk__in=[run.pk for run in requested], status=RunStatus.SUCCEEDED
    ):
        remittances.remittances_record_statement(run_id=run.pk)


def _staff(username: str):
    return get_user_model().objects.get(username=username)


def _step(step: Callable[..., SettlementReport], report: SettlementReport, user) -> None:
    step(
        public_id=report.public_id,
        visible=visible_reports(user),
        actor=principal_for_user(user).actor,
    )
