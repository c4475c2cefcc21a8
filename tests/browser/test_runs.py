"""A reconciliation run's page and its workbook, downloaded through the page's link."""

from __future__ import annotations

import re

import openpyxl
from playwright.sync_api import expect

from reconciliation.models import ReconciliationRun, RunStatus
from reconciliation.reports import CLEARING_SHEET, DISCREPANCY_SHEET, SUMMARY_SHEET, SUMMARY_SIDES


def test_a_run_opens_from_the_list_and_its_workbook_downloads(ui, day, tmp_path):
    run = (
        ReconciliationRun.objects.filter(
            business_date=day.business_date, status=RunStatus.SUCCEEDED, party_kind="processor"
        )
        .exclude(discrepancies=None)
        .order_by("party")
        .first()
    )
    assert run is not None, "the demo day has a processor run with discrepancies"
    ui.log_in("auditor", day.logins["auditor"])

    ui.open("runs/")
    expect(ui.testid("runs-table")).to_be_visible()
    ui.screenshot("runs")
    ui.testid(f"run-{run.pk}").get_by_role("link").first.click()

    expect(ui.page).to_have_url(re.compile(rf"/console/runs/{run.pk}/$"))
    expect(ui.testid("run-status")).to_be_visible()
    expect(ui.testid("run-progress")).to_be_visible()
    ui.screenshot("run")
    with ui.page.expect_download() as download:
        ui.testid("download-xlsx").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)

    assert saved.suffix == ".xlsx"
    book = openpyxl.load_workbook(saved, read_only=True)
    assert book.sheetnames == [SUMMARY_SHEET, DISCREPANCY_SHEET, CLEARING_SHEET]
    summary = {row[0]: row for row in book[SUMMARY_SHEET].iter_rows(min_row=2, values_only=True)}
    matched = SUMMARY_SIDES.index("已匹配笔数 Matched count")
    assert summary[run.party][matched] == run.totals["matched"]["count"] > 0
    listed = list(book[DISCREPANCY_SHEET].iter_rows(min_row=2, values_only=True))
    assert len(listed) == run.discrepancies.count()
