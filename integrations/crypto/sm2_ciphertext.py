"""The two forms of an SM2 ciphertext, and the conversion between them.

ASN.1 (GM/T 0009-2012 §7.2; WeChat Pay's C1C3C2_ASN1), what ``sm2.encrypt`` returns::

    SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
               HASH OCTET STRING (32 bytes), CipherText OCTET STRING }

Raw C1||C3||C2 (GB/T 32918.4-2016): C1 the point (x1, y1) uncompressed, 04||X||Y in 65
bytes; C3 the 32-byte SM3 hash; C2 the encrypted message, as long as the plaintext. Some
libraries write C1 without its 04 byte: prefix it before converting.
"""

from __future__ import annotations

from integrations.crypto.errors import MalformedEncoding

HASH_SIZE = 32
_COORDINATE_SIZE = 32
_POINT_SIZE = 1 + 2 * _COORDINATE_SIZE
_UNCOMPRESSED = 0x04
_SEQUENCE, _INTEGER, _OCTET_STRING = 0x30, 0x02, 0x04


def to_raw(ciphertext: bytes) -> bytes:
    """The raw C1||C3||C2 of a DER (C1C3C2 ASN.1) ciphertext."""
    body, rest = _read(ciphertext, _SEQUENCE)
    x, body = _read(body, _INTEGER)
    y, body = _read(body, _INTEGER)
    c3, body = _read(body, _OCTET_STRING)
    c2, body = _read(body, _OCTET_STRING)
    if rest or body or len(c3) != HASH_SIZE or not c2:
        raise MalformedEncoding("not an SM2 ciphertext: extra data, or a wrong hash size")
    return bytes([_UNCOMPRESSED]) + _coordinate(x) + _coordinate(y) + c3 + c2


def from_raw(ciphertext: bytes) -> bytes:
    """The DER (C1C3C2 ASN.1) form of a raw C1||C3||C2 ciphertext."""
    if len(ciphertext) <= _POINT_SIZE + HASH_SIZE or ciphertext[0] != _UNCOMPRESSED:
        raise MalformedEncoding("not a raw SM2 ciphertext: too short, or C1 does not start 04")
    x = ciphertext[1 : 1 + _COORDINATE_SIZE]
    y = ciphertext[1 + _COORDINATE_SIZE : _POINT_SIZE]
    c3 = ciphertext[_POINT_SIZE : _POINT_SIZE + HASH_SIZE]
    c2 = ciphertext[_POINT_SIZE + HASH_SIZE :]
    return _tlv(
        _SEQUENCE,
        _integer(x) + _integer(y) + _tlv(_OCTET_STRING, c3) + _tlv(_OCTET_STRING, c2),
    )


def _read(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """The content of the DER element that ``data`` starts with, and the bytes after it."""
    if len(data) < 2 or data[0] != tag:
        raise MalformedEncoding(f"expected DER tag {tag:#04x}")
    length, start = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        start += count
        length = int.from_bytes(data[2:start], "big")
        if not 0 < count <= 4 or len(data) < start or length < 0x80 or data[2] == 0:
            raise MalformedEncoding("a DER length that is not in its shortest form")
    if len(data) < start + length:
        raise MalformedEncoding("a DER element longer than the data")
    return data[start : start + length], data[start + length :]


def _coordinate(content: bytes) -> bytes:
    """A point coordinate from a DER INTEGER's content: non-negative, minimal, 32 bytes."""
    negative = bool(content) and content[0] & 0x80
    padded = len(content) > 1 and content[0] == 0 and not content[1] & 0x80
    value = int.from_bytes(content, "big")
    if not content or negative or padded or value.bit_length() > 8 * _COORDINATE_SIZE:
        raise MalformedEncoding("a point coordinate that is not a 256-bit DER INTEGER")
    return value.to_bytes(_COORDINATE_SIZE, "big")


def _integer(unsigned: bytes) -> bytes:
    content = unsigned.lstrip(b"\x00") or b"\x00"
    if content[0] & 0x80:
        content = b"\x00" + content
    return _tlv(_INTEGER, content)


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content
