"""The discrepancy queue, one discrepancy beside our record and the party's, and the
four-eyes steps that resolve it (assign, comment, propose; a second person approves).

Each step is a POST through reconciliation.services.resolution with the viewer's own
visibility, so the service's row lock, checks and audit apply as they do for the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing.models import Department
from console import terms
from console.access import (
    APPROVE,
    RESOLVE,
    can,
    department_scope,
    permission_required,
    staff_required,
)
from console.actions import perform
from console.discrepancy_context import related_records
from console.lookup import visible_departments
from console.params import choice_param, date_param, int_param
from core.auth import FINANCE_GROUP
from ledger.models import LedgerAccount
from reconciliation.models import Discrepancy, DiscrepancyStatus, DiscrepancyType
from reconciliation.selectors import visible_discrepancies
from reconciliation.services import resolution

PAGE_SIZE = 50
# What still needs a person: the queue's default.
NEEDS_ACTION = (*resolution.ACTIONABLE, DiscrepancyStatus.PROPOSED)
ALL_STATUSES = "all"
ASSIGNEES = ("anyone", "me", "unassigned")
ACTION_LABELS = terms.RESOLUTION_ACTIONS
ACTION_CHOICES = [(action, ACTION_LABELS.get(action, action)) for action in resolution.ACTIONS]
YUAN = re.compile(r"[0-9]{1,11}(\.[0-9]{1,2})?")


# The queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    type: str
    party: str
    department: str
    status: str
    older_than: int | None
    business_date: date | None
    run: int | None
    assignee: str


def _filters(
    request: HttpRequest, parties: list[str], departments: list[Department]
) -> QueueFilters:
    return QueueFilters(
        type=choice_param(request, "type", DiscrepancyType.values),
        party=choice_param(request, "party", parties),
        department=choice_param(request, "department", [d.code for d in departments]),
        status=choice_param(request, "status", [*DiscrepancyStatus.values, ALL_STATUSES]),
        older_than=int_param(request, "older_than", high=3650),
        business_date=date_param(request, "business_date"),
        run=int_param(request, "run", low=1),
        assignee=choice_param(request, "assignee", ASSIGNEES) or "anyone",
    )


def _filtered(items: QuerySet, wanted: QueueFilters, request: HttpRequest) -> QuerySet:
    if wanted.status != ALL_STATUSES:
        items = items.filter(status__in=[wanted.status] if wanted.status else NEEDS_ACTION)
    exact = {
        "type": wanted.type,
        "party": wanted.party,
        "department__code": wanted.department,
        "business_date": wanted.business_date,
        "run_id": wanted.run,
    }
    items = items.filter(**{name: value for name, value in exact.items() if value})
    if wanted.older_than is not None:
        cutoff = timezone.localdate() - timedelta(days=wanted.older_than)
        items = items.filter(business_date__lt=cutoff)
    if wanted.assignee == "me":
        items = items.filter(assignee=request.user)
    elif wanted.assignee == "unassigned":
        items = items.filter(assignee__isnull=True)
    return items


def _visible_departments(request: HttpRequest) -> list[Department]:
    return list(visible_departments(department_scope(request)))


@staff_required
def queue(request: HttpRequest) -> HttpResponse:
    visible = visible_discrepancies(request.principal)
    parties = sorted(set(visible.order_by().values_list("party", flat=True).distinct()))
    departments = _visible_departments(request)
    wanted = _filters(request, parties, departments)
    items = _filtered(visible, wanted, request)
    page = Paginator(items, PAGE_SIZE).get_page(int_param(request, "page", 1, low=1))
    today = timezone.localdate()
    for item in page:
        item.age_days = (today - item.business_date).days
    return render(
        request,
        "console/discrepancies/queue.html",
        {
            "section": "discrepancies",
            "page": page,
            "wanted": wanted,
            "types": DiscrepancyType.choices,
            "statuses": DiscrepancyStatus.choices,
            "parties": parties,
            "departments": departments,
        },
    )


# One discrepancy --------------------------------------------------------------------------


def _visible_item(request: HttpRequest, discrepancy_id: int) -> Discrepancy:
    item = (
        visible_discrepancies(request.principal)
        .select_related("run__statement")
        .defer("run__statement__content")  # a day's file can be a hundred megabytes
        .filter(pk=discrepancy_id)
        .first()
    )
    if item is None:
        raise Http404("No such discrepancy.")
    return item


def _assignable(item: Discrepancy) -> list[str]:
    """Active finance staff who can see the item (unscoped, or scoped to its department)."""
    sees_it = Q(department_scope__isnull=True)
    if item.department_id is not None:
        sees_it |= Q(department_scope__departments=item.department_id)
    staff = get_user_model().objects.filter(sees_it, is_active=True, groups__name=FINANCE_GROUP)
    return sorted(set(staff.values_list("username", flat=True)))


@staff_required
def detail(request: HttpRequest, discrepancy_id: int) -> HttpResponse:
    item = _visible_item(request, discrepancy_id)
    may_resolve = can(request, RESOLVE)
    actionable = item.status in resolution.ACTIONABLE
    decidable = (
        item.status == DiscrepancyStatus.PROPOSED
        and item.proposed_by != request.principal.actor
        and can(request, APPROVE)
    )
    return render(
        request,
        "console/discrepancies/detail.html",
        {
            "section": "discrepancies",
            "item": item,
            "related": related_records(item, request.principal),
            "comments": item.comments.all(),
            "proposal_label": ACTION_LABELS.get(item.proposal.get("action", "")),
            # A person's resolution is the proposal approved; the service writes it as codes.
            "approved_action": _approved_action(item),
            "offer_assign": may_resolve and actionable,
            "offer_comment": may_resolve,
            "offer_propose": may_resolve and actionable,
            "offer_decision": decidable,
            "assignable": _assignable(item) if may_resolve and actionable else [],
            "actions": ACTION_CHOICES,
            "accounts": LedgerAccount.objects.values_list("code", flat=True),
        },
    )


def _approved_action(item: Discrepancy) -> str | None:
    if item.status != DiscrepancyStatus.RESOLVED or not item.proposal:
        return None
    return ACTION_LABELS.get(item.proposal.get("action", ""))


# The steps --------------------------------------------------------------------------------


def fen_from_yuan(text: str) -> int:
    """'12.34' → 1234, exactly; anything but yuan with at most two decimals is refused."""
    text = text.strip()
    if not YUAN.fullmatch(text):
        raise forms.ValidationError(_("Give the amount in yuan, like 12.34."))
    return int(Decimal(text) * 100)


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=gettext_lazy("Assignee"))

    def __init__(self, data, *, staff: list[str]):
        super().__init__(data)
        self.fields["assignee"].choices = [(name, name) for name in staff]


class CommentForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Comment"), max_length=4000)


class ProposalForm(forms.Form):
    action = forms.ChoiceField(label=gettext_lazy("Action"), choices=ACTION_CHOICES)
    note = forms.CharField(label=gettext_lazy("Note"), max_length=1000)
    amount = forms.CharField(label=gettext_lazy("Amount (yuan)"), max_length=20, required=False)
    debit_account = forms.CharField(
        label=gettext_lazy("Debit account"), max_length=80, required=False
    )
    credit_account = forms.CharField(
        label=gettext_lazy("Credit account"), max_length=80, required=False
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("action") not in resolution.NEEDS_POSTING:
            data.update(amount=0, debit_account="", credit_account="")
            return data
        try:
            data["amount"] = fen_from_yuan(data.get("amount", ""))
        except forms.ValidationError as error:
            self.add_error("amount", error)
            return data
        if data["amount"] <= 0:
            self.add_error("amount", _("An adjustment needs an amount above zero."))
        return data

    def proposal(self) -> resolution.Proposal:
        return resolution.Proposal(**self.cleaned_data)


class RejectForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason"), max_length=255)


def _refused(request: HttpRequest, errors: list[str], back: str) -> HttpResponseRedirect:
    """Bad input changes nothing; the page says what was wrong."""
    messages.error(request, " ".join(errors))
    return HttpResponseRedirect(back, status=303)


def _form_errors(form: forms.Form) -> list[str]:
    return [
        f"{form.fields[name].label}: {message}" if name in form.fields else message
        for name, messages_ in form.errors.items()
        for message in messages_
    ]


def resolution_step(permission: str):
    """A POST for one step on a visible item; the step gets the item and where to go back."""

    def decorate(step):
        @require_POST
        @permission_required(permission)
        @wraps(step)
        def view(request: HttpRequest, discrepancy_id: int) -> HttpResponse:
            item = _visible_item(request, discrepancy_id)
            back = reverse("console:discrepancy", args=[item.pk])
            return step(request, item, back)

        return view

    return decorate


def _visible(request: HttpRequest) -> QuerySet:
    return visible_discrepancies(request.principal)


@resolution_step(RESOLVE)
def assign(request: HttpRequest, item: Discrepancy, back: str) -> HttpResponse:
    form = AssignForm(request.POST, staff=_assignable(item))
    if not form.is_valid():
        return _refused(request, _form_errors(form), back)
    assignee = form.cleaned_data["assignee"]
    return perform(
        request,
        lambda: resolution.discrepancy_assign(
            discrepancy_id=item.pk,
            visible=_visible(request),
            assignee=assignee,
            actor=request.principal.actor,
        ),
        done=_("Assigned to %(assignee)s.") % {"assignee": assignee},
        back=back,
    )


@resolution_step(RESOLVE)
def comment(request: HttpRequest, item: Discrepancy, back: str) -> HttpResponse:
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _refused(request, _form_errors(form), back)
    return perform(
        request,
        lambda: resolution.discrepancy_comment(
            discrepancy_id=item.pk,
            visible=_visible(request),
            text=form.cleaned_data["text"],
            actor=request.principal.actor,
        ),
        done=_("Comment added."),
        back=back,
    )


@resolution_step(RESOLVE)
def propose(request: HttpRequest, item: Discrepancy, back: str) -> HttpResponse:
    form = ProposalForm(request.POST)
    if not form.is_valid():
        return _refused(request, _form_errors(form), back)
    proposal = form.proposal()
    return perform(
        request,
        lambda: resolution.discrepancy_propose(
            discrepancy_id=item.pk,
            visible=_visible(request),
            proposal=proposal,
            actor=request.principal.actor,
        ),
        done=_("Proposed; a second person approves or rejects it."),
        back=back,
    )


@resolution_step(APPROVE)
def approve(request: HttpRequest, item: Discrepancy, back: str) -> HttpResponse:
    return perform(
        request,
        lambda: resolution.discrepancy_approve(
            discrepancy_id=item.pk, visible=_visible(request), actor=request.principal.actor
        ),
        done=_("Approved: the discrepancy is resolved."),
        back=back,
    )


@resolution_step(APPROVE)
def reject(request: HttpRequest, item: Discrepancy, back: str) -> HttpResponse:
    form = RejectForm(request.POST)
    if not form.is_valid():
        return _refused(request, _form_errors(form), back)
    return perform(
        request,
        lambda: resolution.discrepancy_reject(
            discrepancy_id=item.pk,
            visible=_visible(request),
            actor=request.principal.actor,
            reason=form.cleaned_data["reason"],
        ),
        done=_("Rejected: the proposal goes back to be worked on."),
        back=back,
    )


urlpatterns = [
    path("", queue, name="discrepancies"),
    path("<int:discrepancy_id>/", detail, name="discrepancy"),
    path("<int:discrepancy_id>/assign/", assign, name="discrepancy-assign"),
    path("<int:discrepancy_id>/comment/", comment, name="discrepancy-comment"),
    path("<int:discrepancy_id>/propose/", propose, name="discrepancy-propose"),
    path("<int:discrepancy_id>/approve/", approve, name="discrepancy-approve"),
    path("<int:discrepancy_id>/reject/", reject, name="discrepancy-reject"),
]
