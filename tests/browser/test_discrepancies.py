"""Discrepancies in the browser: four-eyes resolution by two people, and department scope."""

from __future__ import annotations

import re

from django.utils.translation import override
from playwright.sync_api import expect

from billing.models import Department
from console.audit_labels import action_label
from reconciliation.models import Clearing, Discrepancy, DiscrepancyStatus
from reconciliation.services.resolution import ACTIONABLE
from tests.browser.conftest import scoped_user
from tests.browser.console_ui import TABLET

# The queue's default: what still needs a person.
QUEUED = (*ACTIONABLE, DiscrepancyStatus.PROPOSED)


def test_one_person_proposes_a_resolution_and_another_approves_it(ui, day):
    item = Discrepancy.objects.filter(pk__in=day.open_discrepancy_ids).order_by("pk").first()
    assert item is not None, "the demo day leaves discrepancies open for people"
    ui.log_in("finance", day.logins["finance"])

    ui.open("discrepancies/")
    expect(ui.testid("queue-filters")).to_be_visible()
    ui.screenshot("discrepancies")
    ui.testid(f"discrepancy-{item.pk}").get_by_role("link").first.click()

    expect(ui.page).to_have_url(re.compile(rf"/console/discrepancies/{item.pk}/$"))
    expect(ui.testid("our-side")).to_be_visible()
    expect(ui.testid("their-side")).to_be_visible()
    ui.screenshot("discrepancy")
    ui.screenshot("discrepancy-tablet", viewport=TABLET)
    assign = ui.testid("assign-form")
    assign.locator("select[name=assignee]").select_option("finance")
    ui.submit(assign)
    comment = ui.testid("comment-form")
    comment.locator("textarea[name=text]").fill("已向渠道核实，对方账单漏列")
    ui.submit(comment)
    propose = ui.testid("propose-form")
    propose.locator("select[name=action]").select_option("no_action")
    propose.locator("input[name=note]").fill("渠道补发账单后自动匹配，无需调账")
    ui.submit(propose)

    expect(ui.testid("discrepancy-status")).to_have_attribute("data-status", "proposed")
    proposed = ui.testid("audit-trail").locator('[data-action="discrepancy.proposed"]')
    with override("zh-hans"):
        expect(proposed).to_contain_text(action_label("discrepancy.proposed"))
    item.refresh_from_db()
    assert (item.assignee.username, item.proposal["action"], item.proposed_by) == (
        "finance",
        "no_action",
        "user:finance",
    )
    # Whoever proposed may not approve: the page does not even offer it.
    expect(ui.testid("approve-button")).to_have_count(0)
    ui.log_out()

    ui.log_in("reviewer", day.logins["reviewer"])
    ui.open(f"discrepancies/{item.pk}/")
    with ui.page.expect_navigation():
        ui.testid("approve-button").click()  # the page asks to confirm; the reviewer agrees

    expect(ui.testid("discrepancy-status")).to_have_attribute("data-status", "resolved")
    approved = ui.testid("audit-trail").locator('[data-action="discrepancy.approved"]')
    expect(approved).to_contain_text("reviewer")
    expect(ui.testid("approve-button")).to_have_count(0)
    item.refresh_from_db()
    assert (item.status, item.resolved_by) == (DiscrepancyStatus.RESOLVED, "user:reviewer")


def test_a_department_scoped_user_sees_only_their_departments(ui, day):
    username, departments = scoped_user()
    ui.log_in(username, day.logins[username])

    clearing = ui.testid("clearing-by-department")
    expect(clearing).to_be_visible()
    cleared = Department.objects.filter(
        pk__in=Clearing.objects.filter(business_date=day.business_date).values("department")
    )
    assert cleared.filter(pk__in=departments).exists() and cleared.exclude(pk__in=departments)
    for department in cleared:
        expect(clearing.get_by_text(department.name)).to_have_count(
            1 if department.pk in departments else 0
        )

    ui.open("discrepancies/")
    rows = ui.testid("discrepancy-queue").locator("[data-testid^='discrepancy-']")
    shown = {
        int(testid.rsplit("-", 1)[1])
        for testid in rows.evaluate_all("rows => rows.map(row => row.dataset.testid)")
    }
    queued = Discrepancy.objects.filter(status__in=QUEUED)
    assert shown and shown == set(
        queued.filter(department__in=departments).values_list("pk", flat=True)
    )
    elsewhere = queued.exclude(department__in=departments).exclude(department=None).first()
    assert elsewhere is not None, "the demo day has open items of other departments"
    assert ui.open(f"discrepancies/{elsewhere.pk}/") == 404
