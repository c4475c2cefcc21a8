"""ISO 20022 customer credit transfers: the pain.001 we send a bank, the pain.002 it answers.

Written to the message definitions of pain.001.001.09 (CustomerCreditTransferInitiationV09)
and pain.002.001.10 (CustomerPaymentStatusReportV10), with only what one domestic transfer
from a settlement account needs; every element is in the order the definitions give.

A pain.001 holds one payment information block (``PmtInf``, ``PmtMtd`` TRF) with one
transaction (``CdtTrfTxInf``): ``GrpHdr`` (MsgId, CreDtTm, NbOfTxs 1, CtrlSum, InitgPty),
then ``PmtInfId``, ``PmtMtd``, ``NbOfTxs``, ``CtrlSum``, ``ReqdExctnDt/Dt``, ``Dbtr``,
``DbtrAcct``, ``DbtrAgt`` and the transaction's ``PmtId/EndToEndId``, ``Amt/InstdAmt``,
``CdtrAgt``, ``Cdtr``, ``CdtrAcct`` and ``RmtInf/Ustrd``. Accounts are ``Othr/Id`` (Chinese
accounts have no IBAN); a bank is its BIC (``BICFI``) or its CNAPS bank code
(``ClrSysMmbId`` of clearing system ``CNAPS``), and its name. Amounts are yuan with two
decimals, written from fen without a float.

The pain.002 is read for the original message's group status (``GrpSts``), and per
transaction the original EndToEndId, its status (``TxSts``), the first reason
(``StsRsnInf/Rsn/Cd``, ``AddtlInf``) and the bank's reference (``AcctSvcrRef``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime
from xml.sax.saxutils import escape

from core.money import yuan_text
from integrations.errors import ProviderError

PAIN001_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PAIN002_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
MAX_ID = 35  # MsgId, PmtInfId, EndToEndId: Max35Text
MAX_ACCOUNT = 34  # Othr/Id: Max34Text
MAX_NAME = 140  # Nm: Max140Text
MAX_REMITTANCE = 140  # Ustrd: Max140Text
_BIC = re.compile(r"[A-Z]{6}[A-Z2-9][A-NP-Z0-9]([A-Z0-9]{3})?")
_CNAPS = re.compile(r"\d{12}")

REJECTED = "RJCT"  # of ExternalPaymentGroupStatus1Code and ...TransactionStatus1Code


@dataclass(frozen=True)
class AccountHolder:
    """An account, its holder and the bank keeping it."""

    account: str  # Othr/Id
    name: str
    bank: str = ""  # a BIC or a 12-digit CNAPS bank code (行号); "" when not known
    bank_name: str = ""


@dataclass(frozen=True)
class CreditTransfer:
    """One credit transfer: fixed once, so that every send of it is the same message."""

    message_id: str  # GrpHdr/MsgId (and PmtInfId): unique per message
    end_to_end_id: str  # travels with the money to the statements of both sides
    created_at: datetime  # aware
    execution_date: date  # ReqdExctnDt
    amount_fen: int
    debtor: AccountHolder
    creditor: AccountHolder
    remittance_information: str  # RmtInf/Ustrd
    initiating_party: str  # GrpHdr/InitgPty/Nm
    currency: str = "CNY"


@dataclass(frozen=True)
class TransactionStatus:
    end_to_end_id: str
    status: str  # TxSts: ACSC, ACSP, RJCT, ...
    reason: str = ""  # StsRsnInf/Rsn/Cd, e.g. AC01, AM05
    detail: str = ""  # StsRsnInf/AddtlInf
    bank_ref: str = ""  # AcctSvcrRef: the bank's reference of the booked entry


@dataclass(frozen=True)
class PaymentStatusReport:
    """What a pain.002 says of one pain.001."""

    message_id: str  # the report's own
    original_message_id: str
    group_status: str  # GrpSts; "" when the bank reports transactions only
    transactions: tuple[TransactionStatus, ...] = ()
    reason: str = ""  # the group's first StsRsnInf/Rsn/Cd
    detail: str = ""

    def status_of(self, end_to_end_id: str) -> TransactionStatus | None:
        return next((t for t in self.transactions if t.end_to_end_id == end_to_end_id), None)

    @property
    def rejected(self) -> bool:
        return self.group_status == REJECTED or any(t.status == REJECTED for t in self.transactions)


# pain.001 ---------------------------------------------------------------------------------


def build_pain001(transfer: CreditTransfer) -> bytes:
    """The transfer as a pain.001.001.09 document in UTF-8; ValueError for a value the
    message definition cannot hold."""
    _check(transfer)
    amount = yuan_text(transfer.amount_fen)
    created = transfer.created_at.isoformat(timespec="seconds")
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Document xmlns="{PAIN001_NAMESPACE}">\n<CstmrCdtTrfInitn>\n'
        "  <GrpHdr>\n"
        f"    <MsgId>{_x(transfer.message_id)}</MsgId>\n"
        f"    <CreDtTm>{created}</CreDtTm>\n"
        "    <NbOfTxs>1</NbOfTxs>\n"
        f"    <CtrlSum>{amount}</CtrlSum>\n"
        f"    <InitgPty><Nm>{_x(transfer.initiating_party)}</Nm></InitgPty>\n"
        "  </GrpHdr>\n"
        "  <PmtInf>\n"
        f"    <PmtInfId>{_x(transfer.message_id)}</PmtInfId>\n"
        "    <PmtMtd>TRF</PmtMtd>\n"
        "    <NbOfTxs>1</NbOfTxs>\n"
        f"    <CtrlSum>{amount}</CtrlSum>\n"
        f"    <ReqdExctnDt><Dt>{transfer.execution_date.isoformat()}</Dt></ReqdExctnDt>\n"
        f"    <Dbtr><Nm>{_x(transfer.debtor.name)}</Nm></Dbtr>\n"
        f"    <DbtrAcct>{_account(transfer.debtor)}</DbtrAcct>\n"
        f"    <DbtrAgt>{_agent(transfer.debtor)}</DbtrAgt>\n"
        "    <CdtTrfTxInf>\n"
        f"      <PmtId><EndToEndId>{_x(transfer.end_to_end_id)}</EndToEndId></PmtId>\n"
        f'      <Amt><InstdAmt Ccy="{_x(transfer.currency)}">{amount}</InstdAmt></Amt>\n'
        f"      <CdtrAgt>{_agent(transfer.creditor)}</CdtrAgt>\n"
        f"      <Cdtr><Nm>{_x(transfer.creditor.name)}</Nm></Cdtr>\n"
        f"      <CdtrAcct>{_account(transfer.creditor)}</CdtrAcct>\n"
        f"      <RmtInf><Ustrd>{_x(transfer.remittance_information)}</Ustrd></RmtInf>\n"
        "    </CdtTrfTxInf>\n"
        "  </PmtInf>\n"
        "</CstmrCdtTrfInitn>\n</Document>\n"
    )
    return text.encode("utf-8")


def _check(transfer: CreditTransfer) -> None:
    limits = {
        "message_id": (transfer.message_id, MAX_ID),
        "end_to_end_id": (transfer.end_to_end_id, MAX_ID),
        "debtor account": (transfer.debtor.account, MAX_ACCOUNT),
        "creditor account": (transfer.creditor.account, MAX_ACCOUNT),
        "debtor name": (transfer.debtor.name, MAX_NAME),
        "creditor name": (transfer.creditor.name, MAX_NAME),
        "initiating party": (transfer.initiating_party, MAX_NAME),
        "remittance information": (transfer.remittance_information, MAX_REMITTANCE),
    }
    for what, (value, limit) in limits.items():
        if not value or len(value) > limit:
            raise ValueError(f"the {what} is 1 to {limit} characters")
    if transfer.amount_fen <= 0:
        raise ValueError("a credit transfer moves a positive amount")
    if transfer.created_at.tzinfo is None:
        raise ValueError("the creation time is aware")
    if not re.fullmatch(r"[A-Z]{3}", transfer.currency):
        raise ValueError("the currency is an ISO 4217 code")


def _x(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _account(holder: AccountHolder) -> str:
    return f"<Id><Othr><Id>{_x(holder.account)}</Id></Othr></Id>"


def _agent(holder: AccountHolder) -> str:
    """FinInstnId: BICFI, ClrSysMmbId, Nm and Othr, in the order of the definition."""
    parts = []
    if _BIC.fullmatch(holder.bank):
        parts.append(f"<BICFI>{holder.bank}</BICFI>")
    elif _CNAPS.fullmatch(holder.bank):
        parts.append(
            "<ClrSysMmbId><ClrSysId><Cd>CNAPS</Cd></ClrSysId>"
            f"<MmbId>{holder.bank}</MmbId></ClrSysMmbId>"
        )
    if holder.bank_name:
        parts.append(f"<Nm>{_x(holder.bank_name)}</Nm>")
    if not parts:
        parts.append("<Othr><Id>NOTPROVIDED</Id></Othr>")
    return f"<FinInstnId>{''.join(parts)}</FinInstnId>"


# pain.002 ---------------------------------------------------------------------------------


def parse_pain002(content: bytes) -> PaymentStatusReport:
    """A bank's pain.002 (any version: elements are matched by local name); ProviderError
    when it is not one."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise ProviderError("the payment status report carries a DTD")
    try:
        root = ET.fromstring(content)  # noqa: S314 - no DTD, so no entity can expand
    except ET.ParseError as exc:
        raise ProviderError(f"the payment status report is not XML: {exc}") from exc
    report = _child(root, "CstmrPmtStsRpt")
    group = _child(report, "OrgnlGrpInfAndSts")
    if report is None or group is None:
        raise ProviderError("not a pain.002: no CstmrPmtStsRpt/OrgnlGrpInfAndSts")
    reason, detail = _reason(group)
    transactions = tuple(
        TransactionStatus(
            end_to_end_id=_text(_child(tx, "OrgnlEndToEndId")),
            status=_text(_child(tx, "TxSts")),
            reason=_reason(tx)[0],
            detail=_reason(tx)[1],
            bank_ref=_text(_child(tx, "AcctSvcrRef")),
        )
        for block in _children(report, "OrgnlPmtInfAndSts")
        for tx in _children(block, "TxInfAndSts")
    )
    return PaymentStatusReport(
        message_id=_text(_child(_child(report, "GrpHdr"), "MsgId")),
        original_message_id=_text(_child(group, "OrgnlMsgId")),
        group_status=_text(_child(group, "GrpSts")),
        transactions=transactions,
        reason=reason,
        detail=detail,
    )


def _reason(element: ET.Element) -> tuple[str, str]:
    first = _child(element, "StsRsnInf")
    if first is None:
        return "", ""
    return _text(_child(_child(first, "Rsn"), "Cd")), _text(_child(first, "AddtlInf"))


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element: ET.Element | None, name: str) -> list[ET.Element]:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: ET.Element | None) -> str:
    return "" if element is None or element.text is None else element.text.strip()
