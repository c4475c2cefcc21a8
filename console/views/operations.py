"""Operations: the payment channels (licence, limits, circuit breaker) and the backlogs of
revenue pushes, webhook deliveries, fiscal receipt requests and refunds given up, with
"retry now" for the roles allowed to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.core.exceptions import BadRequest
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.functional import Promise
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from billing.models import (
    DeliveryStatus,
    ReceiptKind,
    ReceiptStatus,
    RevenueRecordStatus,
    RevenueSystem,
    WebhookEndpoint,
)
from billing.models.processors import LICENCE_WARNING_DAYS
from billing.receipts import RECEIPTS
from billing.revenue import REVENUE_RECORDS
from billing.services.refunds import unsettled_payment_retry_now
from billing.webhooks import WEBHOOK_DELIVERIES
from console import lookup, operations
from console.access import (
    RETRY_RECEIPT,
    RETRY_REFUND,
    RETRY_REVENUE,
    RETRY_WEBHOOK,
    can,
    department_scope,
    permission_required,
    require,
    staff_required,
)
from console.actions import perform
from console.errors import CONSOLE_PREFIX
from console.params import choice_param
from outbox.engine import retry_now
from outbox.kinds import Kind

# The oldest rows of each backlog shown on the page; the counts above cover them all.
BACKLOG_ROWS = 100
BACKLOG_STATUSES = (RevenueRecordStatus.PENDING, RevenueRecordStatus.FAILED)


@dataclass(frozen=True)
class Backlog:
    """A kind of outbox row that a person may retry now, one row or the failed rows shown."""

    kind: Kind
    permission: str
    rows: Callable[[list[int] | None], QuerySet]  # every row the viewer may see
    waiting: Callable[[list[int] | None], QuerySet]  # those the backlogs page lists
    failed_ids: Callable[[QuerySet, list[int]], list[int]]  # of the posted, those to retry
    anchor: str  # the table on the backlogs page
    retried: Promise  # what the person is told, with the row's %(id)s


BACKLOGS = {
    "revenue": Backlog(
        kind=REVENUE_RECORDS,
        permission=RETRY_REVENUE,
        rows=operations.revenue_records,
        waiting=operations.revenue_backlog,
        failed_ids=partial(operations.failed_ids, REVENUE_RECORDS),
        anchor="revenue-backlog",
        retried=gettext_lazy("Retry requested for revenue record %(id)s."),
    ),
    "webhooks": Backlog(
        kind=WEBHOOK_DELIVERIES,
        permission=RETRY_WEBHOOK,
        rows=operations.webhook_deliveries,
        waiting=operations.webhook_backlog,
        failed_ids=operations.failed_webhook_ids,
        anchor="webhook-backlog",
        retried=gettext_lazy("Retry requested for webhook delivery %(id)s."),
    ),
    "receipts": Backlog(
        kind=RECEIPTS,
        permission=RETRY_RECEIPT,
        rows=lookup.visible_receipts,
        waiting=operations.receipt_backlog,
        failed_ids=partial(operations.failed_ids, RECEIPTS),
        anchor="receipt-backlog",
        retried=gettext_lazy("Retry requested for fiscal receipt %(id)s."),
    ),
}


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
    receipt_kind = choice_param(request, "receipt_kind", ReceiptKind.values)

    revenue = operations.revenue_backlog(scope)
    webhooks = operations.webhook_backlog(scope)
    receipts = operations.receipt_backlog(scope)
    revenue_counts = operations.revenue_counts(revenue)
    webhook_counts = operations.webhook_counts(webhooks)
    receipt_counts = operations.receipt_counts(receipts)
    if status:
        revenue, webhooks = revenue.filter(status=status), webhooks.filter(status=status)
        receipts = receipts.filter(status=operations.RECEIPT_BACKLOG_STATUSES[status])
    if system:
        revenue = revenue.filter(revenue_system__code=system)
    if endpoint:
        webhooks = webhooks.filter(endpoint__public_id=endpoint)
    if receipt_kind:
        receipts = receipts.filter(kind=receipt_kind)

    records, records_total = _oldest(revenue)
    owed, owed_total = _oldest(operations.refunds_needing_a_person(scope))
    deliveries, deliveries_total = _oldest(webhooks)
    receipt_rows, receipts_total = _oldest(receipts)
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
            "receipt_kind": receipt_kind,
            "statuses": BACKLOG_STATUSES,
            "systems": RevenueSystem.objects.order_by("code"),
            "endpoints": WebhookEndpoint.objects.order_by("public_id"),
            "receipt_kinds": ReceiptKind.choices,
            "revenue_counts": revenue_counts,
            "webhook_counts": webhook_counts,
            "receipt_counts": receipt_counts,
            "records": records,
            "records_total": records_total,
            "failed_record_ids": [r.pk for r in records if r.status == RevenueRecordStatus.FAILED],
            "deliveries": deliveries,
            "deliveries_total": deliveries_total,
            "failed_delivery_ids": [
                d.pk for d in deliveries if d.status == DeliveryStatus.FAILED and d.endpoint.active
            ],
            "receipts": receipt_rows,
            "receipts_total": receipts_total,
            "failed_receipt_ids": [r.pk for r in receipt_rows if r.status == ReceiptStatus.FAILED],
            "owed": owed,
            "owed_total": owed_total,
            "may_retry_revenue": can(request, RETRY_REVENUE),
            "may_retry_webhook": can(request, RETRY_WEBHOOK),
            "may_retry_receipt": can(request, RETRY_RECEIPT),
            "may_retry_refund": can(request, RETRY_REFUND),
        },
    )


def _oldest(backlog: QuerySet) -> tuple[list, int]:
    """The first BACKLOG_ROWS rows, and how many there are in all."""
    rows = list(backlog[:BACKLOG_ROWS])
    return rows, backlog.count() if len(rows) == BACKLOG_ROWS else len(rows)


def _backlog(request: HttpRequest, name: str) -> Backlog:
    backlog = BACKLOGS[name]
    require(request, backlog.permission)
    return backlog


@require_POST
@staff_required
def retry(request: HttpRequest, backlog: str, row_id: int) -> HttpResponse:
    """One row made due now (a failed one opened again), from the backlogs or a record's page."""
    chosen = _backlog(request, backlog)
    row = get_object_or_404(chosen.rows(department_scope(request)), pk=row_id)
    return perform(
        request,
        lambda: retry_now(chosen.kind.name, row.pk, actor=request.principal.actor),
        done=str(chosen.retried) % {"id": getattr(row, "public_id", row.pk)},
        back=_back(request, chosen.anchor),
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
@staff_required
def retry_failed(request: HttpRequest, backlog: str) -> HttpResponse:
    chosen = _backlog(request, backlog)
    ids = chosen.failed_ids(chosen.waiting(department_scope(request)), _posted_ids(request))
    return _retry_each(request, chosen.kind.name, ids, chosen.anchor)


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
    """The console page the form names in ``next`` (a record's page); else the backlog page
    with the filters the form was posted from (its action's query)."""
    wanted = request.POST.get("next", "")
    if wanted.startswith(CONSOLE_PREFIX) and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    query = request.GET.urlencode()
    return f"{reverse('console:backlogs')}{'?' + query if query else ''}#{anchor}"


urlpatterns = [
    path("processors/", processors, name="processors"),
    path("backlogs/", backlogs, name="backlogs"),
    path("backlogs/refunds/<int:unsettled_id>/retry/", retry_refund, name="retry_refund"),
    *(
        path(f"backlogs/{name}/<int:row_id>/retry/", retry, {"backlog": name}, name=f"retry_{name}")
        for name in BACKLOGS
    ),
    *(
        path(
            f"backlogs/{name}/retry-failed/",
            retry_failed,
            {"backlog": name},
            name=f"retry_failed_{name}",
        )
        for name in BACKLOGS
    ),
]
