"""What the statement tests of the four processors share, and each processor's case.

A case is what the shared tests (test_statements_channels.py) need of a processor: its
parser, its sandbox's renderer, the file line of its first detail line, two lines most
tests start from, a strategy for any line its format holds, and how to take a rendered
file apart into lines and put it back together. What only one format has stays in that
processor's test module.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
import pytest
from hypothesis import strategies as st

from integrations.payments.alipay import bill as alipay_bill
from integrations.payments.base import (
    CreateTrade,
    PaymentChannel,
    RefundRequest,
    RefundResult,
    RefundStatus,
    TradeResult,
)
from integrations.payments.public_platform import bill as public_platform_bill
from integrations.payments.unionpay import bill as unionpay_bill
from integrations.payments.wechatpay import bill as wechatpay_bill
from integrations.statements import TRANSACTION_COLUMNS, StatementInvalid, typed
from sandboxes.alipay import bill as alipay_sandbox
from sandboxes.public_platform import views as public_platform_sandbox
from sandboxes.unionpay import views as unionpay_sandbox
from sandboxes.wechatpay import wire as wechatpay_sandbox
from tests.integrations.helpers import BEIJING, pay

Edit = Callable[[list[bytes]], None]  # changes a file's lines in place


def frame(rows: list[dict], first_line: int) -> pd.DataFrame:
    """The canonical frame of ``rows``, numbered from ``first_line``."""
    numbered = [{"line_no": first_line + at, **row} for at, row in enumerate(rows)]
    return typed(pd.DataFrame(numbered, columns=list(TRANSACTION_COLUMNS)), TRANSACTION_COLUMNS)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def two_lines(first_line: int, payment: tuple, refund: tuple) -> pd.DataFrame:
    """A payment's line and a refund's, each given as its ref, provider_ref, amount, fee
    and time (an aware datetime, or UTC text)."""
    columns = ("ref", "provider_ref", "amount", "fee")
    return frame(
        [
            {
                "kind": kind,
                **dict(zip(columns, line[:4], strict=True)),
                "occurred_at": utc(moment)
                if isinstance(moment := line[4], str)
                else pd.Timestamp(moment).tz_convert(UTC),
            }
            for kind, line in (("payment", payment), ("refund", refund))
        ],
        first_line,
    )


# -- edits of a file's lines --------------------------------------------------------------


def swap(at: int, old: bytes, new: bytes) -> Edit:
    """In line ``at`` (0-based), the first ``old`` made ``new``."""

    def edit(lines: list[bytes]) -> None:
        assert old in lines[at], f"{old!r} is not in line {at}"
        lines[at] = lines[at].replace(old, new, 1)

    return edit


def append(at: int, tail: bytes) -> Edit:
    """``tail`` added at the end of line ``at``."""

    def edit(lines: list[bytes]) -> None:
        lines[at] += tail

    return edit


def cut(stop: int) -> Edit:
    """Only the lines before line ``stop`` kept, the last of them still ended."""

    def edit(lines: list[bytes]) -> None:
        lines[stop:] = [b""]

    return edit


# -- the sandbox's bill over HTTP -----------------------------------------------------------


@dataclass(frozen=True)
class PaidAndRefunded:
    """A trade paid at a sandbox's cashier, then partly refunded."""

    trade: CreateTrade
    paid: TradeResult
    refund: RefundRequest
    refunded: RefundResult  # the channel's last word on the refund


def pay_and_refund(
    channel: PaymentChannel,
    trade: CreateTrade,
    out_refund_no: str,
    amount: int,
    *,
    settled: bool = False,
) -> PaidAndRefunded:
    """Pay ``trade`` (without a notification), then refund ``amount`` of it; ``settled``
    waits, querying, for the refund to succeed (it is notified to the trade's notify_url),
    and the refund's answer is enough otherwise (nobody is notified)."""
    assert pay(channel.create_trade(trade).pay_url, notify=False).status_code == 200
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    request = RefundRequest(
        out_trade_no=trade.out_trade_no,
        out_refund_no=out_refund_no,
        amount=amount,
        total_amount=trade.amount,
        reason="多缴退费",
        notify_url=trade.notify_url if settled else "",
        opened_at=trade.opened_at,
        requested_at=datetime.now(BEIJING),
    )
    refunded, deadline = channel.refund(request), time.monotonic() + 5
    while settled and refunded.status != RefundStatus.SUCCEEDED:
        assert refunded.status == RefundStatus.PENDING, refunded
        assert time.monotonic() < deadline, "the refund did not settle in time"
        time.sleep(0.02)
        refunded = channel.query_refund(
            out_trade_no=request.out_trade_no,
            out_refund_no=request.out_refund_no,
            requested_at=request.requested_at,
        )
    return PaidAndRefunded(trade, paid, request, refunded)


# -- each processor's case ------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    channel: str  # the registry's code
    parse: Callable[[bytes], pd.DataFrame]
    render: Callable[[pd.DataFrame], bytes]
    first_line: int  # the file line of the first detail line
    two_lines: pd.DataFrame  # a payment and a refund
    rows: st.SearchStrategy[dict]  # any canonical line the format holds, but line_no
    lines: Callable[[bytes], list[bytes]]  # a rendered file's lines (of its detail file)
    file: Callable[[bytes, list[bytes]], bytes]  # the file again, with these lines
    extras: Callable[[int], st.SearchStrategy[dict]] = lambda count: st.just({})

    def __str__(self) -> str:
        return self.channel

    def frame(self, rows: list[dict]) -> pd.DataFrame:
        return frame(rows, self.first_line)

    def refused(self, content: bytes) -> tuple[int, str]:
        """The line and the problem the parser refuses ``content`` for."""
        with pytest.raises(StatementInvalid) as refusal:
            self.parse(content)
        return refusal.value.line, refusal.value.problem

    def refusal(self, *edits: Edit) -> tuple[int, str]:
        """The line and the problem a rendered two_lines is refused for after ``edits``."""
        content = self.render(self.two_lines)
        lines = self.lines(content)
        for edit in edits:
            edit(lines)
        return self.refused(self.file(content, lines))

    def assert_bill_holds(
        self,
        bill: pd.DataFrame,
        made: PaidAndRefunded,
        refund_provider_ref: str,
        refunded_at: datetime,
        fees: tuple[int, int],
    ) -> None:
        """The lines of ``bill`` naming the trade or its refund are exactly its payment,
        then its refund, with these ``fees`` (the payment's, the refund's)."""
        ours = bill[bill["ref"].isin([made.trade.out_trade_no, made.refund.out_refund_no])]
        trade, paid, refund = made.trade, made.paid, made.refund
        expected = two_lines(
            self.first_line,
            (trade.out_trade_no, paid.provider_trade_no, trade.amount, fees[0], paid.paid_at),
            (refund.out_refund_no, refund_provider_ref, refund.amount, fees[1], refunded_at),
        )
        pd.testing.assert_frame_equal(
            ours.drop(columns="line_no").reset_index(drop=True), expected.drop(columns="line_no")
        )
        assert ours["line_no"].is_monotonic_increasing
        assert ours["line_no"].min() >= self.first_line


MOMENTS = st.datetimes(datetime(2020, 1, 1), datetime(2030, 12, 31)).map(
    lambda moment: pd.Timestamp(moment.replace(microsecond=0), tz="UTC")
)
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _line(kinds: st.SearchStrategy[str], refs: Callable[[str], st.SearchStrategy[str]], **draws):
    """A canonical line: its kind, a ref drawn for that kind, and the other columns."""
    return kinds.flatmap(
        lambda kind: st.fixed_dictionaries({"kind": st.just(kind), "ref": refs(kind), **draws})
    )


KINDS = st.sampled_from(["payment", "refund"])


# Alipay: a zip whose 业务明细 file (GBK CSV) has four comment lines before its header.


def alipay_detail(archive: bytes) -> tuple[str, bytes]:
    """The name and the bytes of the bill zip's 业务明细 file."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        (name,) = [name for name in opened.namelist() if name.endswith("_业务明细.csv")]
        return name, opened.read(name)


def alipay_with_detail(archive: bytes, detail: bytes) -> bytes:
    """The bill zip with its 业务明细 file replaced."""
    name, _ = alipay_detail(archive)
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(archive)) as old,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as new,
    ):
        for member in old.namelist():
            new.writestr(member, detail if member == name else old.read(member))
    return buffer.getvalue()


ALIPAY = Case(
    channel="alipay",
    parse=alipay_bill.parse_bill,
    render=alipay_sandbox.render_statement,
    first_line=6,
    two_lines=two_lines(
        6,
        payment=(
            "pay_0123456789",
            "2025060122001400000000000001",
            12345,
            74,
            "2025-06-01 06:30:01",
        ),
        refund=("ref_01", "2025060122001400000000000001", 2345, -14, "2025-06-01 07:02:11"),
    ),
    rows=_line(
        KINDS,
        lambda kind: st.text(ALNUM + "_-", min_size=1, max_size=64),  # out_trade_no, request no
        provider_ref=st.text("0123456789", min_size=28, max_size=28),
        amount=st.integers(1, 10_000_000_000),
        fee=st.integers(-100_000_000, 100_000_000),
        occurred_at=MOMENTS,
    ),
    lines=lambda content: alipay_detail(content)[1].split(b"\r\n"),
    file=lambda content, lines: alipay_with_detail(content, b"\r\n".join(lines)),
    extras=lambda count: st.fixed_dictionaries(
        {"subject": st.lists(st.text(max_size=30), min_size=count, max_size=count)}
    ),
)

# WeChat Pay: the ALL trade bill, UTF-8 CSV with backticks; the header is line 1.

WECHATPAY = Case(
    channel="wechatpay",
    parse=wechatpay_bill.parse_bill,
    render=wechatpay_sandbox.render_statement,
    first_line=2,
    two_lines=two_lines(
        2,
        payment=(
            "pay_k5qz3w7xv2m4n6p8r0ta",
            "4200000985202506011234567890",
            12345,
            74,
            "2025-06-01 06:30:02",
        ),
        refund=(
            "rfd_0c1d2e3f4a5b6c7d8e9f",
            "50000000382019052709732678859",
            2345,
            -14,
            "2025-06-01 08:02:11",
        ),
    ),
    rows=_line(
        KINDS,
        lambda kind: st.text(ALNUM + "_-*", min_size=6, max_size=32)  # out_trade_no
        if kind == "payment"
        else st.text(ALNUM + "_-|*@", min_size=1, max_size=64),  # out_refund_no
        provider_ref=st.text("0123456789", min_size=28, max_size=32),
        amount=st.integers(1, 100_000_000_000),
        fee=st.integers(-1_000_000_000, 1_000_000_000),
        occurred_at=MOMENTS,
    ),
    lines=lambda content: content.split(b"\r\n"),
    file=lambda content, lines: b"\r\n".join(lines),
)

# UnionPay: a zip holding the fixed-width ZM file alone; records from line 1. A file names
# its settlement date, and its times (month and day only) fall in the year up to it.

UNIONPAY_SETTLED = date(2025, 6, 1)
UNIONPAY_ZM = "INN25060188ZM_777290058110048"
LOWER = "abcdefghijklmnopqrstuvwxyz"
OUR_IDS = st.one_of(
    st.tuples(st.text(LOWER, min_size=1, max_size=5), st.text(LOWER + "0123456789", min_size=7))
    .filter(lambda parts: len(parts[0]) + len(parts[1]) <= 32)
    .map("_".join),
    st.text(LOWER + "0123456789", min_size=8, max_size=32),
)


def unionpay_zm(archive: bytes) -> tuple[str, bytes]:
    """The name and the bytes of the zip's only file."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        (name,) = opened.namelist()
        return name, opened.read(name)


def unionpay_zipped(lines: list[bytes], name: str = UNIONPAY_ZM) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, b"\r\n".join(lines))
    return buffer.getvalue()


UNIONPAY = Case(
    channel="unionpay",
    parse=unionpay_bill.parse_bill,
    render=lambda rows: unionpay_sandbox.render_statement(rows, settle_date=UNIONPAY_SETTLED),
    first_line=1,
    two_lines=two_lines(
        1,
        payment=(
            "pay_k5qz3w7xv2m4n6p8r0ta",
            "202506011430020000001",
            12345,
            62,
            "2025-06-01 06:30:02",
        ),
        refund=(
            "rf_0c1d2e3f4a5b6c7d8e9f",
            "202506011602110000002",
            2000,
            -10,
            "2025-06-01 08:02:11",
        ),
    ),
    rows=_line(
        KINDS,
        lambda kind: OUR_IDS,
        provider_ref=st.text("0123456789", min_size=1, max_size=21),
        amount=st.integers(1, 500_000_000_000),
        fee=st.integers(-100_000_000_000, 100_000_000_000),
        occurred_at=st.datetimes(datetime(2024, 6, 2), datetime(2025, 6, 1, 23, 59, 59)).map(
            lambda moment: pd.Timestamp(moment.replace(microsecond=0), tz=BEIJING).tz_convert(UTC)
        ),
    ),
    lines=lambda content: unionpay_zm(content)[1].split(b"\r\n"),
    file=lambda content, lines: unionpay_zipped(lines, unionpay_zm(content)[0]),
)

# The public payment platform: our documented UTF-8 CSV; the header is line 1.

# Any text on one line: commas and quotes are quoted as RFC 4180 says.
ONE_LINE_TEXT = st.text(
    st.characters(blacklist_categories=["Cc", "Cs"], blacklist_characters="\r\n\x85\u2028\u2029"),
    min_size=1,
    max_size=40,
)

PUBLIC_PLATFORM = Case(
    channel="public_platform",
    parse=public_platform_bill.parse_bill,
    render=public_platform_sandbox.render_statement,
    first_line=2,
    two_lines=two_lines(
        2,
        payment=(
            "pay_a2c4e6g8i0k2m4o6q8s0",
            "202506015520184826401937",
            2000,
            0,
            "2025-06-01 07:02:41",
        ),
        refund=(
            "rf_3b5d7f9h1j3l5n7p9r1t",
            "202506015520184826401937",
            2000,
            0,
            "2025-06-01 08:10:07",
        ),
    ),
    rows=_line(
        KINDS,
        lambda kind: ONE_LINE_TEXT,
        provider_ref=ONE_LINE_TEXT,
        amount=st.integers(1, 10**15),
        fee=st.integers(-(10**12), 10**12),
        occurred_at=MOMENTS,
    ),
    lines=lambda content: content.split(b"\n"),
    file=lambda content, lines: b"\n".join(lines),
)

CASES = {case.channel: case for case in (ALIPAY, WECHATPAY, UNIONPAY, PUBLIC_PLATFORM)}
