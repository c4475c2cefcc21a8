"""Reconciliation runs: the list, a run's progress and results, re-runs, files and reports.

Runs are per party, not per department, so department-scoped staff see every run; what
they see of its discrepancies, its party totals and its reports is limited to their
departments, as in the reports themselves.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.core.paginator import EmptyPage, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from console import params
from console.access import RERUN, can, department_scope, permission_required, staff_required
from console.actions import perform
from reconciliation import downloads, statements
from reconciliation.models import (
    Discrepancy,
    DiscrepancyStatus,
    DiscrepancyType,
    PartyKind,
    ReconciliationRun,
    RunStatus,
    StatementFile,
)
from reconciliation.parties import all_parties, parse_party
from reconciliation.services import runs as run_service

PAGE_SIZE = 50
ALL_PARTIES = "all"
FINAL = (RunStatus.SUCCEEDED, RunStatus.FAILED)
SETTLED = (DiscrepancyStatus.RESOLVED, DiscrepancyStatus.AUTO_RESOLVED)

SIDE_LABELS = {
    "ours": gettext_lazy("Ours"),
    "theirs": gettext_lazy("Theirs"),
    "matched": gettext_lazy("Matched"),
}

# Reading ---------------------------------------------------------------------------------


@staff_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    filters = {
        "date_from": params.date_param(request, "date_from"),
        "date_to": params.date_param(request, "date_to"),
        "party": params.text_param(request, "party", max_length=60),
        "kind": params.choice_param(request, "kind", PartyKind.values),
        "status": params.choice_param(request, "status", RunStatus.values),
    }
    paginator = Paginator(_filtered_runs(filters, department_scope(request)), PAGE_SIZE)
    try:
        page = paginator.page(params.int_param(request, "page", 1, low=1))
    except EmptyPage as error:
        raise Http404 from error
    parties = [party.code for party in all_parties()]
    return render(
        request,
        "console/runs/list.html",
        {
            "section": "runs",
            "filters": filters,
            "page": page,
            "runs": [_labelled(run) for run in page.object_list],
            "parties": parties,
            "kinds": PartyKind.choices,
            "statuses": RunStatus.choices,
            "may_rerun": can(request, RERUN),
            "all_parties": ALL_PARTIES,
        },
    )


def _filtered_runs(filters: dict, departments: list[int] | None) -> QuerySet[ReconciliationRun]:
    runs = ReconciliationRun.objects.annotate(
        discrepancy_count=Count("discrepancies", filter=_in_scope(departments))
    )
    if filters["date_from"]:
        runs = runs.filter(business_date__gte=filters["date_from"])
    if filters["date_to"]:
        runs = runs.filter(business_date__lte=filters["date_to"])
    if filters["party"]:
        runs = runs.filter(party=filters["party"])
    if filters["kind"]:
        runs = runs.filter(party_kind=filters["kind"])
    if filters["status"]:
        runs = runs.filter(status=filters["status"])
    return runs.order_by("-business_date", "party", "id")


def _in_scope(departments: list[int] | None) -> Q | None:
    return None if departments is None else Q(discrepancies__department__in=departments)


def _labelled(run: ReconciliationRun) -> ReconciliationRun:
    run.is_final = run.status in FINAL
    return run


@staff_required
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _labelled(get_object_or_404(ReconciliationRun, pk=run_id))
    departments = department_scope(request)
    files = StatementFile.objects.filter(party=run.party, business_date=run.business_date)
    return render(
        request,
        "console/runs/detail.html",
        {
            "section": "runs",
            "run": run,
            "scoped": departments is not None,
            # The party's totals cover every department: a scoped reader does not get them.
            "sides": None if departments is not None else _sides(run.totals),
            "by_type": _discrepancies_by_type(run, departments),
            "queue_url": _queue_url(run=run.pk),
            "files": files.defer("content"),
            "may_rerun": can(request, RERUN),
        },
    )


def _sides(totals: dict) -> list[dict] | None:
    """Ours, theirs and matched (count and fen), or None before the run has totals."""
    if not totals or "ours" not in totals:
        return None
    return [{"label": label, **totals[side]} for side, label in SIDE_LABELS.items()]


def _discrepancies_by_type(run: ReconciliationRun, departments: list[int] | None) -> list[dict]:
    found = Discrepancy.objects.filter(run=run)
    if departments is not None:
        found = found.filter(department__in=departments)
    counted = (
        found.values("type")
        .annotate(count=Count("id"), unsettled=Count("id", filter=~Q(status__in=SETTLED)))
        .order_by("type")
    )
    return [
        {
            **row,
            "label": DiscrepancyType(row["type"]).label,
            "queue_url": _queue_url(run=run.pk, type=row["type"]),
        }
        for row in counted
    ]


def _queue_url(**query) -> str:
    return f"{reverse('console:discrepancies')}?{urlencode(query)}"


@staff_required
@require_GET
def run_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    """The status block alone, which console.js swaps in until it carries data-final."""
    run = _labelled(get_object_or_404(ReconciliationRun, pk=run_id))
    return render(request, "console/runs/_status.html", {"run": run})


# Acting ----------------------------------------------------------------------------------


@permission_required(RERUN)
@require_POST
def run_start(request: HttpRequest) -> HttpResponse:
    """Queue one party's run of a date (then show it), or every party's (then list them)."""
    try:
        day = date.fromisoformat(request.POST.get("business_date", "").strip())
    except ValueError:
        messages.error(request, _("The business date must be a date like 2026-11-25."))
        return HttpResponseRedirect(reverse("console:runs"), status=303)
    party = request.POST.get("party", "").strip()
    actor = request.principal.actor
    day_url = _runs_of_the_day_url(day)

    def start() -> ReconciliationRun | None:
        if party == ALL_PARTIES:
            run_service.runs_request_day(business_date=day, actor=actor)
            return None
        return run_service.run_request(business_date=day, party_code=party, actor=actor)

    def page_of(run: ReconciliationRun | None) -> str:
        return reverse("console:run", args=[run.pk]) if run else day_url

    return perform(request, start, done=_("Reconciliation queued."), back=day_url, then=page_of)


def _runs_of_the_day_url(day: date) -> str:
    return f"{reverse('console:runs')}?{urlencode({'date_from': day, 'date_to': day})}"


@permission_required(RERUN)
@require_POST
def run_statement_upload(request: HttpRequest, run_id: int) -> HttpResponse:
    """A party's file uploaded for the run's date; the newest file wins at the next run."""
    run = get_object_or_404(ReconciliationRun, pk=run_id)
    back = reverse("console:run", args=[run.pk])
    upload = request.FILES.get("file")
    if upload is None or not upload.size:
        messages.error(request, _("Choose a file that is not empty."))
        return HttpResponseRedirect(back, status=303)

    def store() -> None:
        statements.statement_store(
            party=parse_party(run.party),
            business_date=run.business_date,
            content=upload.read(),
            source=StatementFile.Source.UPLOADED,
            filename=upload.name[:200],
            actor=request.principal.actor,
        )

    return perform(
        request, store, done=_("File stored. Re-run the date to reconcile it."), back=back
    )


# Downloads -------------------------------------------------------------------------------


@staff_required
@require_GET
def run_report_xlsx(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=run_id)
    return downloads.run_workbook(run, departments=department_scope(request))


@staff_required
@require_GET
def run_report_csv(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(ReconciliationRun, pk=run_id)
    return downloads.run_csv(run, departments=department_scope(request))


@staff_required
@require_GET
def clearing_csv(request: HttpRequest) -> HttpResponse:
    day = params.date_param(request, "date")
    if day is None:
        raise BadRequest(_("date is required, like 2026-11-25."))
    return downloads.clearing_csv(day, departments=department_scope(request))


urlpatterns = [
    path("", run_list, name="runs"),
    path("start/", run_start, name="run_start"),
    path("clearing.csv", clearing_csv, name="clearing_csv"),
    path("<int:run_id>/", run_detail, name="run"),
    path("<int:run_id>/progress/", run_progress, name="run_progress"),
    path("<int:run_id>/statement/", run_statement_upload, name="run_statement_upload"),
    path("<int:run_id>/report.xlsx", run_report_xlsx, name="run_report_xlsx"),
    path("<int:run_id>/report.csv", run_report_csv, name="run_report_csv"),
]
