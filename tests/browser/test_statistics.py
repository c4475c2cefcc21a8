"""A supervisor reads the demo day's statistics in both languages, on a laptop and on a tablet
held upright, and downloads a page's workbook."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from playwright.sync_api import expect

from console.statistics.pages import PAGES
from tests.browser.console_ui import LAPTOP, TABLET, ConsoleUI
from tests.browser.test_records_and_operations import fits_the_width

FIRST_TABLES = {name: page.breakdowns[0].key for name, page in PAGES.items()}


def read_every_page(ui: ConsoleUI, language: str) -> None:
    for name, first_table in FIRST_TABLES.items():
        ui.open(f"statistics/{name}/")
        expect(ui.page.locator("html")).to_have_attribute("lang", language)
        expect(ui.testid(first_table)).to_be_visible()
        expect(ui.testid(f"chart-{first_table}")).to_be_visible()
        for viewport in (LAPTOP, TABLET):
            ui.page.set_viewport_size(viewport)
            assert fits_the_width(ui), (language, name, viewport)
        ui.page.set_viewport_size(LAPTOP)


def test_the_statistics_pages_fit_the_screen_in_both_languages(ui, day):
    ui.log_in("finance", day.logins["finance"])

    read_every_page(ui, "zh-hans")
    ui.open("statistics/revenue/")
    total = ui.testid("revenue-by-period").locator("tfoot td").last
    expect(total).not_to_have_text("0.00")  # the demo day's payments are today's
    ui.screenshot("statistics")
    ui.screenshot("statistics-tablet", viewport=TABLET)

    with ui.page.expect_navigation():
        ui.page.locator("select[name=language]").select_option("en")
    read_every_page(ui, "en")
    ui.open("statistics/delivery/")
    ui.screenshot("statistics-delivery-en")

    with ui.page.expect_download() as download:
        ui.testid("statistics-xlsx").click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()))
    assert book.sheetnames[0] == "Delivery by courier"
    assert book.worksheets[0]._charts
