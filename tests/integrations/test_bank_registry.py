"""Format names, and the banks configured in settings.BANKS."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from django.core.exceptions import ImproperlyConfigured

from core import outside as registry
from integrations.banks.base import BankStatementFormat, parse_bank_statement
from integrations.banks.formats.csv_layout import CsvLayout
from integrations.banks.http import HttpStatementBank
from integrations.banks.registry import UnknownBank
from integrations.statements import StatementInvalid

FIXTURES = Path(__file__).parents[1] / "fixtures" / "banks"
CAMT = (FIXTURES / "genkgo__camt053.v4.xml").read_bytes()
MT940 = (FIXTURES / "wolph__mBank__mt940.sta").read_bytes()


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("camt053", (BankStatementFormat.CAMT053, "")),
        ("mt940", (BankStatementFormat.MT940, "")),
        ("mt940:gb18030", (BankStatementFormat.MT940, "gb18030")),
        ("csv:icbc_example", (BankStatementFormat.CSV, "icbc_example")),
    ],
)
def test_format_names(fmt, expected):
    assert BankStatementFormat.of(fmt) == expected


@pytest.mark.parametrize("fmt", ["", "pdf", "csv", "camt053:v8", "CAMT053"])
def test_what_is_not_a_format_name(fmt):
    with pytest.raises(ValueError, match="no bank statement format"):
        BankStatementFormat.of(fmt)


def test_each_format_goes_to_its_parser():
    assert parse_bank_statement(CAMT, "camt053")["bank_ref"].tolist() == ["AAAASESS-FP-CN_98765/01"]
    assert parse_bank_statement(MT940, "mt940")["amount"].tolist() == [1, 1, 1]
    content = (
        "账号,记账日期,起息日,借贷方向,交易金额,币种,对方户名,对方账号,摘要,账户明细编号-交易流水号\n"
        "1,20260301,20260301,贷,1.00,人民币,,,,r\n"
    )
    assert parse_bank_statement(content.encode(), "csv:ccb_example")["amount"].tolist() == [100]
    with pytest.raises(StatementInvalid, match="not well-formed XML"):
        parse_bank_statement(MT940, "camt053")
    with pytest.raises(ValueError, match="no CSV layout 'nobank'"):
        parse_bank_statement(b"", "csv:nobank")


BANKS = {
    "icbc": {
        "format": "camt053",
        "base_url": "https://bank.example/api/",
        "accounts": ["1001", "1002"],
    },
    "hzbank": {
        "format": "csv:hzbank",
        "base_url": "https://hzbank.example",
        "accounts": ["2001"],
        "csv_layout": {
            "columns": {"account": "账号", "booking_date": "日期", "amount": "金额"},
            "amount_unit": "fen",
            "date_format": "%Y%m%d",
            "summary_marks": ["合计"],
        },
    },
}


def test_a_configured_bank_is_an_http_adapter_in_its_format(settings):
    settings.BANKS = BANKS

    bank = registry.get_bank("icbc")

    assert isinstance(bank, HttpStatementBank)
    assert (bank.code, bank.base_url, bank.format) == (
        "icbc",
        "https://bank.example/api",
        "camt053",
    )
    assert registry.bank_format("hzbank") == "csv:hzbank"
    assert registry.bank_codes() == ("icbc", "hzbank")
    with pytest.raises(UnknownBank):
        registry.get_bank("boc")


def test_a_banks_own_csv_layout_is_known_by_its_format_name(settings):
    settings.BANKS = BANKS
    content = "账号,日期,金额\n2001,20260301,-125\n合计,,-125\n".encode()

    frame = registry.parse_bank_statement(content, "csv:hzbank")

    assert frame[["line_no", "account", "amount"]].values.tolist() == [[2, "2001", -125]]
    assert frame["booking_date"].tolist() == [pd.Timestamp(date(2026, 3, 1))]
    assert isinstance(registry.csv_layouts()["hzbank"], CsvLayout)
    assert "icbc_example" in registry.csv_layouts()


def test_a_bank_configured_wrongly_is_said_so(settings):
    settings.BANKS = {
        "a": {"format": "camt053"},
        "b": {"format": "csv:b", "base_url": "x", "csv_layout": {"columns": {"amount": "a"}}},
    }

    with pytest.raises(ImproperlyConfigured, match="BANKS\\['a'\\] lacks base_url"):
        registry.get_bank("a")
    with pytest.raises(ImproperlyConfigured, match="csv_layout"):
        registry.csv_layouts()


def test_the_embedded_settings_point_every_bank_at_the_sandbox():
    from django.conf import settings

    assert settings.BANKS, "local settings configure banks"
    for code, config in settings.BANKS.items():
        assert config["base_url"].endswith("/sandbox/banks"), code
        BankStatementFormat.of(config["format"])
        assert set(config["accounts"]) <= set(settings.SANDBOX_BANKS["accounts"])
