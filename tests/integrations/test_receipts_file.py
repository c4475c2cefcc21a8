"""A receipt file read and both of its signatures verified (integrations/receipts/receipt_file).

The receipts here are written and signed by the sandbox platform's own writer, which
shares no code with the adapter, with keys made for the test.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm3 as gmssl_sm3
from gmssl.sm2 import CryptSM2

from integrations.crypto import sm2
from integrations.receipts import receipt_file
from integrations.receipts.base import InvalidReceipt, PayerType, ReceiptItem
from sandboxes.receipts.receipt_xml import signed_receipt

TITLE = "非税收入统一票据（电子）"
SIGNED_AT = datetime(2025, 6, 1, 6, 28, tzinfo=UTC)
ISSUER_SERIAL, FINANCE_SERIAL = "0A01", "0F01"


@pytest.fixture(scope="module")
def keys() -> dict[str, sm2.PrivateKey]:
    return {"issuer": sm2.generate_private_key(), "finance": sm2.generate_private_key()}


def signer(key: sm2.PrivateKey, serial: str) -> dict[str, str]:
    return {
        "private_key_pem": sm2.private_key_pem(key),
        "serial_number": serial,
        "issuer_name": "CN=Test Fiscal CA,C=CN",
    }


def item(code: str, quantity: str, amount: str) -> tuple:
    fields = [("ItemCode", code), ("ItemName", f"{code} 费"), ("ItemUnit", "件")]
    fields += [("ItemQuantity", quantity), ("ItemStd", "15.00"), ("ItemAmount", amount)]
    return ("Item", fields)


def data(total: str = "35.00", items=None, payer: str = "张三 <个人> & 家属") -> list:
    items = items or [item("FEE-LIC", "2", "30.00"), item("FEE-COPY", "1", "5.00")]
    main = [
        ("EInvoiceName", TITLE),
        ("EInvoiceCode", "33010125"),
        ("EInvoiceNumber", "0000000042"),
        ("RandomNumber", "a1b2c3"),
        ("SupervisorAreaCode", "330000"),
        ("TotalAmount", total),
        ("IssueDate", "20250601"),
        ("IssueTime", "14:28:00"),
        ("InvoicingParty", [("InvoicingPartyCode", "SCJG01"), ("InvoicingPartyName", "市监局")]),
        (
            "PayerParty",
            [("PayerPartyType", "1"), ("PayerPartyCode", ""), ("PayerPartyName", payer)],
        ),
        ("PayMode", "public_platform"),
        ("BizCode", "pay_0001"),
        ("CurrencyType", "CNY"),
        ("Remark", ""),
        ("MainExt", [("PayCode", "11010012345678901238"), ("PayDate", "20250531")]),
    ]
    return [("Main", main), ("Details", items)]


def write(keys, *, issuer_serial=ISSUER_SERIAL, finance=None, **changes) -> bytes:
    header = [("EInvoiceTag", "CZ-EI-33"), ("Version", "1.0"), ("EInvoiceName", TITLE)]
    text = signed_receipt(
        header,
        data(**changes),
        issuer=signer(keys["issuer"], issuer_serial),
        finance=finance or signer(keys["finance"], FINANCE_SERIAL),
        signed_at=SIGNED_AT,
    )
    return text.encode("utf-8")


def read(keys, xml: bytes, **published):
    public = {
        "issuer_keys": {ISSUER_SERIAL: keys["issuer"].public_key()},
        "finance_keys": {FINANCE_SERIAL: keys["finance"].public_key()},
    }
    return receipt_file.read_receipt(xml, **{**public, **published})


def between(text: str, start: str, end: str) -> str:
    """The text from ``start`` to the end of ``end``, both included."""
    begin = text.index(start)
    return text[begin : text.index(end, begin) + len(end)]


def signature_values(text: str) -> list[bytes]:
    """The issuing unit's and the finance department's signatures (DER), in file order."""
    return [base64.b64decode(value) for value in re.findall(r"<SignatureValue>([^<]*)<", text)]


# -- reading ------------------------------------------------------------------------------


def test_a_signed_receipt_is_read_with_its_face_and_signers(keys):
    receipt = read(keys, write(keys))

    assert (receipt.code, receipt.number, receipt.check_code) == (
        "33010125",
        "0000000042",
        "a1b2c3",
    )
    assert receipt.business_id == "pay_0001" and receipt.total_fen == 3500
    assert receipt.issued_at.isoformat() == "2025-06-01T14:28:00+08:00"
    assert not receipt.is_red
    face = receipt.face
    assert (face.payer_type, face.payer_name) == (PayerType.PERSON, "张三 <个人> & 家属")
    assert (face.pay_code, face.paid_on) == ("11010012345678901238", date(2025, 5, 31))
    assert face.items[0] == ReceiptItem("FEE-LIC", "FEE-LIC 费", Decimal(2), "件", 1500, 3000)
    assert receipt.issuer_signature.serial_number == ISSUER_SERIAL
    assert receipt.finance_signature.serial_number == FINANCE_SERIAL
    assert receipt.finance_signature.signed_at == SIGNED_AT


def test_the_issuers_original_is_the_canonical_header_then_data(keys):
    """The sandbox writes both in canonical form, so the original is the file's own bytes."""
    text = write(keys).decode()
    header, data_, _ = receipt_file._parsed(text.encode())

    original = receipt_file.signed_original(header, data_)

    expected = between(text, "<Header>", "</Header>") + between(
        text, "<EInvoiceData>", "</EInvoiceData>"
    )
    assert original == expected.encode("utf-8")


def test_a_second_sm2_implementation_verifies_both_signatures(keys):
    """gmssl, over the file's bytes, with the public keys as published and r||s in hex."""
    text = write(keys).decode()
    original = (
        between(text, "<Header>", "</Header>") + between(text, "<EInvoiceData>", "</EInvoiceData>")
    ).encode()
    issuer_value, finance_value = signature_values(text)

    def verifies(key: sm2.PrivateKey, value: bytes, message: bytes) -> bool:
        der = base64.b64decode("".join(sm2.public_key_pem(key.public_key()).splitlines()[1:-1]))
        implementation = CryptSM2(private_key="", public_key="", mode=1)
        implementation.public_key = der[-64:].hex()  # the point X||Y ends the DER
        r, s = decode_dss_signature(value)
        return implementation.verify_with_sm3(f"{r:064x}{s:064x}", message)

    digest = bytes.fromhex(gmssl_sm3.sm3_hash(list(original)))
    assert verifies(keys["issuer"], issuer_value, original)
    assert verifies(keys["finance"], finance_value, digest + issuer_value)
    assert not verifies(keys["finance"], finance_value, original)


def test_whitespace_outside_the_signed_parts_does_not_matter(keys):
    xml = write(keys).replace(b"\n  <EInvoiceSignature>", b"\n\n\t<EInvoiceSignature>")
    assert read(keys, xml).number == "0000000042"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("张三", "李四"),  # the payer
        ("<TotalAmount>35.00</TotalAmount>", "<TotalAmount>25.00</TotalAmount>"),
        ("<ItemAmount>30.00</ItemAmount>", "<ItemAmount>20.00</ItemAmount>"),
        ("<Version>1.0</Version>", "<Version>1.1</Version>"),  # the header
        ("\n    <Version>", "\n      <Version>"),  # whitespace inside a signed part
    ],
)
def test_a_tampered_receipt_does_not_verify(keys, old, new):
    original = write(keys)
    tampered = original.decode().replace(old, new, 1).encode()
    assert tampered != original

    with pytest.raises(InvalidReceipt, match="issuing unit's signature does not verify"):
        read(keys, tampered)


def test_a_signed_part_written_in_another_form_of_the_same_xml_still_verifies(keys):
    """Verifiers canonicalise what they read: an empty element may be written short."""
    xml = write(keys).replace(b"<Remark></Remark>", b"<Remark />")
    assert read(keys, xml).face.remark == ""


def test_a_flipped_bit_in_either_signature_fails_it(keys):
    text = write(keys).decode()
    for index, value in enumerate(signature_values(text)):
        flipped = bytes([value[-1] ^ 1])
        changed = base64.b64encode(value[:-1] + flipped).decode()
        tampered = text.replace(base64.b64encode(value).decode(), changed)
        whose = ("issuing unit", "finance department")[index]
        with pytest.raises(InvalidReceipt, match=f"{whose}'s signature does not verify"):
            read(keys, tampered.encode())


def test_the_finance_signature_covers_the_issuers_signature_value(keys):
    """A second, equally valid issuer signature (SM2 draws a new k) breaks the finance one."""
    first, second = write(keys).decode(), write(keys).decode()
    first_issuer = base64.b64encode(signature_values(first)[0]).decode()
    second_issuer = base64.b64encode(signature_values(second)[0]).decode()
    assert first_issuer != second_issuer

    spliced = first.replace(first_issuer, second_issuer)

    with pytest.raises(InvalidReceipt, match="finance department's signature does not verify"):
        read(keys, spliced.encode())


def test_the_two_signatures_in_the_other_order_are_refused(keys):
    text = write(keys).decode()
    issuer = between(text, "<Signature>", "</Signature>")
    finance = between(text[text.index(issuer) + len(issuer) :], "<Signature>", "</Signature>")
    swapped = text.replace(issuer, "@").replace(finance, issuer).replace("@", finance)

    with pytest.raises(InvalidReceipt, match="Reference"):
        read(keys, swapped.encode())


def test_an_issuing_unit_cannot_sign_in_the_finance_departments_place(keys):
    forged = write(keys, finance=signer(keys["issuer"], ISSUER_SERIAL))

    with pytest.raises(InvalidReceipt, match="no published key of the finance department"):
        read(keys, forged)


def test_only_the_published_keys_verify(keys):
    xml = write(keys)
    stranger = sm2.generate_private_key().public_key()

    with pytest.raises(InvalidReceipt, match="no published key of the issuing unit"):
        read(keys, write(keys, issuer_serial="0A99"))
    with pytest.raises(InvalidReceipt, match="issuing unit's signature does not verify"):
        read(keys, xml, issuer_keys={ISSUER_SERIAL: stranger})
    with pytest.raises(InvalidReceipt, match="finance department's signature does not verify"):
        read(keys, xml, finance_keys={FINANCE_SERIAL: keys["issuer"].public_key()})


@pytest.mark.parametrize(
    ("xml", "problem"),
    [
        (b"not xml", "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><EInvoice/>', "DTD"),
        (b"<EInvoice><Header/></EInvoice>", "not an EInvoice"),
        (b"<Receipt/>", "not an EInvoice"),
        (b"<EInvoice>" + b" " * receipt_file.MAX_SIZE + b"</EInvoice>", "too large"),
    ],
)
def test_a_malformed_file_is_refused(keys, xml, problem):
    with pytest.raises(InvalidReceipt, match=problem):
        read(keys, xml)


def test_a_signed_receipt_whose_items_do_not_add_up_is_refused(keys):
    with pytest.raises(InvalidReceipt, match="not the sum"):
        read(keys, write(keys, total="36.00"))


def test_a_red_letter_items_blank_quantity_is_none(keys):
    items = [item("FEE-LIC", "", "-2.00")]
    receipt = read(keys, write(keys, total="-2.00", items=items))
    assert receipt.face.items[0].quantity is None and receipt.total_fen == -200


# -- the download's zip -------------------------------------------------------------------


def zipped(*members: tuple[str, bytes]) -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as written:
        for name, content in members:
            written.writestr(name, content)
    return archive.getvalue()


def test_the_zip_gives_its_receipt_files_in_order():
    files = zipped(("33010125_0000000042.xml", b"<x/>"), ("33010125_0000000043.xml", b"<y/>"))

    assert receipt_file.xml_files_from_zip(files) == [b"<x/>", b"<y/>"]
    assert receipt_file.xml_files_from_zip(zipped()) == []


def with_declared_size(content: bytes, size: int) -> bytes:
    """The zip of one file, its size in both headers changed to ``size``."""
    patched = bytearray(content)
    struct.pack_into("<I", patched, 22, size)  # the local file header's
    struct.pack_into("<I", patched, patched.rfind(b"PK\x01\x02") + 24, size)  # the directory's
    return bytes(patched)


@pytest.mark.parametrize(
    "content",
    [
        b"PK not a zip",
        zipped(("a.pdf", b"%PDF")),
        zipped(("a.xml", b" " * (receipt_file.MAX_SIZE + 1))),
        with_declared_size(zipped(("a.xml", b"<x>" + b" " * 5000 + b"</x>")), 10),
    ],
)
def test_a_zip_of_other_files_or_too_large_ones_is_refused(content):
    with pytest.raises(InvalidReceipt):
        receipt_file.xml_files_from_zip(content)
