"""Reads of settlement reports: the day's state and what a reader may see."""

from __future__ import annotations

from datetime import date

from django.db.models import QuerySet

from billing.selectors import scoped_department_ids
from closing.models import SettlementReport
from reconciliation.models import ReconciliationRun, RunStatus


def day_reconciled(business_date: date) -> bool:
    """Whether the date has runs and every one of them has finished, well or not."""
    runs = ReconciliationRun.objects.filter(business_date=business_date)
    finished = (RunStatus.SUCCEEDED, RunStatus.FAILED)
    return runs.exists() and not runs.exclude(status__in=finished).exists()


def visible_reports(user) -> QuerySet[SettlementReport]:
    """The reports of the departments the staff user may see."""
    reports = SettlementReport.objects.all()
    departments = scoped_department_ids(user)
    return reports if departments is None else reports.filter(department_id__in=departments)
