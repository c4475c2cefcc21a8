"""The database figures of the couriers' pushes and of reconciliation (see business.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import Count, Min
from prometheus_client.core import GaugeMetricFamily, Metric

from integrations.couriers.registry import COURIER_CODES
from reconciliation.models import Discrepancy, DiscrepancyStatus, ReconciliationRun, RunStatus


def courier_pushes(now: datetime) -> Iterator[Metric]:
    from logistics.models import CourierPush, PushStatus

    unapplied = GaugeMetricFamily(
        "backoffice_courier_pushes_unapplied",
        "Couriers' pushes verified and stored but not yet applied to their shipments.",
        labels=["courier"],
    )
    oldest = GaugeMetricFamily(
        "backoffice_courier_push_oldest_unapplied_age_seconds",
        "Age of the oldest push not yet applied; 0 when none waits.",
        labels=["courier"],
    )
    waiting = {code: {"n": 0, "oldest": None} for code in COURIER_CODES}
    rows = (
        CourierPush.objects.filter(status=PushStatus.RECEIVED)
        .order_by()
        .values("courier")
        .annotate(n=Count("id"), oldest=Min("received_at"))
    )
    for row in rows:
        waiting[row["courier"]] = row
    for courier, row in sorted(waiting.items()):
        unapplied.add_metric([courier], row["n"])
        oldest.add_metric([courier], age(now, row["oldest"]))
    yield unapplied
    yield oldest


def reconciliation() -> Iterator[Metric]:
    # Named, not excluded: a lookup of a few statuses uses the (status, type) index.
    settled = (DiscrepancyStatus.RESOLVED, DiscrepancyStatus.AUTO_RESOLVED)
    unsettled = [status for status in DiscrepancyStatus.values if status not in settled]

    duration = GaugeMetricFamily(
        "backoffice_reconciliation_last_run_duration_seconds",
        "Duration of each party's most recently finished reconciliation run.",
        labels=["party"],
    )
    finished = GaugeMetricFamily(
        "backoffice_reconciliation_last_run_finished_timestamp_seconds",
        "When each party's most recently finished run finished (Unix time).",
        labels=["party"],
    )
    succeeded = GaugeMetricFamily(
        "backoffice_reconciliation_last_run_succeeded",
        "1 if each party's most recently finished run succeeded, 0 if it failed.",
        labels=["party"],
    )
    last_runs = (
        ReconciliationRun.objects.filter(finished_at__isnull=False, started_at__isnull=False)
        .order_by("party", "-finished_at")
        .distinct("party")
        .values("party", "status", "started_at", "finished_at")
    )
    for run in last_runs:
        seconds = (run["finished_at"] - run["started_at"]).total_seconds()
        duration.add_metric([run["party"]], max(seconds, 0.0))
        finished.add_metric([run["party"]], run["finished_at"].timestamp())
        succeeded.add_metric([run["party"]], 1 if run["status"] == RunStatus.SUCCEEDED else 0)
    yield duration
    yield finished
    yield succeeded

    unresolved = GaugeMetricFamily(
        "backoffice_discrepancies_open",
        "Discrepancies not yet resolved, by type and status (open, assigned, proposed, "
        "carried_over, escalated).",
        labels=["type", "status"],
    )
    rows = (
        Discrepancy.objects.filter(status__in=unsettled)
        .order_by()
        .values("type", "status")
        .annotate(n=Count("id"))
        .order_by("type", "status")
    )
    for row in rows:
        unresolved.add_metric([row["type"], row["status"]], row["n"])
    yield unresolved


def age(now: datetime, since: datetime | None) -> float:
    """Seconds from ``since`` to ``now``; 0 when there is nothing waiting."""
    return max((now - since).total_seconds(), 0.0) if since else 0.0
