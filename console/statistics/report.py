"""What each statistics page shows: its tables, each a breakdown of one dataset, with the
words a person reads in the active language. The page and its workbook draw the same
tables, so the figures on the screen and in Excel are the same figures.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.utils.functional import Promise

from billing.models import Refund, WaiverKind
from console.names import channel_name, courier_name
from console.statistics import queries
from console.statistics.periods import period_label, periods
from console.statistics.queries import PERIOD, Dataset, Filters, Group
from console.templatetags.console import yuan

COUNT, FEN, SHARE = "count", "fen", "share"
# What a chart's axis label holds, counted in Latin letters; a Chinese character takes two.
CHART_LABEL_PLACES = 21
CHANNEL, COURIER = "channel", "courier"  # the filter a page takes beside the department


@dataclass(frozen=True)
class Measure:
    header: Promise
    kind: str  # COUNT, FEN or SHARE
    value: Callable[[dict[str, int]], int | float | None]


def summed(name: str, header: Promise, kind: str = COUNT) -> Measure:
    return Measure(header, kind, lambda values: values[name])


def share(part: str, whole: str, header: Promise) -> Measure:
    """``part`` of ``whole``, as a fraction; None when there is no whole to take it of."""
    return Measure(
        header, SHARE, lambda values: values[part] / values[whole] if values[whole] else None
    )


@dataclass(frozen=True)
class Breakdown:
    key: str  # the table's test id, anchor and sheet order
    title: Promise
    dataset: Dataset
    by: str  # PERIOD or one of the dataset's dimensions
    header: Promise  # of the column naming each group
    measures: tuple[Measure, ...]
    chart: int  # the measure the chart draws


@dataclass(frozen=True)
class Page:
    name: str  # the URL's and the workbook's name
    title: Promise
    takes: str  # CHANNEL or COURIER
    breakdowns: tuple[Breakdown, ...]
    notes: tuple[Promise, ...]


@dataclass(frozen=True)
class Row:
    label: str  # the group, as a person reads it
    short: str  # the same, short enough for a chart's axis
    values: tuple  # one per measure: int (a count, fen) or float | None (a share)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    header: str
    measures: tuple[Measure, ...]
    rows: list[Row]
    total: tuple
    chart: int
    over_time: bool  # a series of periods, drawn as a line or columns; else one bar per group

    @property
    def headers(self) -> list[str]:
        return [self.header, *(str(measure.header) for measure in self.measures)]

    @property
    def charted(self) -> Measure:
        return self.measures[self.chart]


def page_tables(page: Page, filters: Filters) -> list[Table]:
    totals: dict[int, dict[str, int]] = {}  # summed once per dataset, however many tables
    tables = []
    for breakdown in page.breakdowns:
        dataset = breakdown.dataset
        if id(dataset) not in totals:
            totals[id(dataset)] = queries.total(dataset, filters)
        found = queries.groups(dataset, filters, breakdown.by)
        if breakdown.by == PERIOD:
            found = _every_period(found, filters, dataset)
        tables.append(
            Table(
                key=breakdown.key,
                title=str(breakdown.title),
                header=str(breakdown.header),
                measures=breakdown.measures,
                rows=[_row(breakdown, group, filters) for group in found],
                total=_values(breakdown.measures, totals[id(dataset)]),
                chart=breakdown.chart,
                over_time=breakdown.by == PERIOD,
            )
        )
    return tables


def cell_text(value, kind: str) -> str:
    """A figure as people read it: 1,234 · 1,234.56 (yuan from fen) · 12.50%."""
    if value is None:
        return "—"
    if kind == FEN:
        return yuan(value)
    if kind == SHARE:
        return f"{value:.2%}"
    return f"{value:,}"


def _values(measures: tuple[Measure, ...], values: dict[str, int]) -> tuple:
    return tuple(measure.value(values) for measure in measures)


def _every_period(found: list[Group], filters: Filters, dataset: Dataset) -> list[Group]:
    """A group for every period of the dates, those without rows at zero."""
    by_start = {group.key[0]: group for group in found}
    zero = dict.fromkeys(dataset.measures(), 0)
    return [
        by_start.get(start, Group((start,), zero))
        for start in periods(filters.first, filters.last, filters.granularity)
    ]


def _row(breakdown: Breakdown, group: Group, filters: Filters) -> Row:
    label, short = LABELS[breakdown.by](group.key, filters)
    return Row(label=label, short=_clipped(short), values=_values(breakdown.measures, group.values))


def _clipped(text: str) -> str:
    """The text as far as a chart's axis label holds it, cut with an ellipsis."""
    places = 0
    for index, char in enumerate(text):
        places += 2 if unicodedata.east_asian_width(char) in "WF" else 1
        if places > CHART_LABEL_PLACES - 1 and index < len(text) - 1:
            return text[:index] + "…"
    return text


def _code_and_name(key: tuple, filters: Filters) -> tuple[str, str]:
    code, name = key
    return f"{code} {name}", code


def _named(name: Callable[[str], str], key: tuple, filters: Filters) -> tuple[str, str]:
    label = name(key[0])
    return label, label


def _as_is(key: tuple, filters: Filters) -> tuple[str, str]:
    return str(key[0]), str(key[0])


def _period(key: tuple, filters: Filters) -> tuple[str, str]:
    label = period_label(key[0], filters.granularity)
    return label, label


def _choice(choices, key: tuple, filters: Filters) -> tuple[str, str]:
    label = str(choices(key[0]).label)
    return label, label


LABELS = {
    PERIOD: _period,
    "department": _code_and_name,
    "fee_item": _code_and_name,
    "region": _as_is,
    "reason": _as_is,
    "channel": partial(_named, channel_name),
    "processor": partial(_named, channel_name),
    "courier": partial(_named, courier_name),
    "kind": partial(_choice, Refund.Kind),
    "waiver_kind": partial(_choice, WaiverKind),
}
