"""Operations: the payment channels (licence, limits, circuit breaker) and the backlogs of
revenue pushes, webhook deliveries and refunds given up, with "retry now" for the roles
allowed to."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from billing.models import DeliveryStatus, RevenueRecordStatus, RevenueSystem, WebhookEndpoint
from billing.models.processors import LICENCE_WARNING_DAYS
from billing.revenue import REVENUE_RECORDS
from billing.services.refunds import unsettled_payment_retry_now
from billing.webhooks import WEBHOOK_DELIVERIES
from console import operations
from console.access import (
    RETRY_REFUND,
    RETRY_REVENUE,
    RETRY_WEBHOOK,
    can,
    department_scope,
    permission_required,
    staff_required,
)
from console.actions import perform
from console.params import choice_param
from outbox.engine import retry_now

# The oldest rows of each backlog shown on the page; the counts above cover them all.
BACKLOG_ROWS = 100
BACKLOG_STATUSES = (RevenueRecordStatus.PENDING, RevenueRecordStatus.FAILED)


@staff_required
def processors(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/operations/processors.html",
        {
            "section": "processors",
            "rows": operations.channel_rows(department_scope(request)),
            "warning_days": LICENCE_WARNING_DAYS,
        },
    )


@staff_required
def backlogs(request: HttpRequest) -> HttpResponse:
    scope = department_scope(request)
    status = choice_param(request, "status", BACKLOG_STATUSES)
    system = choice_param(
        request, "system", list(RevenueSystem.objects.values_list("code", flat=True))
    )
    endpoint = choice_param(
        request, "endpoint", list(WebhookEndpoint.objects.values_list("public_id", flat=True))
    )

    revenue = operations.revenue_backlog(scope)
    webhooks = operations.webhook_backlog(scope)
    revenue_counts = operations.revenue_counts(revenue)
    webhook_counts = operations.webhook_counts(webhooks)
    if status:
        revenue, webhooks = revenue.filter(status=status), webhooks.filter(status=status)
    if system:
        revenue = revenue.filter(revenue_system__code=system)
    if endpoint:
        webhooks = webhooks.filter(endpoint__public_id=endpoint)

    records = list(revenue[:BACKLOG_ROWS])
    owed = operations.refunds_needing_a_person(scope)
    owed_rows = list(owed[:BACKLOG_ROWS])
    deliveries = list(webhooks[:BACKLOG_ROWS])
    departments = operations.department_names(d.department_id for d in deliveries)
    for delivery in deliveries:
        delivery.department = departments.get(delivery.department_id)
    return render(
        request,
        "console/operations/backlogs.html",
        {
            "section": "backlogs",
            "status": status,
            "system": system,
            "endpoint": endpoint,
            "statuses": BACKLOG_STATUSES,
            "systems": RevenueSystem.objects.order_by("code"),
            "endpoints": WebhookEndpoint.objects.order_by("public_id"),
            "revenue_counts": revenue_counts,
            "webhook_counts": webhook_counts,
            "records": records,
            "records_total": revenue.count() if len(records) == BACKLOG_ROWS else len(records),
            "failed_record_ids": [r.pk for r in records if r.status == RevenueRecordStatus.FAILED],
            "deliveries": deliveries,
            "deliveries_total": (
                webhooks.count() if len(deliveries) == BACKLOG_ROWS else len(deliveries)
            ),
            "failed_delivery_ids": [
                d.pk for d in deliveries if d.status == DeliveryStatus.FAILED and d.endpoint.active
            ],
            "owed": owed_rows,
            "owed_total": owed.count() if len(owed_rows) == BACKLOG_ROWS else len(owed_rows),
            "may_retry_revenue": can(request, RETRY_REVENUE),
            "may_retry_webhook": can(request, RETRY_WEBHOOK),
            "may_retry_refund": can(request, RETRY_REFUND),
        },
    )


@require_POST
@permission_required(RETRY_REVENUE)
def retry_revenue(request: HttpRequest, record_id: int) -> HttpResponse:
    records = operations.revenue_records(department_scope(request))
    record = get_object_or_404(records, pk=record_id)
    return perform(
        request,
        lambda: retry_now(REVENUE_RECORDS.name, record.pk, actor=request.principal.actor),
        done=_("Retry requested for revenue record %(id)s.") % {"id": record.public_id},
        back=_back(request, "revenue-backlog"),
    )


@require_POST
@permission_required(RETRY_WEBHOOK)
def retry_webhook(request: HttpRequest, delivery_id: int) -> HttpResponse:
    deliveries = operations.webhook_deliveries(department_scope(request))
    delivery = get_object_or_404(deliveries, pk=delivery_id)
    return perform(
        request,
        lambda: retry_now(WEBHOOK_DELIVERIES.name, delivery.pk, actor=request.principal.actor),
        done=_("Retry requested for webhook delivery %(id)s.") % {"id": delivery.pk},
        back=_back(request, "webhook-backlog"),
    )


@require_POST
@permission_required(RETRY_REFUND)
def retry_refund(request: HttpRequest, unsettled_id: int) -> HttpResponse:
    owed = operations.unsettled_payments(department_scope(request))
    unsettled = get_object_or_404(owed, pk=unsettled_id)
    return perform(
        request,
        lambda: unsettled_payment_retry_now(
            unsettled_id=unsettled.pk, actor=request.principal.actor
        ),
        done=_("Retry requested for the refund of %(id)s.") % {"id": unsettled.attempt.public_id},
        back=_back(request, "refund-backlog"),
    )


@require_POST
@permission_required(RETRY_REVENUE)
def retry_failed_revenue(request: HttpRequest) -> HttpResponse:
    backlog = operations.revenue_backlog(department_scope(request))
    ids = operations.failed_revenue_ids(backlog, _posted_ids(request))
    return _retry_each(request, REVENUE_RECORDS.name, ids, "revenue-backlog")


@require_POST
@permission_required(RETRY_WEBHOOK)
def retry_failed_webhooks(request: HttpRequest) -> HttpResponse:
    backlog = operations.webhook_backlog(department_scope(request))
    ids = operations.failed_webhook_ids(backlog, _posted_ids(request))
    return _retry_each(request, WEBHOOK_DELIVERIES.name, ids, "webhook-backlog")


def _retry_each(request: HttpRequest, kind: str, ids: list[int], anchor: str) -> HttpResponse:
    """One retry per row, each its own transaction; a refusal stops the rest."""

    def retry_all() -> None:
        for pk in ids:
            retry_now(kind, pk, actor=request.principal.actor)

    done = ngettext(
        "Retry requested for %(count)d failed row.",
        "Retry requested for %(count)d failed rows.",
        len(ids),
    ) % {"count": len(ids)}
    return perform(request, retry_all, done=done, back=_back(request, anchor))


def _posted_ids(request: HttpRequest) -> list[int]:
    raw = request.POST.getlist("id")
    if len(raw) > BACKLOG_ROWS or not all(value.isdigit() and len(value) <= 18 for value in raw):
        raise BadRequest(f"id must be up to {BACKLOG_ROWS} whole numbers.")
    return [int(value) for value in raw]


def _back(request: HttpRequest, anchor: str) -> str:
    """The backlog page with the filters the form was posted from (its action's query)."""
    query = request.GET.urlencode()
    return f"{reverse('console:backlogs')}{'?' + query if query else ''}#{anchor}"


urlpatterns = [
    path("processors/", processors, name="processors"),
    path("backlogs/", backlogs, name="backlogs"),
    path("backlogs/revenue/<int:record_id>/retry/", retry_revenue, name="retry_revenue"),
    path("backlogs/webhooks/<int:delivery_id>/retry/", retry_webhook, name="retry_webhook"),
    path("backlogs/refunds/<int:unsettled_id>/retry/", retry_refund, name="retry_refund"),
    path("backlogs/revenue/retry-failed/", retry_failed_revenue, name="retry_failed_revenue"),
    path("backlogs/webhooks/retry-failed/", retry_failed_webhooks, name="retry_failed_webhooks"),
]
