"""Celery tasks: thin, idempotent, each loads ids and calls services."""

from __future__ import annotations

from celery import shared_task

from closing import selectors
from closing.services import remittances, reports
from reconciliation.models import ReconciliationRun

ACTOR = "system:closing"


@shared_task(name="closing.tasks.after_reconciliation_run")
def after_reconciliation_run(run_id: int) -> int:
    """A run has ended: its remittances as the statement shows them (a remittance party's
    run), and, once every run of its date has finished, the date's settlement reports
    made or made again. Returns how many reports were generated."""
    run = ReconciliationRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    remittances.remittances_record_statement(run_id=run.pk)
    if not selectors.day_reconciled(run.business_date):
        return 0
    return len(reports.settlement_reports_generate(business_date=run.business_date, actor=ACTOR))
