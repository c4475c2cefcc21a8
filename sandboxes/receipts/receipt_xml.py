"""A receipt's XML file, written and signed as the platform does (docs/receipt_platform.md).

The file is ``EInvoice`` holding ``Header``, ``EInvoiceData`` and ``EInvoiceSignature``.
The issuing unit signs the canonical XML (C14N) of Header followed by that of
EInvoiceData; the finance department signs SM3 of those bytes followed by the issuing
unit's signature value. Both are SM2 with SM3 and the default user id, in DER.

The two signed elements are written here already in canonical form (no attributes or
namespaces, start and end tags written out, text escaped as C14N escapes it), so their
canonical bytes are the file's own bytes from ``<Header>`` to ``</EInvoiceData>``'s end,
less what lies between the two.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec as sm_ec

# An element: its tag and either its text or its children.
Element = tuple[str, "str | Sequence[Element]"]

ISSUER_REFERENCE = "Header,EInvoiceData"
FINANCE_REFERENCE = "SM3(Header,EInvoiceData),Signature[1]/SignatureValue"
SIGNATURE_ALGORITHM = "SM2-SM3"
_SM2_WITH_SM3 = sm_ec.ECDSA(sm_hashes.SM3())
_INDENT = "  "


def signed_receipt(
    header: Sequence[Element],
    data: Sequence[Element],
    *,
    issuer: Mapping[str, str],
    finance: Mapping[str, str],
    signed_at: datetime,
) -> str:
    """The whole receipt file, signed by ``issuer`` then ``finance`` (each a mapping of
    ``private_key_pem``, ``serial_number`` and ``issuer_name``)."""
    header_text = _written(("Header", header), 1)
    data_text = _written(("EInvoiceData", data), 1)
    original = (header_text + data_text).encode("utf-8")
    issuer_value = _sign(issuer["private_key_pem"], original)
    finance_value = _sign(finance["private_key_pem"], _sm3(original) + issuer_value)
    signatures = (
        "EInvoiceSignature",
        [
            _signature(ISSUER_REFERENCE, issuer, issuer_value, signed_at),
            _signature(FINANCE_REFERENCE, finance, finance_value, signed_at),
        ],
    )
    parts = (header_text, data_text, _written(signatures, 1))
    body = "\n".join(_INDENT + part for part in parts)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<EInvoice>\n{body}\n</EInvoice>\n'


def _signature(reference: str, signer: Mapping[str, str], value: bytes, at: datetime) -> Element:
    return (
        "Signature",
        [
            (
                "SignedInfo",
                [
                    ("Reference", reference),
                    ("SignatureAlgorithm", SIGNATURE_ALGORITHM),
                    ("SignatureFormat", "DETACH"),
                ],
            ),
            ("SignatureTime", at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("SignatureValue", base64.b64encode(value).decode("ascii")),
            (
                "KeyInfo",
                [
                    ("SerialNumber", signer["serial_number"]),
                    ("X509IssuerName", signer["issuer_name"]),
                ],
            ),
        ],
    )


def _written(element: Element, depth: int) -> str:
    """The element in canonical form, its children indented as at ``depth``; the text
    starts at its start tag (the caller writes the indent before it)."""
    tag, content = element
    if isinstance(content, str):
        return f"<{tag}>{_escaped(content)}</{tag}>"
    inner = _INDENT * (depth + 1)
    children = "".join(f"\n{inner}{_written(child, depth + 1)}" for child in content)
    return f"<{tag}>{children}\n{_INDENT * depth}</{tag}>"


def _escaped(text: str) -> str:
    """Text as Canonical XML writes it. The platform refuses carriage returns and other
    control characters in what it is sent, so only these three need escaping."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=8)
def _private_key(pem: str) -> sm_ec.EllipticCurvePrivateKey:
    return sm_serialization.load_pem_private_key(pem.encode("ascii"), password=None)


def _sign(pem: str, data: bytes) -> bytes:
    return _private_key(pem).sign(data, _SM2_WITH_SM3)


def _sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()
