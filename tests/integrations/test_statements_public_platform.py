"""The public payment platform's daily bill (our documented CSV) as a statement frame: its
layout, the sandbox's bill over HTTP, and malformed bills refused at their line. Reading
rendered bills back is in test_statements_channels.py."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from core.outside import get_channel
from integrations.payments.public_platform.bill import parse_bill
from sandboxes.public_platform.views import render_statement
from tests.integrations.helpers import new_trade
from tests.integrations.statement_cases import PUBLIC_PLATFORM, append, cut, pay_and_refund, swap

HEADER = (
    b"record_type,trade_no,out_trade_no,out_refund_no,payment_code,department_code,"
    b"amount_fen,fee_fen,status,time"
)
TWO_LINES = PUBLIC_PLATFORM.two_lines


# -- the layout ---------------------------------------------------------------------------


def test_the_bill_is_the_documented_layout():
    content = render_statement(TWO_LINES.assign(out_trade_no="pay_a2c4e6g8i0k2m4o6q8s0"))

    assert content.split(b"\n") == [
        HEADER,
        b"PAYMENT,202506015520184826401937,pay_a2c4e6g8i0k2m4o6q8s0,,,,2000,0,SUCCESS,"
        b"2025-06-01T15:02:41+08:00",
        b"REFUND,202506015520184826401937,pay_a2c4e6g8i0k2m4o6q8s0,rf_3b5d7f9h1j3l5n7p9r1t,,,"
        b"2000,0,SUCCESS,2025-06-01T16:10:07+08:00",
        b"#total,2,2000,2000",
        b"",
    ]


def test_an_empty_bill_is_the_header_and_zero_totals():
    empty = TWO_LINES.iloc[:0]

    assert render_statement(empty) == HEADER + b"\n#total,0,0,0\n"
    pd.testing.assert_frame_equal(parse_bill(HEADER + b"\n#total,0,0,0\n"), empty)


def test_a_time_with_another_offset_is_read_in_utc():
    lines = PUBLIC_PLATFORM.lines(render_statement(TWO_LINES))
    lines[1] = lines[1].replace(b"2025-06-01T15:02:41+08:00", b"2025-06-01T02:02:41-05:00")

    bill = parse_bill(b"\n".join(lines))

    assert bill["occurred_at"][0] == pd.Timestamp("2025-06-01 07:02:41", tz="UTC")


# -- the sandbox's bill over HTTP ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_bill_holds_exactly_the_payment_and_the_refund_just_made(
    live_service, receiver
):
    channel = get_channel("public_platform")
    trade = new_trade(receiver.url, return_url="https://portal.example.gov.cn/cases/1")
    made = pay_and_refund(channel, trade, f"rf_{uuid.uuid4().hex[:20]}", 5000, settled=True)

    bill = channel.parse_statement(channel.fetch_statement(made.paid.paid_at.date()))

    no_number_of_its_own = made.paid.provider_trade_no  # the refunded trade's, for a refund
    fees = (0, 0)  # the platform takes no fee from government collections
    PUBLIC_PLATFORM.assert_bill_holds(
        bill, made, no_number_of_its_own, made.refunded.refunded_at, fees
    )


# -- malformed bills ----------------------------------------------------------------------

MALFORMED = {
    "an amount that is not fen": (
        [swap(2, b",2000,0,", b",20.00,0,")],
        (3, "amount_fen '20.00' is not fen above zero"),
    ),
    "a line with a field too many": (
        [append(1, b",extra")],
        (2, "has 11 fields, the bill has 10"),
    ),
    "a quoted field that runs over lines": (
        [swap(1, b",,,,", b',"a\nb",,,')],
        (2, "has a quoted field that runs over lines"),
    ),
    "a line that is not UTF-8": (
        [swap(2, b"REFUND,", b"REFUND,\xff")],
        (3, "is not UTF-8"),
    ),
    "a carriage return inside a line": (
        [swap(2, b"REFUND,", b"REFUND,\r")],
        (3, "has a carriage return before its end"),
    ),
    "a total that disagrees with the lines": (
        [swap(3, b"#total,2,2000,2000", b"#total,2,2000,1999")],
        (4, "'#total,2,2000,1999', the lines add up to #total,2,2000,2000"),
    ),
    "a bill cut before its total": (
        [cut(3)],
        (4, "the bill ends without its #total line"),
    ),
    "a status other than success": (
        [swap(2, b",SUCCESS,", b",FAILED,")],
        (3, "status 'FAILED' is not SUCCESS"),
    ),
    "a time without an offset": (
        [swap(1, b"+08:00", b"")],
        (2, "time '2025-06-01T15:02:41' is not ISO 8601 with an offset"),
    ),
    "a bad field before a malformed line": (
        [swap(1, b",2000,0,", b",2000,0.5,"), append(2, b",extra")],
        (2, "fee_fen '0.5' is not a whole number of fen"),
    ),
}


@pytest.mark.parametrize(("edits", "refused"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_bill_is_refused_at_its_first_bad_line(edits, refused):
    assert PUBLIC_PLATFORM.refusal(*edits) == refused
