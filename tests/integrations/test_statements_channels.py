"""What every processor's bill does the same way, for each of the four: a bill its sandbox
renders reads back as the frame it was rendered from, the channel reads it with
parse_statement, and a frame a bill cannot hold is refused before anything is written; and
the fee a sandbox gives back on refunds."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.outside import get_channel
from sandboxes import common
from tests.integrations.statement_cases import CASES, Case

each_channel = pytest.mark.parametrize("case", CASES.values(), ids=str)


@each_channel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_rendered_bill_reads_back_as_the_frame_it_was_rendered_from(case: Case, data):
    rows = data.draw(st.lists(case.rows, max_size=25), label="rows")
    original = case.frame(rows)
    extras = data.draw(case.extras(len(rows)), label="columns beyond the canonical ones")

    content = case.render(original.assign(**extras))

    pd.testing.assert_frame_equal(case.parse(content), original)


@each_channel
def test_the_channel_reads_its_bill_with_parse_statement(case: Case):
    content = case.render(case.two_lines)

    pd.testing.assert_frame_equal(
        get_channel(case.channel).parse_statement(content), case.two_lines
    )


@each_channel
@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kind": ["payment", "chargeback"]}, "a row's kind is neither payment nor refund"),
        ({"amount": [12345, 0]}, "amounts are positive fen"),
    ],
    ids=["an unknown kind", "an amount of nothing"],
)
def test_a_render_refuses_a_line_no_bill_holds(case: Case, change, problem):
    with pytest.raises(ValueError, match=problem):
        case.render(case.two_lines.assign(**change))


def test_refunds_give_back_the_fee_on_their_amount_never_more_than_is_left():
    # 0.60% of ¥1.70 rounds up to 1 fen, and so does 0.60% of each ¥0.85 refunded.
    assert common.fees_given_back(170, [85, 85], 60) == [1, 0]
    assert common.fees_given_back(12345, [6000, 6345], 60) == [36, 38]  # 74 in all
    assert common.fees_given_back(12345, [], 60) == []
