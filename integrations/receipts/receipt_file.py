"""A receipt file read, and its two signatures verified (docs/receipt_platform.md).

The file is ``EInvoice`` holding ``Header``, ``EInvoiceData`` and ``EInvoiceSignature``
with two ``Signature`` nodes. The issuing unit's signs its original, the canonical XML
(C14N) of Header followed by that of EInvoiceData, each taken as a document of its own;
the finance department's signs SM3 of that original followed by the issuing unit's
signature value. Both are SM2 with SM3 and the default user id, DER in Base64, and are
verified with the published key that ``KeyInfo/SerialNumber`` names.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from xml.etree import ElementTree as ET

from integrations.crypto import sm2, sm3
from integrations.receipts import wire
from integrations.receipts.base import (
    InvalidReceipt,
    IssuedReceipt,
    PayerType,
    ReceiptFace,
    ReceiptItem,
    ReceiptSignature,
)

BEIJING = timezone(timedelta(hours=8))
MAX_SIZE = 1 << 20  # bytes of a receipt file
MAX_ZIP_SIZE = 256 << 20  # bytes of the receipt files of one download, unpacked
ISSUER_REFERENCE = "Header,EInvoiceData"
FINANCE_REFERENCE = "SM3(Header,EInvoiceData),Signature[1]/SignatureValue"
SIGNATURE_ALGORITHM = "SM2-SM3"
_PARTS = ["Header", "EInvoiceData", "EInvoiceSignature"]
_CODE = re.compile(r"[0-9]{8}")
_NUMBER = re.compile(r"[0-9]{10}")
_CHECK_CODE = re.compile(r"[0-9A-Za-z]{6}")
_QUANTITY = re.compile(r"-?[0-9]{1,12}(\.[0-9]{1,6})?")


def read_receipt(
    xml: bytes,
    *,
    issuer_keys: Mapping[str, sm2.PublicKey],
    finance_keys: Mapping[str, sm2.PublicKey],
) -> IssuedReceipt:
    """The receipt in ``xml``, once both signatures verify with the keys (by serial
    number); InvalidReceipt otherwise."""
    root = _parsed(xml)
    header, data, signatures = root
    issuer_node, finance_node = _signature_nodes(signatures)
    issuer_value, issuer = _signature(issuer_node, ISSUER_REFERENCE)
    finance_value, finance = _signature(finance_node, FINANCE_REFERENCE)
    original = signed_original(header, data)
    key = _key(issuer_keys, issuer, "issuing unit")
    if not sm2.verify(issuer_value, original, key):
        raise InvalidReceipt("the issuing unit's signature does not verify")
    key = _key(finance_keys, finance, "finance department")
    if not sm2.verify(finance_value, sm3.digest(original) + issuer_value, key):
        raise InvalidReceipt("the finance department's signature does not verify")
    return _receipt(data, xml, issuer, finance)


def signed_original(header: ET.Element, data: ET.Element) -> bytes:
    """The issuing unit's original: C14N of Header, then of EInvoiceData."""
    return _canonical(header) + _canonical(data)


def xml_files_from_zip(content: bytes) -> list[bytes]:
    """The receipt files in a download's zip, in its order: each a .xml of at most
    MAX_SIZE bytes, MAX_ZIP_SIZE bytes in all once unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            if any(not m.filename.endswith(".xml") or m.file_size > MAX_SIZE for m in members):
                raise InvalidReceipt(
                    "the zip holds a file that is not a receipt's .xml, or too large"
                )
            if sum(member.file_size for member in members) > MAX_ZIP_SIZE:
                raise InvalidReceipt("the zip's files are too large together")
            return [_unpacked(archive, member) for member in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise InvalidReceipt(f"not a readable zip: {exc}") from exc


def _unpacked(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """A member's bytes; no more than its declared size is read, and its CRC is checked."""
    with archive.open(member) as opened:
        content = opened.read(MAX_SIZE + 1)
    if len(content) > MAX_SIZE:
        raise InvalidReceipt("a receipt file in the zip is too large")
    return content


def _parsed(xml: bytes) -> ET.Element:
    if len(xml) > MAX_SIZE:
        raise InvalidReceipt("the receipt file is too large")
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:
        raise InvalidReceipt("a DTD is not allowed in a receipt")
    try:
        root = ET.fromstring(xml)  # noqa: S314 - no DTD, so no entities to expand
    except ET.ParseError as exc:
        raise InvalidReceipt(f"not well-formed XML: {exc}") from exc
    if root.tag != "EInvoice" or [part.tag for part in root] != _PARTS:
        raise InvalidReceipt("not an EInvoice of Header, EInvoiceData and EInvoiceSignature")
    if any((text or "").strip() for text in [root.text, *(part.tail for part in root)]):
        raise InvalidReceipt("text between the parts of EInvoice")
    return root


def _canonical(element: ET.Element) -> bytes:
    alone = copy.copy(element)
    alone.tail = None
    return ET.canonicalize(ET.tostring(alone, encoding="unicode")).encode("utf-8")


def _signature_nodes(signatures: ET.Element) -> tuple[ET.Element, ET.Element]:
    nodes = list(signatures)
    if [node.tag for node in nodes] != ["Signature", "Signature"]:
        raise InvalidReceipt("EInvoiceSignature does not hold two Signature nodes")
    return nodes[0], nodes[1]


def _signature(node: ET.Element, reference: str) -> tuple[bytes, ReceiptSignature]:
    """A Signature node's value (DER) and what it says of its signer."""
    if _text(node, "SignedInfo/Reference") != reference:
        raise InvalidReceipt(f"a signature's Reference is not {reference!r}")
    if _text(node, "SignedInfo/SignatureAlgorithm") != SIGNATURE_ALGORITHM:
        raise InvalidReceipt(f"a signature's algorithm is not {SIGNATURE_ALGORITHM}")
    if _text(node, "SignedInfo/SignatureFormat") != "DETACH":
        raise InvalidReceipt("a signature's format is not DETACH")
    try:
        value = base64.b64decode(_text(node, "SignatureValue"), validate=True)
        signed_at = datetime.strptime(_text(node, "SignatureTime"), "%Y-%m-%dT%H:%M:%SZ")
    except (binascii.Error, ValueError) as exc:
        raise InvalidReceipt(f"a signature's value or time cannot be read: {exc}") from exc
    signer = ReceiptSignature(
        serial_number=_text(node, "KeyInfo/SerialNumber"),
        issuer_name=_text(node, "KeyInfo/X509IssuerName"),
        signed_at=signed_at.replace(tzinfo=UTC),
    )
    return value, signer


def _key(keys: Mapping[str, sm2.PublicKey], signer: ReceiptSignature, whose: str) -> sm2.PublicKey:
    key = keys.get(signer.serial_number)
    if key is None:
        raise InvalidReceipt(f"no published key of the {whose} numbered {signer.serial_number}")
    return key


def _receipt(
    data: ET.Element, xml: bytes, issuer: ReceiptSignature, finance: ReceiptSignature
) -> IssuedReceipt:
    main = _one(data, "Main")
    items = tuple(_item(item) for item in _one(data, "Details"))
    code, number = _text(main, "EInvoiceCode"), _text(main, "EInvoiceNumber")
    check_code = _text(main, "RandomNumber")
    if not (_CODE.fullmatch(code) and _NUMBER.fullmatch(number)):
        raise InvalidReceipt("EInvoiceCode is not 8 digits or EInvoiceNumber not 10")
    if not _CHECK_CODE.fullmatch(check_code):
        raise InvalidReceipt("RandomNumber is not 6 letters or digits")
    total = _fen(main, "TotalAmount")
    if not items or sum(item.amount_fen for item in items) != total:
        raise InvalidReceipt("TotalAmount is not the sum of the items' ItemAmount")
    try:
        issued = datetime.strptime(
            _text(main, "IssueDate") + _text(main, "IssueTime"), "%Y%m%d%H:%M:%S"
        )
        payer_type = PayerType(_text(main, "PayerParty/PayerPartyType"))
        paid = _optional(main, "MainExt/PayDate")
        paid_on = datetime.strptime(paid, "%Y%m%d").date() if paid else None
    except ValueError as exc:
        raise InvalidReceipt(f"a date, time or payer type cannot be read: {exc}") from exc
    face = ReceiptFace(
        title=_text(main, "EInvoiceName"),
        invoicing_party_code=_text(main, "InvoicingParty/InvoicingPartyCode"),
        invoicing_party_name=_text(main, "InvoicingParty/InvoicingPartyName"),
        payer_type=payer_type,
        payer_code=_optional(main, "PayerParty/PayerPartyCode"),
        payer_name=_text(main, "PayerParty/PayerPartyName"),
        items=items,
        pay_code=_optional(main, "MainExt/PayCode"),
        pay_mode=_optional(main, "PayMode"),
        paid_on=paid_on,
        remark=_optional(main, "Remark"),
        supervisor_area_code=_optional(main, "SupervisorAreaCode"),
        related_code=_optional(main, "MainExt/RelatedInvoiceCode"),
        related_number=_optional(main, "MainExt/RelatedInvoiceNumber"),
        red_reason=_optional(main, "MainExt/RedReason"),
    )
    return IssuedReceipt(
        business_id=_text(main, "BizCode"),
        code=code,
        number=number,
        check_code=check_code,
        issued_at=issued.replace(tzinfo=BEIJING),
        total_fen=total,
        face=face,
        issuer_signature=issuer,
        finance_signature=finance,
        xml=xml,
    )


def _item(node: ET.Element) -> ReceiptItem:
    if node.tag != "Item":
        raise InvalidReceipt(f"Details holds a {node.tag}, not an Item")
    quantity = _text(node, "ItemQuantity")
    if quantity and not _QUANTITY.fullmatch(quantity):
        raise InvalidReceipt(f"ItemQuantity {quantity!r} is not a decimal")
    return ReceiptItem(
        code=_text(node, "ItemCode"),
        name=_text(node, "ItemName"),
        quantity=Decimal(quantity) if quantity else None,
        unit=_optional(node, "ItemUnit"),
        standard_fen=_fen(node, "ItemStd"),
        amount_fen=_fen(node, "ItemAmount"),
    )


def _fen(parent: ET.Element, path: str) -> int:
    try:
        return wire.fen(_text(parent, path))
    except ValueError as exc:
        raise InvalidReceipt(f"{path}: {exc}") from exc


def _one(parent: ET.Element, path: str) -> ET.Element:
    found = parent
    for tag in path.split("/"):
        matches = found.findall(tag)
        if len(matches) != 1:
            raise InvalidReceipt(f"{parent.tag}/{path} is missing or repeated")
        found = matches[0]
    return found


def _text(parent: ET.Element, path: str) -> str:
    return _one(parent, path).text or ""


def _optional(parent: ET.Element, path: str) -> str:
    """The text at ``path``, or "" when it is absent."""
    return _text(parent, path) if parent.find(path) is not None else ""
