"""The sandbox bank through Django's test client, and the statement adapter over HTTP."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest
from pytest_django.live_server_helper import LiveServer

from integrations.banks.base import ProviderDeclined, ProviderUnavailable, StatementNotReady
from integrations.banks.formats.camt053 import parse_camt053
from integrations.banks.formats.csv_layout import CCB_EXAMPLE, parse_csv
from integrations.banks.formats.mt940 import parse_mt940
from integrations.banks.http import HttpStatementBank
from tests.integrations.helpers import today_in_beijing, unreachable_url

pytestmark = pytest.mark.urls("tests.integrations.bank_sandbox_urls")

ACCOUNT = "1202020209000012345"
SANDBOX = "/sandbox/banks"
DAY = date(2026, 3, 1)


@pytest.fixture(autouse=True)
def empty_bank(client, settings):
    settings.SANDBOX_BANKS = {"accounts": [ACCOUNT], "hold_until_day_ends": True}
    client.post(f"{SANDBOX}/_control/reset")


def book(client, account: str = ACCOUNT, **entry: object):
    return client.post(
        f"{SANDBOX}/_control/accounts/{account}/entries", entry, content_type="application/json"
    )


def statement(client, day: date = DAY, account: str = ACCOUNT, **query: str):
    return client.get(f"{SANDBOX}/statements/{account}/{day.isoformat()}", query)


ALIPAY_CLEARING = {
    "amount": 1234567,
    "value_date": "2026-03-01",
    "counterparty": {"account": "3301040160000000001", "name": "支付宝（中国）网络技术有限公司"},
    "reference": "ALI20260301",
    "description": "清算 2026-02-28",
}


def test_a_booked_credit_is_on_the_days_camt053_statement(client):
    assert book(client, **ALIPAY_CLEARING).status_code == 201
    assert (
        book(client, amount=-350, value_date="2026-03-01", description="手续费").status_code == 201
    )

    response = statement(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    frame = parse_camt053(response.content)
    assert frame.drop(columns=["line_no", "bank_ref"]).to_dict("records") == [
        {
            "account": ACCOUNT,
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": 1234567,
            "currency": "CNY",
            "counterparty_account": "3301040160000000001",
            "counterparty_name": "支付宝（中国）网络技术有限公司",
            "description": "清算 2026-02-28",
        },
        {
            "account": ACCOUNT,
            "booking_date": pd.Timestamp("2026-03-01"),
            "value_date": pd.Timestamp("2026-03-01"),
            "amount": -350,
            "currency": "CNY",
            "counterparty_account": "",
            "counterparty_name": "",
            "description": "手续费",
        },
    ]
    assert frame["bank_ref"][0] == "ALI20260301"
    assert frame["bank_ref"][1].startswith("SBX") and len(frame["bank_ref"][1]) == 16


def test_only_the_days_bookings_are_on_it_and_earlier_ones_make_its_opening_balance(client):
    book(client, amount=5000, value_date="2026-02-27", booking_date="2026-02-28")
    book(client, amount=700, value_date="2026-02-28", booking_date="2026-03-01")
    book(client, amount=9, value_date="2026-03-02")

    response = statement(client)

    frame = parse_camt053(response.content)
    assert frame[["amount", "value_date"]].values.tolist() == [[700, pd.Timestamp("2026-02-28")]]
    assert '<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">50.00</Amt>' in response.content.decode()
    assert '<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CNY">57.00</Amt>' in response.content.decode()


def test_the_same_day_in_mt940_and_in_a_csv_layout(client):
    book(client, **ALIPAY_CLEARING)

    swift = statement(client, format="mt940")
    export = statement(client, format="csv:ccb_example")

    assert swift["Content-Type"] == "text/plain; charset=utf-8"
    assert parse_mt940(swift.content)[
        ["amount", "bank_ref", "counterparty_account"]
    ].values.tolist() == [[1234567, "ALI20260301", "3301040160000000001"]]
    assert parse_csv(export.content, CCB_EXAMPLE)[
        ["amount", "bank_ref", "description"]
    ].values.tolist() == [[1234567, "ALI20260301", "清算 2026-02-28"]]


def test_an_mt940_encoding_can_be_asked_for(client):
    book(client, **ALIPAY_CLEARING)

    response = statement(client, format="mt940:gb18030")

    assert "支付宝".encode("gb18030") in response.content
    assert parse_mt940(response.content, encoding="gb18030")["counterparty_name"].tolist() == [
        "支付宝（中国）网络技术有限公司"
    ]


def test_a_day_that_has_not_ended_has_no_statement_yet(client, settings):
    today = today_in_beijing()

    waiting = statement(client, day=today)
    settings.SANDBOX_BANKS = {**settings.SANDBOX_BANKS, "hold_until_day_ends": False}
    served = statement(client, day=today)

    assert waiting.status_code == 404 and waiting.json()["code"] == "statement_not_ready"
    assert served.status_code == 200
    assert statement(client, day=today - timedelta(days=1)).status_code == 200


def test_a_day_ended_early_has_its_statement_before_it_ends(client):
    tomorrow = today_in_beijing() + timedelta(days=1)
    book(client, **{**ALIPAY_CLEARING, "value_date": tomorrow.isoformat()})

    waiting = statement(client, day=tomorrow)
    ended = client.post(f"{SANDBOX}/_control/days/{tomorrow.isoformat()}/end")
    served = statement(client, day=tomorrow)

    assert waiting.status_code == 404 and waiting.json()["code"] == "statement_not_ready"
    assert ended.status_code == 200
    assert served.status_code == 200
    assert parse_camt053(served.content)["amount"].tolist() == [ALIPAY_CLEARING["amount"]]
    assert statement(client, day=tomorrow + timedelta(days=1)).status_code == 404
    assert client.post(f"{SANDBOX}/_control/days/2026-02-30/end").status_code == 400


def test_an_unknown_account_date_or_format_is_refused(client):
    assert statement(client, account="999").json()["code"] == "no_such_account"
    assert client.get(f"{SANDBOX}/statements/{ACCOUNT}/2026-02-30").json()["code"] == "invalid_date"
    assert statement(client, format="pdf").json()["code"] == "invalid_format"
    assert statement(client, format="csv:nobank").json()["code"] == "invalid_format"


@pytest.mark.parametrize(
    "entry",
    [
        {"amount": 12.5, "value_date": "2026-03-01"},
        {"amount": 0, "value_date": "2026-03-01"},
        {"amount": 100, "value_date": "2026-02-30"},
        {"amount": 100, "value_date": "2026-03-01", "description": "x" * 141},
        {"amount": 100, "value_date": "2026-03-01", "counterparty": "支付宝"},
    ],
)
def test_a_malformed_entry_is_refused_and_nothing_is_booked(client, entry):
    response = book(client, entries=[{"amount": 1, "value_date": "2026-03-01"}, entry])

    assert response.status_code == 400 and response.json()["code"] == "invalid_entry"
    assert client.get(f"{SANDBOX}/_control/accounts/{ACCOUNT}/entries").json()["entries"] == []


def test_posting_to_a_new_account_opens_it(client):
    assert statement(client, account="6222000000000001").status_code == 404

    book(client, account="6222000000000001", amount=1, value_date="2026-03-01")

    assert parse_camt053(statement(client, account="6222000000000001").content)[
        "amount"
    ].tolist() == [1]


# -- the adapter over HTTP --------------------------------------------------------------


@pytest.fixture
def bank_server():
    """The sandbox bank on a real port (this module's URLs), for the adapter to call."""
    server = LiveServer("127.0.0.1:0")
    yield server
    server.stop()


def adapter(server: LiveServer, fmt: str = "camt053") -> HttpStatementBank:
    return HttpStatementBank(code="icbc", base_url=f"{server.url}{SANDBOX}/", format=fmt)


def test_the_adapter_fetches_the_statement_bytes_in_the_banks_format(client, bank_server):
    book(client, **ALIPAY_CLEARING)

    camt = adapter(bank_server).fetch_statement(ACCOUNT, DAY)
    swift = adapter(bank_server, "mt940").fetch_statement(ACCOUNT, DAY)
    export = adapter(bank_server, "csv:ccb_example").fetch_statement(ACCOUNT, DAY)

    assert camt.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert parse_camt053(camt)["amount"].tolist() == [1234567]
    assert swift.startswith(b":20:STMT20260301\n:25:1202020209000012345\n")
    assert parse_csv(export, CCB_EXAMPLE)["bank_ref"].tolist() == ["ALI20260301"]


def test_the_adapter_says_when_the_statement_is_not_ready_or_the_account_unknown(bank_server):
    bank = adapter(bank_server)

    with pytest.raises(StatementNotReady, match="after the day ends"):
        bank.fetch_statement(ACCOUNT, today_in_beijing())
    with pytest.raises(ProviderDeclined) as declined:
        bank.fetch_statement("999", DAY)
    assert declined.value.code == "no_such_account"


def test_a_bank_that_does_not_answer_is_unavailable_which_is_retryable(stub_server):
    down = HttpStatementBank(code="icbc", base_url=unreachable_url(), format="camt053")
    failing = HttpStatementBank(
        code="icbc", base_url=stub_server([(503, b"busy")]).url, format="camt053"
    )

    with pytest.raises(ProviderUnavailable):
        down.fetch_statement(ACCOUNT, DAY)
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        failing.fetch_statement(ACCOUNT, DAY)


def test_an_adapter_for_an_unknown_format_cannot_be_made():
    with pytest.raises(ValueError, match="no bank statement format 'pdf'"):
        HttpStatementBank(code="icbc", base_url="http://bank", format="pdf")
