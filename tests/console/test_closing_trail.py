"""A settlement report's page keeps the console's audit trail: the report's steps, the
remittance its approval ordered and the bank instruction, each in the reader's words."""

from __future__ import annotations

import pytest

from closing.models import RemittanceInstruction, SettlementReport
from closing.services.reports import settlement_reports_generate
from tests.closing.conftest import (  # noqa: F401 - fixtures
    DAY,
    at,
    day_of_fees,
    fee_item,
    order,
    remitted_to_the_treasury,
)
from tests.conftest import make_department
from tests.console.test_discrepancies import in_english, part
from tests.console.test_i18n import foreign_words, text_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(day_of_fees, clerk, approver) -> SettlementReport:  # noqa: F811 - a fixture
    [report] = settlement_reports_generate(business_date=DAY, actor="system:closing")
    assert clerk.post(f"/console/closing/{report.public_id}/submit/").status_code == 303
    assert approver.post(f"/console/closing/{report.public_id}/approve/").status_code == 303
    report.refresh_from_db()
    return report


def test_the_reports_steps_and_its_remittances_are_in_its_trail(approved, clerk):
    answer = clerk.get(f"/console/closing/{approved.public_id}/")

    trail = part(answer, "audit-trail")
    assert "结报 · 生成" in trail and "系统：结报" in trail and "净额: 49.50" in trail
    assert "结报 · 已提交待审核" in trail and "结报 · 批准" in trail
    assert "缴库 · 已发指令" in trail and approved.remittance.end_to_end_id in trail
    shown = text_of(answer.content.decode(), translatable_only=True)
    assert foreign_words(shown, language="zh-hans") == []


def test_a_retried_instruction_is_in_the_trail_in_english(approved, clerk):
    RemittanceInstruction.objects.filter(remittance__report=approved).update(status="failed")
    retried = clerk.post(f"/console/closing/{approved.public_id}/remittance/retry/")
    assert retried.status_code == 303

    trail = part(in_english(clerk).get(f"/console/closing/{approved.public_id}/"), "audit-trail")

    assert "Bank instruction · retry requested by staff" in trail
    assert "failed → sending" in trail
    assert "Settlement report · generated" in trail and "system: settlement reports" in trail


def test_another_departments_report_is_not_in_the_trail(approved, clerk):
    other = make_department("GTZY01", "市自然资源和规划局", settlement_account_number="1")
    order(other, (fee_item(other, "FEE-Z", 500), 1, 500), paid_at=at(DAY, 10))
    [theirs] = settlement_reports_generate(
        business_date=DAY, actor="system:closing", departments=[other.pk]
    )

    trail = part(clerk.get(f"/console/closing/{approved.public_id}/"), "audit-trail")

    assert approved.public_id in trail and theirs.public_id not in trail
