"""The day's figures per fee item, exact to the fen, from real rows."""

from __future__ import annotations

import pytest

from closing.figures import spread
from closing.models import SettlementReport
from closing.services.reports import settlement_reports_generate
from tests.closing.conftest import DAY, EXPECTED, EXPECTED_TOTAL

pytestmark = pytest.mark.django_db


def test_each_fee_item_shows_what_was_collected_refunded_and_waived_on_the_day(day_of_fees):
    [report] = settlement_reports_generate(business_date=DAY, actor="user:clerk")

    lines = {
        line.fee_item_code: (
            line.payments_count,
            line.collected,
            line.refunds_count,
            line.refunded,
            line.waivers_count,
            line.waived,
            line.net,
        )
        for line in report.lines.all()
    }
    assert lines == EXPECTED
    assert {name: getattr(report, name) for name in EXPECTED_TOTAL} == EXPECTED_TOTAL
    assert report.department == day_of_fees
    assert report.to_remit == 4950


def test_a_department_with_nothing_on_the_day_has_no_report(day_of_fees):
    assert settlement_reports_generate(business_date=DAY.replace(day=1), actor="user:c") == []
    assert not SettlementReport.objects.filter(business_date=DAY.replace(day=1)).exists()


@pytest.mark.parametrize(
    ("amount", "weights", "shares"),
    [
        (1000, [1500, 2000], [429, 571]),
        (600, [3000, 800], [474, 126]),
        (1, [1, 1, 1], [1, 0, 0]),
        (2000, [2000], [2000]),
        (7, [0, 0], [7, 0]),
    ],
)
def test_a_refund_is_spread_in_proportion_to_the_fen(amount, weights, shares):
    assert spread(amount, weights) == shares
    assert sum(spread(amount, weights)) == amount
