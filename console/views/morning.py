"""The morning view: one business date's reconciliation at a glance, what staff see first."""

from __future__ import annotations

from datetime import date, timedelta

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _

from console import charts, dashboard
from console.access import department_scope, staff_required
from console.names import channel_name
from console.params import date_param
from console.templatetags.console import yuan

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)
ONE_DAY = timedelta(days=1)


@staff_required
def morning(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    day = date_param(request, "date") or dashboard.default_business_date(today)
    if not FIRST_DATE <= day <= LAST_DATE:
        raise BadRequest(
            _("date must be between %(first)s and %(last)s.")
            % {"first": FIRST_DATE.isoformat(), "last": LAST_DATE.isoformat()}
        )
    departments = department_scope(request)
    trend = dashboard.trend_dates(day)
    context = {
        "section": "morning",
        "day": day,
        "previous_day": day - ONE_DAY,
        "next_day": day + ONE_DAY if day < today else None,
        "scoped": departments is not None,
        "parties": dashboard.party_lines(day, departments),
        "by_type": dashboard.discrepancies_by_type(day, departments),
        "clearing": dashboard.clearing_summary(day, departments),
        "receipts": dashboard.receipt_figures(day, departments),
        "trend_first": trend[0],
        "amounts_chart": _amounts_chart(dashboard.daily_payments(day, departments)),
        "rate_chart": _rate_chart(dashboard.discrepancy_rates(day, departments)),
    }
    return render(request, "console/morning.html", context)


def _amounts_chart(days: list[tuple[date, int]]):
    return charts.column_chart(
        [charts.Bar(each.isoformat(), amount, yuan(amount)) for each, amount in days],
        testid="chart-amounts",
        title=_("Matched payments per business date, in yuan"),
        x_label=_("Business date"),
        y_label=_("Yuan"),
    )


def _rate_chart(rates: list[dashboard.Rate]):
    return charts.bar_chart(
        [
            charts.Bar(channel_name(rate.processor), rate.value or 0, _rate_text(rate))
            for rate in rates
        ],
        testid="chart-discrepancy-rate",
        title=_("Discrepancies per line of the processor's bills"),
        value_label=_("Discrepancy rate"),
    )


def _rate_text(rate: dashboard.Rate) -> str:
    if rate.value is None:
        return _("%(count)s found, no lines on their side") % {"count": rate.discrepancies}
    return f"{rate.value:.2%} ({rate.discrepancies} / {rate.lines})"


urlpatterns = [
    path("", morning, name="morning"),
]
