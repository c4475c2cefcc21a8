"""Every console page at a laptop's width and an upright tablet's, in Chinese and in English.

On each: nothing sticks out sideways (a wide table scrolls inside its frame), no table
squeezes a cell to a few characters a line, and no code in snake_case is shown; a Chinese
page shows no English word of its own either. What people and outside parties wrote
(names, references, notes, errors) is marked ``translate="no"`` and is shown as written.

The pages are the console's URL patterns. One without parameters is visited when it
answers a GET with HTML (a download, a POST-only address and one that needs a query are
told apart by their answer), and also with the queries that show the demo day's records
(QUERIES); one with parameters is visited with records of the demo day (SAMPLES) unless it
is not a page (NOT_PAGES). A new pattern of neither kind fails here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.urls import URLResolver, get_resolver, reverse
from django.utils.http import urlencode
from playwright.sync_api import expect

from billing.models import PaymentOrder, Receipt, ReceiptKind
from closing.models import SettlementReport
from console.statistics.pages import PAGES as STATISTICS_PAGES
from logistics.models import Shipment, ShipmentStatus
from reconciliation.models import Discrepancy, PartyKind, ReconciliationRun
from tests.browser.console_ui import LAPTOP, TABLET, ConsoleUI
from tests.console.test_i18n import foreign_words, text_of

WIDTHS = {"laptop": LAPTOP, "tablet": TABLET}
LANGUAGES = ("zh-hans", "en")
NARROWEST_WRAPPING_CELL_EM = 4  # a cell whose text wraps holds at least four characters a line
# Tables a laptop shows whole, with no sideways scrolling.
WHOLE_ON_A_LAPTOP = ("discrepancy-queue",)


def _one_per_party_kind(model, party_kind: str) -> Callable[..., list[list]]:
    """The first row of each kind of party (a processor, a bank, ...) that has one."""

    def samples(day) -> list[list]:
        rows = model.objects.order_by("pk")
        firsts = (rows.filter(**{party_kind: kind}).first() for kind in PartyKind.values)
        return [[row.pk] for row in firsts if row is not None]

    return samples


def _richest_order(day) -> list[list]:
    """An order refunded after it was paid: payments, refunds, red-letter receipts, postings."""
    reddened = Receipt.objects.filter(kind=ReceiptKind.RED).values("order")
    return [[PaymentOrder.objects.filter(pk__in=reddened).order_by("pk").first().public_id]]


def _settlement_reports(day) -> list[list]:
    """The demo day's settlement report of each status it has."""
    firsts = list(SettlementReport.objects.order_by("status", "pk").distinct("status"))
    assert firsts, "the demo day closed with no settlement report"
    return [[report.public_id] for report in firsts]


def _delivered_shipment(day) -> list[list]:
    delivered = Shipment.objects.filter(status=ShipmentStatus.DELIVERED).order_by("pk").first()
    return [[delivered.public_id]]


# A pattern with parameters -> the arguments of the pages to visit.
SAMPLES: dict[str, Callable[..., list[list]]] = {
    "run": _one_per_party_kind(ReconciliationRun, "party_kind"),
    "discrepancy": _one_per_party_kind(Discrepancy, "run__party_kind"),
    "order": _richest_order,
    "shipment": _delivered_shipment,
    "statistics_page": lambda day: [[name] for name in STATISTICS_PAGES],
    "closing_report": _settlement_reports,
}
# A pattern without parameters -> the queries of it that show the demo day's records too.
QUERIES: dict[str, Callable[..., list[dict]]] = {
    "closing": lambda day: [{"date": day.business_date.isoformat()}],
}
NOT_PAGES = {
    "run_progress": "the run page's status block, which the run page includes",
    "run_statement_upload": "a POST",
    "run_report_xlsx": "a download",
    "run_report_csv": "a download",
    "receipt_pdf": "a download",
    "discrepancy-assign": "a POST",
    "discrepancy-comment": "a POST",
    "discrepancy-propose": "a POST",
    "discrepancy-approve": "a POST",
    "discrepancy-reject": "a POST",
    "retry_refund": "a POST",
    "retry_revenue": "a POST",
    "retry_webhooks": "a POST",
    "retry_receipts": "a POST",
    "statistics_xlsx": "a download",
    "closing_submit": "a POST",
    "closing_approve": "a POST",
    "closing_return": "a POST",
    "closing_remittance_retry": "a POST",
    "closing_report_xlsx": "a download",
    "closing_report_csv": "a download",
    "closing_report_signature": "a download",
}
EVERY_SECTION = {
    "morning", "runs", "run", "discrepancies", "discrepancy", "orders", "order", "refunds",
    "receipts", "shipments", "shipment", "sms", "processors", "backlogs", "closing",
    "closing_report",
}  # fmt: skip

# Cells whose text wraps though narrower than a few characters, and tables that scroll.
MEASURE = """([narrowestEm, whole]) => {
  const squeezed = [];
  for (const cell of document.querySelectorAll("td, th")) {
    const style = getComputedStyle(cell);
    const width = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (width >= narrowestEm * parseFloat(style.fontSize)) continue;
    const texts = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let text = texts.nextNode(); text; text = texts.nextNode()) {
      const range = document.createRange();
      range.selectNodeContents(text);
      const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
      if (lines.size > 1) {
        const table = cell.closest("table");
        squeezed.push(`${table && table.dataset.testid}: "${cell.innerText.trim().slice(0, 30)}"`);
        break;
      }
    }
  }
  const scrolling = whole.filter((testid) => {
    const table = document.querySelector(`[data-testid="${testid}"]`);
    const frame = table && table.closest(".table-wrap");
    return frame && frame.scrollWidth > frame.clientWidth;
  });
  return {
    pageWidth: document.documentElement.scrollWidth,
    viewport: window.innerWidth,
    squeezed,
    scrolling,
  };
}"""


def console_patterns(resolver: URLResolver | None = None) -> Iterator[tuple[str, list[str]]]:
    """(name, parameter names) of each of the console's URL patterns."""
    if resolver is None:
        resolver = get_resolver().namespace_dict["console"][1]
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from console_patterns(entry)
        elif entry.name:
            yield entry.name, list(entry.pattern.converters)


def pages_of(ui: ConsoleUI, day) -> dict[str, list[str]]:
    """Each page's pattern name and the paths of it to visit."""
    pages: dict[str, list[str]] = {}
    for name, parameters in console_patterns():
        if name in NOT_PAGES:
            continue
        if parameters:
            assert name in SAMPLES, f"console:{name} has no sample record to visit"
            pages[name] = [reverse(f"console:{name}", args=args) for args in SAMPLES[name](day)]
            continue
        path = reverse(f"console:{name}")
        answer = ui.page.request.get(path, max_redirects=0)
        assert answer.status < 500, f"{path} answered {answer.status}"
        if answer.status == 200 and answer.headers["content-type"].startswith("text/html"):
            queries = QUERIES[name](day) if name in QUERIES else []
            pages[name] = [path, *(f"{path}?{urlencode(query)}" for query in queries)]
    return pages


def problems_on(ui: ConsoleUI, path: str, language: str) -> list[str]:
    answer = ui.page.goto(path)
    assert answer.status in (200, 404), f"{path} answered {answer.status}"
    expect(ui.page.locator("html")).to_have_attribute("lang", language)
    found = []
    for width, viewport in WIDTHS.items():
        ui.page.set_viewport_size(viewport)
        shown = ui.page.evaluate(
            MEASURE, [NARROWEST_WRAPPING_CELL_EM, list(WHOLE_ON_A_LAPTOP) * (width == "laptop")]
        )
        if shown["pageWidth"] > shown["viewport"]:
            found.append(f"{width}: the page is {shown['pageWidth']} px wide")
        found += [f"{width}: squeezed {cell}" for cell in shown["squeezed"]]
        found += [f"{width}: {table} scrolls sideways" for table in shown["scrolling"]]
    words = foreign_words(text_of(ui.page.content(), translatable_only=True), language=language)
    if words:
        found.append(f"words left untranslated: {', '.join(words)}")
    return found


def switch_language(ui: ConsoleUI, language: str) -> None:
    """Through the language menu, as a person does (choosing the current one does nothing)."""
    if ui.page.locator("html").get_attribute("lang") != language:
        with ui.page.expect_navigation():
            ui.page.locator("select[name=language]").select_option(language)


def test_every_page_fits_both_widths_and_speaks_each_language(ui, day):
    problems = {}
    ui.open("login/")
    for language in LANGUAGES:
        switch_language(ui, language)
        problems[f"{language} login"] = problems_on(ui, "/console/login/", language)
    ui.log_in("finance", day.logins["finance"])
    pages = pages_of(ui, day)
    assert set(pages) >= EVERY_SECTION, EVERY_SECTION - set(pages)
    pages["not found"] = ["/console/orders/po_unknown/"]

    for language in LANGUAGES:
        switch_language(ui, language)
        for name, paths in pages.items():
            for path in paths:
                problems[f"{language} {name} {path}"] = problems_on(ui, path, language)

    found = [f"{page}: {problem}" for page, listed in problems.items() for problem in listed]
    assert not found, "\n".join(found)
