"""Celery tasks: thin, idempotent, each loads ids and calls one service."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from core.queueing import enqueue
from reconciliation.models import ReconciliationRun, RunStatus
from reconciliation.ours import BUSINESS_TZ
from reconciliation.services import auto, runs
from reconciliation.statements import file_due

logger = logging.getLogger(__name__)


@shared_task(name="reconciliation.tasks.execute_run")
def execute_run(run_id: int) -> str:
    status = runs.run_execute(run_id=run_id).status
    enqueue("closing.tasks.after_reconciliation_run", run_id)  # 结报 and 缴库 follow the day
    return status


@shared_task(name="reconciliation.tasks.auto_resolve")
def auto_resolve(run_id: int) -> int:
    return auto.run_auto_resolve(run_id=run_id)


@shared_task(name="reconciliation.tasks.start_yesterday")
def start_yesterday() -> int:
    """After the 24:00 cut-off: one run per party for the day that just ended."""
    yesterday = timezone.now().astimezone(BUSINESS_TZ).date() - timedelta(days=1)
    return len(runs.runs_request_day(business_date=yesterday))


@shared_task(name="reconciliation.tasks.retry_waiting")
def retry_waiting() -> int:
    """Runs still waiting for their file (WeChat Pay's bill comes in the morning) try again.

    Still waiting after noon the next day is an alert: the party's file is late. (A party
    that says it has no file then, for a date we hold nothing of its for, had no trades:
    the run succeeds with an empty file.)
    """
    now = timezone.now().astimezone(BUSINESS_TZ)
    waiting = ReconciliationRun.objects.filter(
        status=RunStatus.FAILED,
        step=runs.WAITING_FOR_FILE,
        business_date__gte=now.date() - timedelta(days=3),
    )
    for run in waiting:
        if file_due(run.business_date):
            logger.error("the %s file of %s is late: %s", run.party, run.business_date, run.error)
        runs.run_request(business_date=run.business_date, party_code=run.party, actor="schedule")
    return len(waiting)
