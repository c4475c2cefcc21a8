"""The bank's side of ISO 20022 credit transfers: a pain.001 read and checked, a pain.002 written.

Read to the message definition of pain.001.001.09 (CustomerCreditTransferInitiationV09):
``GrpHdr`` (MsgId, CreDtTm, NbOfTxs, CtrlSum, InitgPty), one or more ``PmtInf`` (PmtInfId,
PmtMtd ``TRF``, NbOfTxs, CtrlSum, ReqdExctnDt, Dbtr, DbtrAcct, DbtrAgt) each with its
``CdtTrfTxInf`` (PmtId/EndToEndId, Amt/InstdAmt, Cdtr, CdtrAcct, RmtInf/Ustrd). A
document that breaks the definition, or whose counts and control sums do not add up, is
refused with the reason code of ExternalStatusReason1Code a bank gives:

- ``FF01`` invalid file format: a required element missing, a text too long, a bad date;
- ``AM12`` invalid amount: not positive, or more than two decimals;
- ``AM18`` the number of transactions is not NbOfTxs;
- ``AM10`` the amounts do not add up to CtrlSum;
- ``AM03`` a currency other than CNY.

The answer is a pain.002.001.10 (CustomerPaymentStatusReportV10): the group's status and
each transaction's, its reason when refused, and the bank's reference of the entry it
booked.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from xml.sax.saxutils import escape

PAIN001 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
PAIN002 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
MAX_ID = 35
MAX_ACCOUNT = 34
MAX_NAME = 140
MAX_INFO = 105  # AddtlInf, Max105Text
_AMOUNT = re.compile(r"\d{1,16}(\.\d{1,5})?")
_NUMBER = re.compile(r"[0-9]{1,15}")


class Refused(Exception):
    """The document is refused as a whole, with a reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class NotPain001(Exception):
    """The body is not a pain.001.001.09 at all: there is no message to report on."""


@dataclass(frozen=True)
class Transfer:
    payment_information_id: str
    end_to_end_id: str
    fen: int
    currency: str
    execution_date: date
    debtor_account: str
    creditor_account: str
    creditor_name: str
    remittance: str


@dataclass(frozen=True)
class Message:
    message_id: str
    control_sum: str  # as written, for the report; "" when absent
    transfers: tuple[Transfer, ...] = field(default_factory=tuple)


def message_id_of(content: bytes) -> str:
    """The MsgId of a pain.001.001.09 document; NotPain001 when it is not one."""
    root = _root(content)
    message_id = _text(root, "GrpHdr", "MsgId")
    if not message_id or len(message_id) > MAX_ID:
        raise NotPain001("GrpHdr/MsgId is missing or longer than 35 characters")
    return message_id


def read_pain001(content: bytes) -> Message:
    """The document's transfers; Refused with a reason code when it breaks a rule."""
    root = _root(content)
    header = _one(root, "GrpHdr")
    message_id = _required(header, "MsgId", limit=MAX_ID)
    _datetime(_required(header, "CreDtTm"), "GrpHdr/CreDtTm")
    if _child(header, "InitgPty") is None:
        raise Refused("FF01", "GrpHdr/InitgPty is missing")
    blocks = _children(root, "PmtInf")
    if not blocks:
        raise Refused("FF01", "no PmtInf")
    transfers = [transfer for block in blocks for transfer in _block(block)]
    _counted(header, "GrpHdr", [t.fen for t in transfers])
    if any(t.currency != "CNY" for t in transfers):
        raise Refused("AM03", "this bank transfers CNY only")
    return Message(message_id, _text(header, "CtrlSum"), tuple(transfers))


def _block(block: ET.Element) -> list[Transfer]:
    information_id = _required(block, "PmtInfId", limit=MAX_ID)
    if _required(block, "PmtMtd") != "TRF":
        raise Refused("FF01", f"PmtInf {information_id}: PmtMtd is not TRF")
    requested = _one(block, "ReqdExctnDt")
    when = _text(requested, "Dt") or _text(requested, "DtTm")[:10]
    execution_date = _date(when, f"PmtInf {information_id}: ReqdExctnDt")
    if not _text(block, "Dbtr", "Nm"):
        raise Refused("FF01", f"PmtInf {information_id}: Dbtr/Nm is missing")
    debtor_account = _account(_one(block, "DbtrAcct"), f"PmtInf {information_id}: DbtrAcct")
    if _child(_one(block, "DbtrAgt"), "FinInstnId") is None:
        raise Refused("FF01", f"PmtInf {information_id}: DbtrAgt/FinInstnId is missing")
    transfers = []
    for tx in _children(block, "CdtTrfTxInf"):
        end_to_end_id = _text(tx, "PmtId", "EndToEndId")
        if not end_to_end_id or len(end_to_end_id) > MAX_ID:
            raise Refused("FF01", "PmtId/EndToEndId is missing or longer than 35 characters")
        amount = _one(_one(tx, "Amt"), "InstdAmt")
        creditor_name = _text(tx, "Cdtr", "Nm")
        if not creditor_name or len(creditor_name) > MAX_NAME:
            raise Refused("FF01", f"{end_to_end_id}: Cdtr/Nm is missing or too long")
        transfers.append(
            Transfer(
                payment_information_id=information_id,
                end_to_end_id=end_to_end_id,
                fen=_fen(amount.text or "", end_to_end_id),
                currency=amount.get("Ccy", ""),
                execution_date=execution_date,
                debtor_account=debtor_account,
                creditor_account=_account(_one(tx, "CdtrAcct"), f"{end_to_end_id}: CdtrAcct"),
                creditor_name=creditor_name,
                remittance=" ".join(
                    (u.text or "").strip()
                    for r in _children(tx, "RmtInf")
                    for u in _children(r, "Ustrd")
                ),
            )
        )
    if not transfers:
        raise Refused("FF01", f"PmtInf {information_id}: no CdtTrfTxInf")
    _counted(block, f"PmtInf {information_id}", [t.fen for t in transfers])
    return transfers


def _counted(element: ET.Element, where: str, amounts: list[int]) -> None:
    """NbOfTxs (required in GrpHdr) and CtrlSum (when given) against the transactions."""
    count = _text(element, "NbOfTxs")
    if (count or where == "GrpHdr") and (
        not _NUMBER.fullmatch(count) or int(count) != len(amounts)
    ):
        raise Refused("AM18", f"{where}: NbOfTxs {count!r}, {len(amounts)} transactions")
    written = _text(element, "CtrlSum")
    if written and (
        not _AMOUNT.fullmatch(written) or Decimal(written) != Decimal(sum(amounts)) / 100
    ):
        raise Refused("AM10", f"{where}: CtrlSum {written} is not the sum of the amounts")


def _root(content: bytes) -> ET.Element:
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        raise NotPain001("a document with a DTD is refused")
    try:
        document = ET.fromstring(content)  # noqa: S314 - no DTD: nothing can expand
    except ET.ParseError as exc:
        raise NotPain001(f"not XML: {exc}") from exc
    if document.tag != f"{{{PAIN001}}}Document":
        raise NotPain001(f"not a {PAIN001} Document")
    initiation = document.find(f"{{{PAIN001}}}CstmrCdtTrfInitn")
    if initiation is None:
        raise NotPain001("no CstmrCdtTrfInitn")
    return initiation


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return element.findall(f"{{{PAIN001}}}{name}")


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return element.find(f"{{{PAIN001}}}{name}")


def _one(element: ET.Element, name: str) -> ET.Element:
    found = _child(element, name)
    if found is None:
        raise Refused("FF01", f"{name} is missing")
    return found


def _text(element: ET.Element, *path: str) -> str:
    for name in path:
        element = _child(element, name)
        if element is None:
            return ""
    return (element.text or "").strip()


def _required(element: ET.Element, name: str, *, limit: int = MAX_NAME) -> str:
    value = _text(element, name)
    if not value or len(value) > limit:
        raise Refused("FF01", f"{name} is missing or longer than {limit} characters")
    return value


def _account(account: ET.Element, where: str) -> str:
    number = _text(account, "Id", "IBAN") or _text(account, "Id", "Othr", "Id")
    if not number or len(number) > MAX_ACCOUNT:
        raise Refused("FF01", f"{where}: Id/IBAN or Id/Othr/Id is missing or too long")
    return number


def _fen(text: str, where: str) -> int:
    text = text.strip()
    if not _AMOUNT.fullmatch(text):
        raise Refused("AM12", f"{where}: amount {text!r} is not a decimal number")
    hundredths = Decimal(text) * 100
    if hundredths != hundredths.to_integral_value() or hundredths <= 0:
        raise Refused("AM12", f"{where}: amount {text} is not a positive number of fen")
    return int(hundredths)


def _date(text: str, where: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Refused("FF01", f"{where}: {text!r} is not a date") from None


def _datetime(text: str, where: str) -> None:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise Refused("FF01", f"{where}: {text!r} is not a date and time") from None


# The answer ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransactionAnswer:
    payment_information_id: str
    end_to_end_id: str
    status: str  # ACSC booked, ACSP booked for a later date, RJCT refused
    reason: str = ""
    detail: str = ""
    bank_ref: str = ""


def render_pain002(
    *,
    report_id: str,
    created: datetime,
    original_message_id: str,
    group_status: str,
    transactions: list[TransactionAnswer],
    control_sum: str = "",
    reason: str = "",
    detail: str = "",
) -> bytes:
    """The status report of one pain.001 (UTF-8)."""
    blocks: dict[str, list[TransactionAnswer]] = {}
    for answer in transactions:
        blocks.setdefault(answer.payment_information_id, []).append(answer)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<Document xmlns="{PAIN002}">\n<CstmrPmtStsRpt>\n',
        f"  <GrpHdr><MsgId>{_x(report_id)}</MsgId>"
        f"<CreDtTm>{created.isoformat(timespec='seconds')}</CreDtTm></GrpHdr>\n",
        "  <OrgnlGrpInfAndSts>\n",
        f"    <OrgnlMsgId>{_x(original_message_id)}</OrgnlMsgId>\n",
        "    <OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>\n",
    ]
    if transactions:
        parts.append(f"    <OrgnlNbOfTxs>{len(transactions)}</OrgnlNbOfTxs>\n")
    if control_sum:
        parts.append(f"    <OrgnlCtrlSum>{_x(control_sum)}</OrgnlCtrlSum>\n")
    parts.append(f"    <GrpSts>{group_status}</GrpSts>\n")
    parts.append(_reason(reason, detail, "    "))
    parts.append("  </OrgnlGrpInfAndSts>\n")
    for information_id, answers in blocks.items():
        parts.append(
            f"  <OrgnlPmtInfAndSts>\n    <OrgnlPmtInfId>{_x(information_id)}</OrgnlPmtInfId>\n"
        )
        for answer in answers:
            parts.append(
                "    <TxInfAndSts>\n"
                f"      <OrgnlEndToEndId>{_x(answer.end_to_end_id)}</OrgnlEndToEndId>\n"
                f"      <TxSts>{answer.status}</TxSts>\n"
                + _reason(answer.reason, answer.detail, "      ")
                + (
                    f"      <AcctSvcrRef>{_x(answer.bank_ref)}</AcctSvcrRef>\n"
                    if answer.bank_ref
                    else ""
                )
                + "    </TxInfAndSts>\n"
            )
        parts.append("  </OrgnlPmtInfAndSts>\n")
    parts.append("</CstmrPmtStsRpt>\n</Document>\n")
    return "".join(parts).encode("utf-8")


def _reason(code: str, detail: str, indent: str) -> str:
    if not code:
        return ""
    info = f"<AddtlInf>{_x(detail[:MAX_INFO])}</AddtlInf>" if detail else ""
    return f"{indent}<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn>{info}</StsRsnInf>\n"


def _x(text: str) -> str:
    return escape(text)
