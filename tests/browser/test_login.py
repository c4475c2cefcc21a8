"""Logging in to the console through its form and landing on the morning view."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from reconciliation.models import ReconciliationRun
from tests.browser.console_ui import TABLET
from tests.console.conftest import PASSWORD, make_staff


def test_a_wrong_password_is_refused(ui):
    make_staff("clerk")

    ui.open("login/")
    ui.submit_login("clerk", "not the password")

    expect(ui.page.get_by_role("alert")).to_be_visible()
    expect(ui.testid("current-user")).to_have_count(0)
    ui.submit_login("clerk", PASSWORD)
    expect(ui.testid("current-user")).to_have_text("clerk")


def test_staff_log_in_through_the_form_and_see_the_morning_of_the_day(ui, day):
    ui.open()

    expect(ui.page).to_have_url(re.compile(r"/console/login/\?next=/console/$"))
    ui.screenshot("login")
    ui.submit_login("finance", day.logins["finance"])

    expect(ui.page).to_have_url(re.compile(r"/console/$"))
    expect(ui.testid("current-user")).to_have_text("finance")
    expect(ui.testid("morning-parties")).to_be_visible()
    # The morning opens on the latest date reconciled: the settlement date's bank runs.
    ui.open(f"?date={day.business_date.isoformat()}")
    parties = ReconciliationRun.objects.filter(business_date=day.business_date)
    assert parties.exists()
    for party in parties.values_list("party", flat=True):
        expect(ui.testid("morning-parties").get_by_test_id(f"party-{party}")).to_be_visible()
    for chart in ("chart-amounts", "chart-discrepancy-rate"):
        expect(ui.testid(chart)).to_be_visible()
        assert ui.testid(chart).evaluate("node => node.tagName.toLowerCase()") == "svg"
    expect(ui.testid("clearing-by-department")).to_be_visible()
    expect(ui.testid("discrepancies-by-type")).to_be_visible()
    ui.screenshot("morning")
    ui.screenshot("morning-tablet", viewport=TABLET)
