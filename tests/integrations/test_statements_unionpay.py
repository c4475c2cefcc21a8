"""UnionPay's reconciliation zip (the fixed-width ZM file) as a statement frame: its layout,
the sandbox's file over HTTP, and malformed files refused at their line. Reading rendered
files back is in test_statements_channels.py."""

from __future__ import annotations

import uuid
from datetime import datetime

import pandas as pd
import pytest

from core.outside import get_channel
from integrations.payments.unionpay import bill as unionpay_bill
from sandboxes.unionpay.views import render_statement
from tests.integrations import statement_cases as cases
from tests.integrations.helpers import new_trade
from tests.integrations.statement_cases import UNIONPAY, Edit, append, pay_and_refund, utc

TWO_LINES = UNIONPAY.two_lines


def zm_lines() -> list[bytes]:
    return UNIONPAY.lines(UNIONPAY.render(TWO_LINES))


def field(name: str) -> slice:
    """Where a ZM field is in a record, in bytes: fields of fixed widths, a space apart."""
    start = 0
    for field_name, width in unionpay_bill.ZM_FIELDS:
        if field_name == name:
            return slice(start, start + width)
        start += width + 1
    raise KeyError(name)


def replaced(line: bytes, name: str, value: bytes) -> bytes:
    where = field(name)
    assert len(value) == where.stop - where.start
    return line[: where.start] + value + line[where.stop :]


def put(at: int, name: str, value: bytes) -> Edit:
    """In record ``at`` (0-based), the field ``name`` made ``value``."""

    def edit(lines: list[bytes]) -> None:
        lines[at] = replaced(lines[at], name, value)

    return edit


def shorter(at: int, by: int) -> Edit:
    """Record ``at`` without its last ``by`` bytes."""

    def edit(lines: list[bytes]) -> None:
        lines[at] = lines[at][:-by]

    return edit


def shifted(at: int) -> Edit:
    """Record ``at`` moved one byte to the right, its last byte dropped."""

    def edit(lines: list[bytes]) -> None:
        lines[at] = b" " + lines[at][:-1]

    return edit


# -- the layout ---------------------------------------------------------------------------


def test_the_file_is_the_zm_layout():
    name, data = cases.unionpay_zm(UNIONPAY.render(TWO_LINES))
    consume, refund = data.split(b"\r\n")[:2]

    assert name == "INN25060188ZM_777290058110048"
    assert data.endswith(b"\r\n") and len(consume) == len(refund) == 607
    assert consume[:3] == b"S22" and refund[:3] == b"S30"
    assert consume[field("交易传输时间")] == b"0601143002"  # Beijing time
    assert consume[field("交易金额")] == b"000000012345"
    assert consume[field("商户订单号")].rstrip() == b"PAYk5qz3w7xv2m4n6p8r0ta"
    assert consume[field("商户手续费")] == b"D000000000062"
    assert refund[field("商户手续费")] == b"C000000000010"  # the fee given back
    assert refund[field("结算金额")] == b"D000000002000"
    assert consume[field("清算净额")] == b"C000000012283"


def test_a_december_transaction_settled_in_january_keeps_its_year():
    late = TWO_LINES.iloc[:1].assign(occurred_at=[utc("2024-12-31 15:30:00")])  # 23:30 Beijing

    content = render_statement(late)

    name, _ = cases.unionpay_zm(content)
    assert name == "INN25010188ZM_777290058110048"  # the day turns at 23:00
    assert unionpay_bill.parse_bill(content)["occurred_at"].tolist() == [utc("2024-12-31 15:30:00")]


def test_an_order_id_that_is_not_one_of_ours_is_kept_as_it_is():
    lines = zm_lines()
    lines[0] = replaced(lines[0], "商户订单号", b"AbC12345".ljust(32))

    assert unionpay_bill.parse_bill(cases.unionpay_zipped(lines))["ref"].tolist()[0] == "AbC12345"


def test_chinese_text_in_a_gbk_field_is_read():
    lines = zm_lines()
    lines[1] = replaced(lines[1], "二级商户简称", "市场监管局".encode("gbk").ljust(32))

    assert len(unionpay_bill.parse_bill(cases.unionpay_zipped(lines))) == 2


def test_lf_line_ends_read_too():
    bill = unionpay_bill.parse_bill(cases.unionpay_zipped([b"\n".join(zm_lines())]))

    pd.testing.assert_frame_equal(bill, TWO_LINES)


def test_a_render_refuses_an_id_unionpay_would_not_take():
    with pytest.raises(ValueError, match="orderId"):
        UNIONPAY.render(TWO_LINES.assign(ref=["pay-1", "rf_x"]))


# -- the sandbox's file over HTTP ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_sandbox_file_holds_exactly_the_payment_and_the_refund_just_made(
    live_service, receiver
):
    channel = get_channel("unionpay")
    trade = new_trade(receiver.url, out_trade_no=f"pay_{uuid.uuid4().hex[:24]}")
    made = pay_and_refund(channel, trade, f"rf_{uuid.uuid4().hex[:24]}", 2000, settled=True)
    settled_on = f"{made.paid.paid_at.year}{made.paid.raw['settleDate']}"  # settleDate: MMDD

    bill = channel.parse_statement(
        channel.fetch_statement(datetime.strptime(settled_on, "%Y%m%d").date())
    )

    refunded = made.refunded
    fees = (62, -10)  # 0.50% of ¥123.45, rounded to the fen; 0.50% of ¥20.00 given back
    UNIONPAY.assert_bill_holds(bill, made, refunded.provider_refund_no, refunded.refunded_at, fees)


# -- malformed files ----------------------------------------------------------------------

MALFORMED = {
    "an amount that is not digits": (
        [put(1, "交易金额", b"0000000020x0")],
        (2, "交易金额 is not 12 digits of fen above zero"),
    ),
    "a record of the wrong length": (
        [shorter(1, 1)],
        (2, "is 606 bytes long, a ZM record is 607"),
    ),
    "a record whose fields are shifted": (
        [shifted(1)],
        (2, "交易代码 is not followed by a space"),
    ),
    "a record that is not GBK": (
        [put(1, "二级商户简称", b"\xff\xff".ljust(32))],
        (2, "is not GBK"),
    ),
    "an unknown transaction type": (
        [put(0, "交易类型", b"31")],
        (1, "交易类型 '31' is neither 01 (consume) nor 04 (refund)"),
    ),
    "a time that is not in the calendar": (
        [put(1, "交易传输时间", b"0230120000")],
        (2, "交易传输时间 is not a MMDDhhmmss time"),
    ),
    "a bad field before a record of the wrong length": (
        [put(0, "商户手续费", b"X000000000062"), append(1, b" ")],
        (1, "商户手续费 is not D or C and 12 digits of fen"),
    ),
    "a record of the wrong length before one that is not GBK": (
        [shorter(0, 7), put(1, "二级商户简称", b"\xff\xff".ljust(32))],
        (1, "is 600 bytes long, a ZM record is 607"),
    ),
    "an order id that is not ASCII": (
        [put(1, "商户订单号", "退款单".encode("gbk").ljust(32))],
        (2, "商户订单号 '??????' is not letters and digits"),
    ),
}


@pytest.mark.parametrize(("edits", "refused"), MALFORMED.values(), ids=MALFORMED)
def test_a_malformed_file_is_refused_at_its_first_bad_line(edits, refused):
    assert UNIONPAY.refusal(*edits) == refused


def test_a_truncated_zip_is_refused_as_a_whole():
    content = UNIONPAY.render(TWO_LINES)

    line, problem = UNIONPAY.refused(content[: len(content) - 40])

    assert line == 0
    assert "zip" in problem


def test_a_zip_without_a_zm_file_is_refused():
    content = cases.unionpay_zipped(zm_lines(), name="INN25060188ZME_777290058110048")

    assert UNIONPAY.refused(content) == (
        0,
        "the archive does not hold exactly one INN…ZM_ file",
    )
