"""Logging in to the console through its form and landing on the morning view."""

from __future__ import annotations

import re
from collections import Counter

from django.utils.translation import override
from playwright.sync_api import expect

from billing.models import Receipt, ReceiptKind, ReceiptStatus
from core.money import business_date_of
from reconciliation.models import ReconciliationRun
from tests.browser.console_ui import LAPTOP, TABLET
from tests.console.conftest import PASSWORD, make_staff


def receipts_by_status_of(day) -> Counter:
    """The receipts of the day's payments and of its refunds (the red-letter ones), by status."""
    found: Counter = Counter()
    for receipt in Receipt.objects.select_related("order", "refund"):
        normal = receipt.kind == ReceiptKind.NORMAL
        moment = receipt.order.paid_at if normal else receipt.refund.refunded_at
        if business_date_of(moment) == day:
            found[receipt.status] += 1
    return found


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

    expected = receipts_by_status_of(day.business_date)
    assert expected[ReceiptStatus.ISSUED] > 0, "the demo day's receipts are issued"
    for viewport in (LAPTOP, TABLET):
        ui.page.set_viewport_size(viewport)
        for status in ReceiptStatus:
            figure = ui.testid(f"receipts-{status}")
            expect(figure).to_be_visible()
            expect(ui.testid(f"receipts-{status}-count")).to_have_text(str(expected[status]))
            with override("zh-hans"):
                expect(figure.locator("[data-status]")).to_have_text(str(status.label))
    ui.testid(f"receipts-{ReceiptStatus.ISSUED}-count").click()
    expect(ui.page).to_have_url(re.compile(r"/console/receipts/\?status=issued&date="))
    rows = ui.testid("receipts-table").locator("tbody tr")
    expect(rows).to_have_count(min(expected[ReceiptStatus.ISSUED], 50))
