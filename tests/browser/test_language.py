"""The console speaks Chinese first; a person may switch it to English and back."""

from __future__ import annotations

from django.utils.translation import gettext, override
from playwright.sync_api import expect

from tests.console.conftest import PASSWORD, make_staff


def test_the_language_switches_to_english_for_every_page_and_back_to_chinese(ui):
    make_staff("clerk")
    with override("zh-hans"):
        log_out_in_chinese = gettext("Log out")
    assert log_out_in_chinese != "Log out"
    ui.log_in("clerk", PASSWORD)
    page_language = ui.page.locator("html")
    log_out = ui.page.locator("form[action$='/logout/'] button")
    language = ui.page.locator("select[name=language]")
    expect(page_language).to_have_attribute("lang", "zh-hans")
    expect(log_out).to_have_text(log_out_in_chinese)

    with ui.page.expect_navigation():
        language.select_option("en")

    expect(page_language).to_have_attribute("lang", "en")
    expect(log_out).to_have_text("Log out")
    ui.open("runs/")
    expect(page_language).to_have_attribute("lang", "en")
    expect(ui.page.locator("nav.main a[aria-current=page]")).to_have_text("Runs")

    with ui.page.expect_navigation():
        language.select_option("zh-hans")

    expect(page_language).to_have_attribute("lang", "zh-hans")
    expect(log_out).to_have_text(log_out_in_chinese)
