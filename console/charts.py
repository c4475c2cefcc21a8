"""Small bar charts as inline SVG, drawn on the server: no script, readable by screen readers.

Each chart is an ``<svg role="img">`` named by its ``<title>``; every bar carries its own
``<title>`` with its label and value, so the figures behind a bar can be read (and hovered)
without guessing from its length. Bars scale to the largest value; a chart with nothing
above zero draws no bars and says so, rather than dividing by zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH = 720
COLUMN_PLOT = (110, 20, 600, 170)  # left, top, width, height of the columns' area
MAX_COLUMN_LABELS = 6  # x-axis labels shown at most; the rest are in the bars' titles
ROW_HEIGHT = 28
ROW_LABEL_WIDTH = 140
ROW_PLOT_WIDTH = 400


@dataclass(frozen=True)
class Bar:
    label: str  # the category: a date, a processor
    value: float  # drawn to scale; values below zero are drawn as zero
    text: str  # the value as people read it: "1,234.56", "2.50% (5 / 200)"


def column_chart(
    bars: Sequence[Bar], *, testid: str, title: str, x_label: str, y_label: str
) -> SafeString:
    """Vertical bars left to right, as for a series of days."""
    largest = _largest(bars)
    if largest is None:
        return _empty(testid, title)
    left, top, width, height = COLUMN_PLOT
    bottom = top + height
    slot = width / len(bars)
    every = math.ceil(len(bars) / MAX_COLUMN_LABELS)
    columns, labels = [], []
    for index, bar in enumerate(bars):
        bar_height = height * max(bar.value, 0) / largest.value
        x = left + index * slot + slot * 0.15
        columns.append(_bar(bar, x, bottom - bar_height, slot * 0.7, bar_height))
        if index % every == 0:
            labels.append(_text(x + slot * 0.35, bottom + 16, bar.label, anchor="middle"))
    body = format_html(
        "{}{}{}{}{}{}{}",
        _axes(left, top, bottom, left + width),
        _text(left - 6, top + 4, largest.text, anchor="end"),
        _text(left - 6, bottom, "0", anchor="end"),
        SafeString("".join(columns)),
        SafeString("".join(labels)),
        _text(left + width / 2, bottom + 40, x_label, anchor="middle", css="axis-label"),
        format_html(
            '<text class="axis-label" transform="translate(14 {}) rotate(-90)" '
            'text-anchor="middle">{}</text>',
            _number(top + height / 2),
            y_label,
        ),
    )
    return _svg(testid, title, bottom + 52, body)


def bar_chart(bars: Sequence[Bar], *, testid: str, title: str, value_label: str) -> SafeString:
    """Horizontal bars top to bottom, one per category, its value written beside it."""
    largest = _largest(bars)
    if largest is None:
        return _empty(testid, title)
    top, left = 10, ROW_LABEL_WIDTH
    rows = []
    for index, bar in enumerate(bars):
        y = top + index * ROW_HEIGHT
        bar_width = ROW_PLOT_WIDTH * max(bar.value, 0) / largest.value
        rows.append(
            format_html(
                "{}{}{}",
                _text(left - 8, y + ROW_HEIGHT * 0.6, bar.label, anchor="end"),
                _bar(bar, left, y + 4, bar_width, ROW_HEIGHT - 8),
                _text(left + bar_width + 6, y + ROW_HEIGHT * 0.6, bar.text),
            )
        )
    bottom = top + len(bars) * ROW_HEIGHT
    body = format_html(
        '{}<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor"/>{}',
        SafeString("".join(rows)),
        left,
        top,
        left,
        bottom,
        _text(
            left + ROW_PLOT_WIDTH / 2, bottom + 24, value_label, anchor="middle", css="axis-label"
        ),
    )
    return _svg(testid, title, bottom + 34, body)


def _largest(bars: Sequence[Bar]) -> Bar | None:
    """The bar the others are scaled to, or None when no bar is above zero."""
    largest = max(bars, key=lambda bar: bar.value, default=None)
    return largest if largest is not None and largest.value > 0 else None


def _svg(testid: str, title: str, height: float, body: SafeString) -> SafeString:
    return format_html(
        '<svg class="chart" data-testid="{}" role="img" aria-labelledby="{}-title" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{}-title">{}</title>{}</svg>',
        testid,
        testid,
        WIDTH,
        _number(height),
        testid,
        title,
        body,
    )


def _empty(testid: str, title: str) -> SafeString:
    note = _text(WIDTH / 2, 40, _("No data for this period."), anchor="middle", css="note")
    return _svg(testid, title, 64, note)


def _bar(bar: Bar, x: float, y: float, width: float, height: float) -> SafeString:
    return format_html(
        '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="#1d4ed8">'
        "<title>{}: {}</title></rect>",
        _number(x),
        _number(y),
        _number(width),
        _number(height),
        bar.label,
        bar.text,
    )


def _axes(left: float, top: float, bottom: float, right: float) -> SafeString:
    lines = ((left, top, left, bottom), (left, bottom, right, bottom))
    return format_html_join(
        "",
        '<line class="axis" x1="{}" y1="{}" x2="{}" y2="{}" stroke="currentColor"/>',
        ((_number(a), _number(b), _number(c), _number(d)) for a, b, c, d in lines),
    )


def _text(x: float, y: float, text: str, *, anchor: str = "start", css: str = "") -> SafeString:
    return format_html(
        '<text x="{}" y="{}" text-anchor="{}"{}>{}</text>',
        _number(x),
        _number(y),
        anchor,
        format_html(' class="{}"', css) if css else "",
        text,
    )


def _number(value: float) -> str:
    """A coordinate with one decimal at most, so the markup stays short and stable."""
    return f"{value:.1f}".removesuffix(".0")
