"""The revenue system's daily record file as the revenue frame (read with Arrow)."""

from __future__ import annotations

import pandas as pd
import pytest

from integrations.revenue.http_json.records import DAILY_COLUMNS, parse_daily_records
from integrations.statements import REVENUE_COLUMNS, StatementInvalid

HEADER = ",".join(DAILY_COLUMNS)


def records(*lines: str) -> bytes:
    return "\n".join([HEADER, *lines, ""]).encode()


def test_the_records_are_read_with_their_times_in_utc_whatever_the_iso_form():
    frame = parse_daily_records(
        records(
            "rv_1,33010026000000012345,330100-SCJG,3000,payment,2025-11-03T08:00:01+08:00",
            "rv_2,33010026000000012345,330100-SCJG,1000,refund,2025-11-03T01:00:01Z",
            'rv_3,"33010026000000067890",330100-SCJG,-5,payment,2025-11-02T23:59:59.5-01:00',
        )
    )

    assert list(frame.columns) == list(REVENUE_COLUMNS)
    assert frame["line_no"].tolist() == [2, 3, 4]
    assert frame["payment_code"].tolist() == [
        "33010026000000012345",
        "33010026000000012345",
        "33010026000000067890",
    ]
    assert frame["amount"].tolist() == [3000, 1000, -5]
    assert frame["kind"].tolist() == ["payment", "refund", "payment"]
    assert frame["received_at"].tolist() == [
        pd.Timestamp("2025-11-03 00:00:01", tz="UTC"),
        pd.Timestamp("2025-11-03 01:00:01", tz="UTC"),
        pd.Timestamp("2025-11-03 00:59:59.5", tz="UTC"),
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "rv_9,3301,330100-SCJG,12.5,payment,2025-11-03T08:00:01+08:00",
        "rv_9,3301,330100-SCJG,,payment,2025-11-03T08:00:01+08:00",
        "rv_9,3301,330100-SCJG,12,reversal,2025-11-03T08:00:01+08:00",
        "rv_9,3301,330100-SCJG,12,payment,yesterday",
        "rv_9,3301,330100-SCJG,12,payment,2025-02-30T08:00:01+08:00",
    ],
)
def test_the_first_bad_record_is_refused_by_its_line(bad):
    good = "rv_1,3301,330100-SCJG,12,payment,2025-11-03T08:00:01+08:00"

    with pytest.raises(StatementInvalid) as refused:
        parse_daily_records(records(good, bad, bad))

    assert refused.value.line == 3


def test_a_file_that_is_not_the_record_file_is_refused():
    with pytest.raises(StatementInvalid) as header:
        parse_daily_records(b"a,b\n1,2\n")
    with pytest.raises(StatementInvalid) as empty:
        parse_daily_records(b"")

    assert (header.value.line, empty.value.line) == (1, 0)


def test_a_file_of_no_records_is_an_empty_frame():
    frame = parse_daily_records(records())

    assert frame.empty and list(frame.columns) == list(REVENUE_COLUMNS)


def test_a_file_read_in_several_blocks_keeps_its_line_numbers(monkeypatch):
    monkeypatch.setattr("integrations.revenue.http_json.records._BLOCK_BYTES", 128)
    lines = [
        f"rv_{i},3301{i:016d},330100-SCJG,{i},payment,2025-11-03T08:00:01+08:00"
        for i in range(1, 41)
    ]

    frame = parse_daily_records(records(*lines))
    with pytest.raises(StatementInvalid) as refused:
        parse_daily_records(records(*lines[:30], "rv_x,3301,330100-SCJG,1,reversal,x", *lines))

    assert frame["line_no"].tolist() == list(range(2, 42))
    assert frame["amount"].tolist() == list(range(1, 41))
    assert frame["record_id"].tolist() == [f"rv_{i}" for i in range(1, 41)]
    assert refused.value.line == 32
