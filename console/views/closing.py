"""结报 and 缴库: a business date's settlement reports, one report's figures and its steps,
its files, and the remittance it ordered.

Reports are a department's: staff limited to some departments see and act on theirs only,
and another department's report is as unknown as a made-up one.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from closing import downloads, selectors, signing
from closing.instructions import REMITTANCE_INSTRUCTIONS
from closing.models import (
    InstructionStatus,
    Remittance,
    RemittanceInstruction,
    ReportStatus,
    SettlementReport,
)
from closing.services import reports
from console import lookup, params
from console.access import can, department_scope, permission_required, staff_required
from console.actions import perform
from core.models import AuditRecord
from core.money import BEIJING
from core.roles import APPROVE_SETTLEMENT, PREPARE_SETTLEMENT, RETRY_REMITTANCE
from outbox import engine
from reconciliation.models import ReconciliationRun, RunStatus


def _visible(request: HttpRequest):
    return selectors.visible_reports(request.user).select_related("department")


def _report(request: HttpRequest, public_id: str) -> SettlementReport:
    """The visible report of that id; another department's is as unknown as a made-up one."""
    visible = _visible(request).select_related("corrects")
    report = None if "\x00" in public_id else visible.filter(public_id=public_id).first()
    if report is None:
        raise Http404
    return report


def _day_url(day) -> str:
    return f"{reverse('console:closing')}?{urlencode({'date': day.isoformat()})}"


# Reading ---------------------------------------------------------------------------------


@staff_required
@require_GET
def report_list(request: HttpRequest) -> HttpResponse:
    yesterday = timezone.now().astimezone(BEIJING).date() - timedelta(days=1)
    day = params.date_param(request, "date", yesterday)
    found = (
        _visible(request)
        .filter(business_date=day)
        .select_related("remittance__instruction")
        .order_by("department__code", "-version")
    )
    runs = ReconciliationRun.objects.filter(business_date=day)
    return render(
        request,
        "console/closing/list.html",
        {
            "section": "closing",
            "day": day,
            "reports": list(found),
            "runs_total": runs.count(),
            "runs_unfinished": runs.exclude(
                status__in=(RunStatus.SUCCEEDED, RunStatus.FAILED)
            ).count(),
            "runs_failed": runs.filter(status=RunStatus.FAILED).count(),
            "runs_url": (
                f"{reverse('console:runs')}?{urlencode({'date_from': day, 'date_to': day})}"
            ),
            "may_prepare": can(request, PREPARE_SETTLEMENT),
        },
    )


@staff_required
@require_GET
def report_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _report(request, public_id)
    remittance = getattr(report, "remittance", None)
    instruction = (
        RemittanceInstruction.objects.filter(remittance=remittance).first() if remittance else None
    )
    actor = request.principal.actor
    second_person = actor != report.prepared_by
    return render(
        request,
        "console/closing/detail.html",
        {
            "section": "closing",
            "report": report,
            "lines": report.lines.order_by("fee_item_code"),
            "remittance": remittance,
            "instruction": instruction,
            "versions": _visible(request)
            .filter(department=report.department, business_date=report.business_date)
            .exclude(pk=report.pk)
            .order_by("-version"),
            "runs": [
                (party, status, RunStatus(status).label if status in RunStatus.values else status)
                for party, status in sorted(report.reconciliation.items())
            ],
            "may_submit": can(request, PREPARE_SETTLEMENT)
            and report.status in (ReportStatus.DRAFT, ReportStatus.RETURNED),
            "may_decide": can(request, APPROVE_SETTLEMENT)
            and report.status == ReportStatus.SUBMITTED
            and second_person,
            "own_submission": report.status == ReportStatus.SUBMITTED and not second_person,
            "may_retry": instruction is not None
            and instruction.status == InstructionStatus.FAILED
            and can(request, RETRY_REMITTANCE),
            "signed": signing.signing_configured(),
            "audit": _audit(report, remittance, instruction),
        },
    )


def _audit(
    report: SettlementReport,
    remittance: Remittance | None,
    instruction: RemittanceInstruction | None,
) -> QuerySet[AuditRecord]:
    """The steps of the report, of the remittance it ordered and of its bank instruction."""
    return lookup.audit_trail(
        SettlementReport=[report.public_id],
        Remittance=[remittance.public_id] if remittance else [],
        RemittanceInstruction=[str(instruction.pk)] if instruction else [],
    )


# Acting ----------------------------------------------------------------------------------


@permission_required(PREPARE_SETTLEMENT)
@require_POST
def reports_generate(request: HttpRequest) -> HttpResponse:
    try:
        day = date.fromisoformat(request.POST.get("business_date", "").strip())
    except ValueError:
        messages.error(request, _("The business date must be a date like 2026-11-25."))
        return HttpResponseRedirect(reverse("console:closing"), status=303)
    return perform(
        request,
        lambda: reports.settlement_reports_generate(
            business_date=day,
            actor=request.principal.actor,
            departments=department_scope(request),
        ),
        done=_("The date's settlement reports are generated."),
        back=_day_url(day),
    )


def _step(request: HttpRequest, public_id: str, action, done: str) -> HttpResponse:
    back = reverse("console:closing_report", args=[public_id])
    return perform(
        request,
        lambda: action(
            public_id=public_id, visible=_visible(request), actor=request.principal.actor
        ),
        done=done,
        back=back,
    )


@permission_required(PREPARE_SETTLEMENT)
@require_POST
def report_submit(request: HttpRequest, public_id: str) -> HttpResponse:
    return _step(
        request,
        public_id,
        reports.settlement_report_submit,
        _("Submitted: a second person approves or returns it."),
    )


@permission_required(APPROVE_SETTLEMENT)
@require_POST
def report_approve(request: HttpRequest, public_id: str) -> HttpResponse:
    return _step(
        request,
        public_id,
        reports.settlement_report_approve,
        _("Approved: the remittance is sent to the bank."),
    )


@permission_required(APPROVE_SETTLEMENT)
@require_POST
def report_return(request: HttpRequest, public_id: str) -> HttpResponse:
    reason = request.POST.get("reason", "")[:255]

    def give_back(**fields):
        return reports.settlement_report_return(**fields, reason=reason)

    return _step(request, public_id, give_back, _("Returned to be prepared again."))


@permission_required(RETRY_REMITTANCE)
@require_POST
def remittance_retry(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _report(request, public_id)
    instruction = RemittanceInstruction.objects.filter(remittance__report=report).first()
    if instruction is None:
        raise Http404
    return perform(
        request,
        lambda: engine.retry_now(
            REMITTANCE_INSTRUCTIONS.name, instruction.pk, actor=request.principal.actor
        ),
        done=_("The remittance is sent to the bank again."),
        back=reverse("console:closing_report", args=[public_id]),
    )


# Files -----------------------------------------------------------------------------------


def _signed() -> None:
    if not signing.signing_configured():
        raise Http404


@staff_required
@require_GET
def report_xlsx(request: HttpRequest, public_id: str) -> FileResponse:
    return downloads.report_xlsx(_report(request, public_id))


@staff_required
@require_GET
def report_csv(request: HttpRequest, public_id: str) -> HttpResponse:
    return downloads.report_csv(_report(request, public_id))


@staff_required
@require_GET
def report_signature(request: HttpRequest, public_id: str) -> HttpResponse:
    report = _report(request, public_id)
    _signed()
    return downloads.report_signature(report)


@staff_required
@require_GET
def signing_key(request: HttpRequest) -> HttpResponse:
    _signed()
    return downloads.signing_key()


urlpatterns = [
    path("", report_list, name="closing"),
    path("generate/", reports_generate, name="closing_generate"),
    path("signing-key.pem", signing_key, name="closing_signing_key"),
    path("<str:public_id>/", report_detail, name="closing_report"),
    path("<str:public_id>/submit/", report_submit, name="closing_submit"),
    path("<str:public_id>/approve/", report_approve, name="closing_approve"),
    path("<str:public_id>/return/", report_return, name="closing_return"),
    path("<str:public_id>/remittance/retry/", remittance_retry, name="closing_remittance_retry"),
    path("<str:public_id>/report.xlsx", report_xlsx, name="closing_report_xlsx"),
    path("<str:public_id>/report.csv", report_csv, name="closing_report_csv"),
    path("<str:public_id>/report.csv.sig", report_signature, name="closing_report_signature"),
]
