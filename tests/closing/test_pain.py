"""The remittance's credit transfer: our pain.001 as the message definition shapes it, sent
to the sandbox bank over HTTP, answered by its pain.002 and booked on the statement."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pytest_django.live_server_helper import LiveServer

from integrations.banks.formats.camt053 import parse_camt053
from integrations.banks.pain import AccountHolder, CreditTransfer, build_pain001
from integrations.banks.transfers import HttpTransferBank
from integrations.errors import ProviderDeclined
from tests.integrations.helpers import today_in_beijing

pytestmark = pytest.mark.urls("tests.integrations.bank_sandbox_urls")

SANDBOX = "/sandbox/banks"
ACCOUNT = "1202020209000012345"
NS = "{urn:iso:std:iso:20022:tech:xsd:pain.001.001.09}"
TRANSFER = CreditTransfer(
    message_id="CLSMSG0000000000000000000001",
    end_to_end_id="RMTAAAAAAAAAAAAAAAAAAAAAAAA",
    created_at=datetime(2026, 11, 26, 9, 30, tzinfo=UTC),
    execution_date=date(2026, 11, 26),
    amount_fen=495_001,
    debtor=AccountHolder(ACCOUNT, "市市场监督管理局非税收入专户", "ICBKCNBJZJP", "中国工商银行"),
    creditor=AccountHolder(
        "270101040000000002", "国家金库杭州市中心支库", "001331000016", "中国人民银行杭州中心支行"
    ),
    remittance_information="RMTAAAAAAAAAAAAAAAAAAAAAAAA 缴库 SCJG01 2026-11-25",
    initiating_party="市市场监督管理局",
)


@pytest.fixture(autouse=True)
def empty_bank(client, settings):
    settings.SANDBOX_BANKS = {"accounts": [ACCOUNT], "hold_until_day_ends": False}
    client.post(f"{SANDBOX}/_control/reset")


@pytest.fixture
def bank():
    """The sandbox bank on a real port, for the adapter to call."""
    server = LiveServer("127.0.0.1:0")
    yield HttpTransferBank(code="icbc", base_url=f"{server.url}{SANDBOX}")
    server.stop()


def elements(document: bytes) -> ET.Element:
    return ET.fromstring(document)  # noqa: S314 - our own document


def children(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


def test_the_pain001_has_the_required_elements_in_their_order():
    root = elements(build_pain001(TRANSFER))

    assert root.tag == f"{NS}Document"
    initiation = root.find(f"{NS}CstmrCdtTrfInitn")
    header, payment = initiation.find(f"{NS}GrpHdr"), initiation.find(f"{NS}PmtInf")
    assert children(header) == ["MsgId", "CreDtTm", "NbOfTxs", "CtrlSum", "InitgPty"]
    assert children(payment) == [
        "PmtInfId",
        "PmtMtd",
        "NbOfTxs",
        "CtrlSum",
        "ReqdExctnDt",
        "Dbtr",
        "DbtrAcct",
        "DbtrAgt",
        "CdtTrfTxInf",
    ]
    transaction = payment.find(f"{NS}CdtTrfTxInf")
    assert children(transaction) == ["PmtId", "Amt", "CdtrAgt", "Cdtr", "CdtrAcct", "RmtInf"]
    assert payment.findtext(f"{NS}PmtMtd") == "TRF"
    assert payment.findtext(f"{NS}ReqdExctnDt/{NS}Dt") == "2026-11-26"
    assert payment.findtext(f"{NS}DbtrAgt/{NS}FinInstnId/{NS}BICFI") == "ICBKCNBJZJP"
    creditor_bank = transaction.find(f"{NS}CdtrAgt/{NS}FinInstnId/{NS}ClrSysMmbId")
    assert creditor_bank.findtext(f"{NS}ClrSysId/{NS}Cd") == "CNAPS"
    assert creditor_bank.findtext(f"{NS}MmbId") == "001331000016"
    assert transaction.findtext(f"{NS}CdtrAcct/{NS}Id/{NS}Othr/{NS}Id") == "270101040000000002"


def test_amounts_have_two_decimals_and_the_control_sums_add_up():
    root = elements(build_pain001(TRANSFER))

    amounts = [element.text for element in root.iter(f"{NS}InstdAmt")]
    sums = [element.text for element in root.iter(f"{NS}CtrlSum")]
    assert amounts == ["4950.01"]
    assert all(re.fullmatch(r"\d+\.\d\d", text) for text in amounts + sums)
    assert {Decimal(text) for text in sums} == {sum(Decimal(a) for a in amounts)}
    assert next(root.iter(f"{NS}InstdAmt")).get("Ccy") == "CNY"
    assert {element.text for element in root.iter(f"{NS}NbOfTxs")} == {"1"}


def test_a_value_the_definition_cannot_hold_is_refused():
    with pytest.raises(ValueError, match="end_to_end_id"):
        build_pain001(replace(TRANSFER, end_to_end_id="X" * 36))
    with pytest.raises(ValueError, match="positive"):
        build_pain001(replace(TRANSFER, amount_fen=0))


def test_the_bank_books_the_debit_and_answers_a_pain002(client, bank):
    report = bank.initiate_transfer(build_pain001(TRANSFER))

    assert (report.original_message_id, report.group_status, report.rejected) == (
        TRANSFER.message_id,
        "ACCP",
        False,
    )
    transaction = report.status_of(TRANSFER.end_to_end_id)
    assert transaction.status in ("ACSC", "ACSP") and transaction.bank_ref.startswith("SBX")
    booked_on = max(TRANSFER.execution_date, today_in_beijing())
    statement = client.get(f"{SANDBOX}/statements/{ACCOUNT}/{booked_on}")
    [debit] = parse_camt053(statement.content).to_dict("records")
    assert (debit["amount"], debit["bank_ref"]) == (-495_001, transaction.bank_ref)
    assert debit["counterparty_account"] == "270101040000000002"
    assert TRANSFER.end_to_end_id in debit["description"]


def test_the_same_message_again_gets_the_same_answer_and_moves_no_money(client, bank):
    first = bank.initiate_transfer(build_pain001(TRANSFER))
    again = bank.initiate_transfer(build_pain001(TRANSFER))

    assert again == first
    entries = client.get(f"{SANDBOX}/_control/accounts/{ACCOUNT}/entries").json()["entries"]
    assert [entry["amount"] for entry in entries] == [-495_001]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"message_id": "CLSMSG0000000000000000000001", "amount_fen": 1}, "DU01"),
        ({"message_id": "CLSMSG0000000000000000000002"}, "AM05"),
        (
            {"message_id": "CLSMSG0000000000000000000003", "debtor": AccountHolder("999", "x")},
            "AC01",
        ),
        ({"message_id": "CLSMSG0000000000000000000004", "currency": "USD"}, "AM03"),
    ],
)
def test_the_bank_refuses_with_the_reason_code(bank, change, reason):
    bank.initiate_transfer(build_pain001(TRANSFER))

    report = bank.initiate_transfer(build_pain001(replace(TRANSFER, **change)))

    assert (report.rejected, report.group_status, report.reason) == (True, "RJCT", reason)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ((b"<CtrlSum>4950.01</CtrlSum>", b"<CtrlSum>4950.02</CtrlSum>"), "AM10"),
        ((b"<NbOfTxs>1</NbOfTxs>", b"<NbOfTxs>2</NbOfTxs>"), "AM18"),
        ((b'">4950.01</InstdAmt>', b'">4950.011</InstdAmt>'), "AM12"),
        ((b"<PmtMtd>TRF</PmtMtd>", b"<PmtMtd>CHK</PmtMtd>"), "FF01"),
    ],
)
def test_a_message_whose_figures_do_not_add_up_is_refused(client, bank, edit, reason):
    old, new = edit
    document = build_pain001(TRANSFER).replace(old, new, 1)

    report = bank.initiate_transfer(document)

    assert (report.rejected, report.reason) == (True, reason)
    assert client.get(f"{SANDBOX}/_control/accounts/{ACCOUNT}/entries").json()["entries"] == []


def test_a_body_that_is_no_pain001_is_declined(bank):
    with pytest.raises(ProviderDeclined) as declined:
        bank.initiate_transfer(b"<Document/>")

    assert declined.value.code == "invalid_document"
