"""Statistics pages: revenue, waivers, refunds, settlement and delivery over a range of
business dates, by day, month or year, each with its charts and its xlsx workbook.

Every figure is summed within the reader's departments (or the one chosen among them);
a department, channel or courier the reader may not pick, or dates that cannot be read,
are a 400 page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from console import charts, lookup
from console.access import department_scope, staff_required
from console.names import channel_name, courier_name
from console.params import choice_param, date_param
from console.statistics import periods
from console.statistics.pages import PAGES
from console.statistics.queries import Filters
from console.statistics.report import (
    CHANNEL,
    Page,
    Table,
    cell_text,
    page_tables,
)
from console.statistics.workbook import write_workbook
from integrations.couriers.registry import COURIER_CODES
from integrations.payments.registry import CHANNEL_CODES

FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2099, 12, 31)
MAX_PERIODS = 366  # a year of days; a longer range is read by month or year
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRANULARITY_LABELS = {
    periods.DAY: pgettext_lazy("figures by", "Day"),
    periods.MONTH: pgettext_lazy("figures by", "Month"),
    periods.YEAR: pgettext_lazy("figures by", "Year"),
}


@dataclass(frozen=True)
class Asked:
    """The filters as the form shows them, and as the queries take them."""

    filters: Filters
    department: str  # the code chosen, or "" for every department the reader may see
    departments: list[tuple[str, str]]  # (code, "code name") the reader may choose from

    @property
    def choice(self) -> str:
        """The channel or courier chosen, whichever the page takes."""
        return self.filters.channel or self.filters.courier


def _page(name: str) -> Page:
    page = PAGES.get(name)
    if page is None:
        raise Http404
    return page


def _default_first(last: date, granularity: str) -> date:
    """30 days, 12 months or 5 years up to ``last``."""
    if granularity == periods.YEAR:
        return date(last.year - 4, 1, 1)
    if granularity == periods.MONTH:
        months = last.year * 12 + last.month - 1 - 11
        return date(months // 12, months % 12 + 1, 1)
    return last - timedelta(days=29)


def _asked(request: HttpRequest, page: Page) -> Asked:
    granularity = choice_param(request, "period", periods.GRANULARITIES) or periods.DAY
    last = date_param(request, "to") or timezone.localdate()
    first = date_param(request, "from") or _default_first(last, granularity)
    if not FIRST_DATE <= first <= last <= LAST_DATE:
        raise BadRequest(
            _("The dates must run forward, between %(first)s and %(last)s.")
            % {"first": FIRST_DATE.isoformat(), "last": LAST_DATE.isoformat()}
        )
    if len(periods.periods(first, last, granularity)) > MAX_PERIODS:
        raise BadRequest(
            _("At most %(count)s periods are shown: choose fewer dates, or months or years.")
            % {"count": MAX_PERIODS}
        )
    scope = department_scope(request)
    visible = {d.code: d for d in lookup.visible_departments(scope)}
    department = choice_param(request, "department", list(visible))
    takes_channel = page.takes == CHANNEL
    return Asked(
        filters=Filters(
            granularity=granularity,
            first=first,
            last=last,
            departments=[visible[department].pk] if department else scope,
            channel=choice_param(request, "channel", CHANNEL_CODES) if takes_channel else "",
            courier="" if takes_channel else choice_param(request, "courier", COURIER_CODES),
        ),
        department=department,
        departments=[(code, f"{code} {d.name}") for code, d in visible.items()],
    )


def _chart(table: Table):
    measure, column = table.charted, table.chart
    bars = [
        charts.Bar(row.short, row.values[column] or 0, cell_text(row.values[column], measure.kind))
        for row in table.rows
    ]
    title = f"{table.title}: {measure.header}"
    testid = f"chart-{table.key}"
    if table.over_time:
        return charts.column_chart(
            bars, testid=testid, title=title, x_label=table.header, y_label=str(measure.header)
        )
    return charts.bar_chart(bars, testid=testid, title=title, value_label=str(measure.header))


def _shown(table: Table) -> dict:
    kinds = [measure.kind for measure in table.measures]
    return {
        "table": table,
        "chart": _chart(table),
        "rows": [
            (row, [cell_text(value, kind) for value, kind in zip(row.values, kinds, strict=True)])
            for row in table.rows
        ],
        "total": [cell_text(value, kind) for value, kind in zip(table.total, kinds, strict=True)],
    }


def _choices(page: Page) -> list[tuple[str, str]]:
    if page.takes == CHANNEL:
        return [(code, channel_name(code)) for code in CHANNEL_CODES]
    return [(code, courier_name(code)) for code in COURIER_CODES]


@staff_required
def index(request: HttpRequest) -> HttpResponse:
    return redirect("console:statistics_page", page="revenue")


@staff_required
def statistics(request: HttpRequest, page: str) -> HttpResponse:
    shown = _page(page)
    asked = _asked(request, shown)
    return render(
        request,
        "console/statistics/page.html",
        {
            "section": "statistics",
            "page": shown,
            "pages": PAGES.values(),
            "asked": asked,
            "granularities": list(GRANULARITY_LABELS.items()),
            "choices": _choices(shown),
            "scoped": department_scope(request) is not None,
            "tables": [_shown(table) for table in page_tables(shown, asked.filters)],
            "query": request.GET.urlencode(),
        },
    )


@staff_required
def workbook(request: HttpRequest, page: str) -> HttpResponse:
    shown = _page(page)
    asked = _asked(request, shown)
    out = io.BytesIO()
    write_workbook(
        page_tables(shown, asked.filters),
        _about(request, shown, asked),
        about_title=_("About these figures"),
        out=out,
    )
    filters = asked.filters
    response = HttpResponse(out.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = (
        f'attachment; filename="statistics-{shown.name}-{filters.first}-{filters.last}.xlsx"'
    )
    return response


def _about(request: HttpRequest, page: Page, asked: Asked) -> list[tuple[str, str]]:
    filters = asked.filters
    departments = dict(asked.departments)
    choices = dict(_choices(page))
    lines = [
        (_("Statistics"), str(page.title)),
        (_("Business dates"), f"{filters.first.isoformat()} – {filters.last.isoformat()}"),
        (_("Figures by"), str(GRANULARITY_LABELS[filters.granularity])),
        (_("Department"), departments.get(asked.department, _("Any"))),
        (
            _("Payment channel") if page.takes == CHANNEL else _("Courier"),
            choices.get(asked.choice, _("Any")),
        ),
        (_("Made at"), timezone.localtime().strftime("%Y-%m-%d %H:%M")),
    ]
    if department_scope(request) is not None:
        lines.append((_("Scope"), _("Your departments only.")))
    return lines + [(_("Note"), str(note)) for note in page.notes]


urlpatterns = [
    path("", index, name="statistics"),
    path("<slug:page>/", statistics, name="statistics_page"),
    path("<slug:page>.xlsx", workbook, name="statistics_xlsx"),
]
