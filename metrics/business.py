"""What the database holds, read at scrape time: true for the whole deployment.

Every web and worker process shares the one database, so a scrape of any process reports
the same figures. Each figure is one aggregate query over indexed columns (or a small
table), under a statement timeout; if any fails, the scrape still answers, with
``backoffice_collector_up 0`` and without these figures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from billing.models import ChannelHealth, OrderStatus, PaymentAttempt, PaymentOrder, Processor
from metrics import operations
from metrics.operations import age
from outbox.kinds import all_kinds

logger = logging.getLogger(__name__)

STATEMENT_TIMEOUT = "2s"

# The last applied notification of each attempt that succeeded within the window: after an
# attempt has succeeded, every later notification of it is a duplicate, so that one applied
# the payment. Its latency runs from when the channel says the payer paid to when we stored
# the notification, in the transaction that applied it.
_NOTIFICATION_LATENCY_SQL = """
SELECT channel,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency),
       count(*)
FROM (
    SELECT DISTINCT ON (n.attempt_id)
           a.channel AS channel,
           GREATEST(EXTRACT(EPOCH FROM n.received_at - a.paid_at), 0) AS latency
    FROM billing_paymentnotification n
    JOIN billing_paymentattempt a ON a.id = n.attempt_id
    WHERE n.received_at >= now() - interval '1 hour'
      AND n.outcome IN ('applied', 'refund_due')
      AND a.status = 'succeeded'
      AND a.paid_at IS NOT NULL
    ORDER BY n.attempt_id, n.received_at DESC
) AS latest
GROUP BY channel
ORDER BY channel
"""


class BusinessCollector:
    """A prometheus_client collector; registered on each scrape's registry."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        try:
            families = list(_read_all())
            up = 1
        except Exception as exc:  # the scrape must still answer: say so instead
            logger.warning("metrics: the database figures failed (%s)", type(exc).__name__)
            families, up = [], 0
        yield from families
        yield _gauge(
            "backoffice_collector_up",
            "1 if the database figures were read on this scrape, 0 if reading them failed.",
            value=up,
        )
        yield _gauge(
            "backoffice_collector_duration_seconds",
            "Time taken to read the database figures on this scrape.",
            value=time.perf_counter() - started,
        )


def _read_all() -> Iterator[Metric]:
    now = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [STATEMENT_TIMEOUT])
        families = [
            *_orders(),
            *_attempts(),
            *_notification_latency(),
            *_breakers(),
            *_outboxes(now),
            *operations.courier_pushes(now),
            *operations.reconciliation(),
            *_licences(),
        ]
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
    return iter(families)


def _orders() -> Iterator[Metric]:
    counts = dict.fromkeys(OrderStatus.values, 0)
    for row in PaymentOrder.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    by_status = GaugeMetricFamily(
        "backoffice_payment_orders",
        "Payment orders by current status.",
        labels=["status"],
    )
    for status, n in counts.items():
        by_status.add_metric([status], n)
    yield by_status
    yield CounterMetricFamily(
        "backoffice_payment_orders_created",
        "Payment orders ever created (orders are never deleted).",
        value=sum(counts.values()),
    )


def _attempts() -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "backoffice_payment_attempts",
        "Payment attempts by channel and current status (created, pending, unknown, "
        "succeeded, failed, closed).",
        labels=["channel", "status"],
    )
    rows = (
        PaymentAttempt.objects.order_by()
        .values("channel", "status")
        .annotate(n=Count("id"))
        .order_by("channel", "status")
    )
    for row in rows:
        family.add_metric([row["channel"], row["status"]], row["n"])
    yield family


def _notification_latency() -> Iterator[Metric]:
    latency = GaugeMetricFamily(
        "backoffice_notification_apply_latency_seconds",
        "Over the last hour, per channel: quantiles of the time from the payment (the "
        "channel's paid time) to the notification that applied it being stored.",
        labels=["channel", "quantile"],
    )
    applied = GaugeMetricFamily(
        "backoffice_notifications_applied_last_hour",
        "Payments applied by a channel's notification in the last hour, per channel.",
        labels=["channel"],
    )
    with connection.cursor() as cursor:
        cursor.execute(_NOTIFICATION_LATENCY_SQL)
        for channel, p50, p95, count in cursor.fetchall():
            latency.add_metric([channel, "0.5"], float(p50))
            latency.add_metric([channel, "0.95"], float(p95))
            applied.add_metric([channel], count)
    yield latency
    yield applied


def _breakers() -> Iterator[Metric]:
    state = GaugeMetricFamily(
        "backoffice_channel_breaker_state",
        "Each channel's circuit breaker: 1 for its current state (closed: in rotation; "
        "open: out of rotation; half_open: one trial decides), 0 for the others.",
        labels=["channel", "state"],
    )
    failures = GaugeMetricFamily(
        "backoffice_channel_breaker_consecutive_failures",
        "Consecutive failed calls the breaker has counted, per channel.",
        labels=["channel"],
    )
    for row in ChannelHealth.objects.order_by("channel").values(
        "channel", "state", "consecutive_failures"
    ):
        for value in ChannelHealth.State.values:
            state.add_metric([row["channel"], value], 1 if row["state"] == value else 0)
        failures.add_metric([row["channel"]], row["consecutive_failures"])
    yield state
    yield failures


def _outboxes(now: datetime) -> Iterator[Metric]:
    open_rows = GaugeMetricFamily(
        "backoffice_outbox_open",
        "Outbox rows still being worked on, by kind (webhook deliveries, revenue records "
        "not yet receipted, couriers' pushes not yet applied, events between apps).",
        labels=["outbox"],
    )
    lag = GaugeMetricFamily(
        "backoffice_outbox_oldest_due_age_seconds",
        "How long the longest-waiting due row of each kind has been due; 0 when none is.",
        labels=["outbox"],
    )
    failed = GaugeMetricFamily(
        "backoffice_outbox_failed",
        "Rows given up after their last retry (or, for revenue, with no system for the "
        "region): they wait for a person.",
        labels=["outbox"],
    )
    for kind in sorted(all_kinds(), key=lambda kind: kind.name):
        rows = kind.model.objects.order_by()
        waiting = rows.filter(status__in=kind.open_statuses).aggregate(
            n=Count("pk"), due_since=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now))
        )
        open_rows.add_metric([kind.name], waiting["n"])
        lag.add_metric([kind.name], age(now, waiting["due_since"]))
        failed.add_metric([kind.name], rows.filter(status=kind.failed_status).count())
    yield open_rows
    yield lag
    yield failed


def _licences() -> Iterator[Metric]:
    from billing.models.processors import LICENCE_WARNING_DAYS

    today = timezone.localdate()
    days_left = GaugeMetricFamily(
        "backoffice_processor_licence_days_left",
        "Days until each licensed processor's Payment Business Licence ends (negative once "
        "it has ended).",
        labels=["processor"],
    )
    expiring = 0
    for processor in Processor.objects.filter(licensed=True).order_by("code"):
        left = processor.licence_days_left(on=today)
        days_left.add_metric([processor.code], left)
        if 0 <= left <= LICENCE_WARNING_DAYS:
            expiring += 1
    yield days_left
    yield _gauge(
        "backoffice_processor_licences_expiring",
        f"Licensed processors whose licence ends within {LICENCE_WARNING_DAYS} days "
        "(not yet ended).",
        value=expiring,
    )


def _gauge(name: str, documentation: str, *, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
