"""SMS notices to applicants: each message, its number masked, and how its sending went."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from console.access import department_scope, staff_required
from console.params import choice_param, date_param, int_param
from notices.models import NoticeKind, SmsOptOut, SmsStatus
from notices.selectors import SmsFilters, find_sms_messages

PAGE_SIZE = 50


@staff_required
def sms_messages(request: HttpRequest) -> HttpResponse:
    filters = SmsFilters(
        status=choice_param(request, "status", SmsStatus.values),
        kind=choice_param(request, "kind", NoticeKind.values),
        created_from=date_param(request, "created_from"),
        created_to=date_param(request, "created_to"),
    )
    found = find_sms_messages(department_scope(request), filters)
    return render(
        request,
        "console/sms/list.html",
        {
            "section": "sms",
            "page": Paginator(found, PAGE_SIZE).get_page(int_param(request, "page", 1, low=1)),
            "filters": filters,
            "statuses": SmsStatus.choices,
            "kinds": NoticeKind.choices,
            # The list is of numbers, not of departments: its whole size, and no number.
            "opted_out": SmsOptOut.objects.count(),
        },
    )


urlpatterns = [path("", sms_messages, name="sms")]
