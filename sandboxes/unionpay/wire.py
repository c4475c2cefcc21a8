"""UnionPay's online gateway on the wire, message version 5.1.0: the gateway's side.

Written from UnionPay's published all-channel interface (全渠道平台接入接口规范: the
message interface, part 3 the file interface, part 5 the appendix of response codes) and
the SDK demo code UnionPay publishes with it (``AcpService``, ``SDKUtil``): the string a
signature covers, signMethod 01, the answer format, the codes and the layout of the
reconciliation (ZM) file. Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Mapping
from datetime import date, timedelta, timezone
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BEIJING = timezone(timedelta(hours=8))  # every time on the wire is Beijing time
VERSION = "5.1.0"
SIGN_METHOD = "01"  # RSA with the signer's certificate; in 5.1.0, over a SHA-256 digest
CURRENCY_CNY = "156"

# txnType (交易类型)
TXN_QUERY = "00"
TXN_CONSUME = "01"
TXN_REFUND = "04"
TXN_FILE_TRANSFER = "76"

# respCode, and origRespCode of a queried transaction (appendix: 应答码)
SUCCESS = "00"
FAILED = "01"
ACCEPTED = "05"  # the outcome is not known yet: query later
FORMAT_ERROR = "10"
BAD_SIGNATURE = "11"
DUPLICATE = "12"
MISSING_ELEMENT = "13"
MERCHANT_STATUS = "31"
AMOUNT_EXCEEDED = "33"
NOT_FOUND = "34"
ORIGINAL_INVALID = "35"
NO_FILE = "98"
RESP_MESSAGES = {
    SUCCESS: "成功",
    FAILED: "交易失败",
    ACCEPTED: "交易已受理，请稍后查询交易结果",
    FORMAT_ERROR: "报文格式错误",
    BAD_SIGNATURE: "验证签名失败",
    DUPLICATE: "重复交易",
    MISSING_ELEMENT: "报文交易要素缺失",
    MERCHANT_STATUS: "商户状态不正确",
    AMOUNT_EXCEEDED: "交易金额超限",
    NOT_FOUND: "查无此交易",
    ORIGINAL_INVALID: "原交易不存在或状态不正确",
    NO_FILE: "文件不存在",
}


def resp_msg(code: str, detail: str = "") -> str:
    """respMsg for a code: the appendix's text, the gateway's own reference in brackets
    on success (``成功[0000000]``), and ``detail`` after a colon when there is one."""
    text = f"{RESP_MESSAGES[code]}[0000000]" if code == SUCCESS else RESP_MESSAGES[code]
    return f"{text}: {detail}" if detail else text


# -- signing: signMethod 01, version 5.1.0 -----------------------------------------------


def string_to_sign(fields: Mapping[str, str]) -> str:
    """Every field of the message but ``signature``, sorted by name, as ``name=value``
    joined with ``&``; nothing is URL-encoded (SDKUtil.coverMap2String)."""
    return "&".join(f"{name}={fields[name]}" for name in sorted(fields) if name != "signature")


def signed_digest(fields: Mapping[str, str]) -> bytes:
    """What the key signs in 5.1.0: the SHA-256 of the string to sign, as lowercase hex."""
    return hashlib.sha256(string_to_sign(fields).encode("utf-8")).hexdigest().encode("ascii")


def sign(fields: Mapping[str, str], private_key: rsa.RSAPrivateKey) -> str:
    """``signature``: SHA256withRSA (PKCS#1 v1.5) over the digest, Base64."""
    raw = private_key.sign(signed_digest(fields), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def signed(
    fields: Mapping[str, str], private_key: rsa.RSAPrivateKey, certificate_pem: str
) -> dict[str, str]:
    """A message as the gateway sends it: empty fields left out (they are not sent),
    the signer's certificate in ``signPubKeyCert`` (itself signed), then ``signature``."""
    message = {name: value for name, value in fields.items() if value != ""}
    message["signPubKeyCert"] = certificate_pem
    return {**message, "signature": sign(message, private_key)}


def verify(fields: Mapping[str, str], certificate: x509.Certificate) -> bool:
    """Whether ``fields`` carry a valid signature by the holder of ``certificate``."""
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        raw = base64.b64decode(fields.get("signature", ""), validate=True)
        public_key.verify(raw, signed_digest(fields), padding.PKCS1v15(), hashes.SHA256())
    except (ValueError, InvalidSignature):  # binascii.Error is a ValueError
        return False
    return True


def cert_id(certificate: x509.Certificate) -> str:
    """``certId``: the signing certificate's serial number, in decimal."""
    return str(certificate.serial_number)


@lru_cache(maxsize=16)
def load_certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


# -- answers -----------------------------------------------------------------------------


def format_answer(message: Mapping[str, str]) -> str:
    """A synchronous answer: ``name=value`` joined with ``&``, not URL-encoded, the fields
    sorted by name and ``signature`` last, as the gateway writes them."""
    names = [*sorted(name for name in message if name != "signature"), "signature"]
    return "&".join(f"{name}={message[name]}" for name in names if name in message)


# -- the reconciliation file (fileType 00) -----------------------------------------------


def file_name(mer_id: str, settle_date: date) -> str:
    """``fileName`` of a fileTransReq answer: the zip of the merchant's settlement date."""
    return f"{mer_id}_{settle_date:%Y%m%d}.zip"


def file_content(archive: bytes) -> str:
    """``fileContent``: the zip compressed with DEFLATE (zlib), then Base64."""
    return base64.b64encode(zlib.compress(archive)).decode("ascii")


def zm_file_name(mer_id: str, settle_date: date) -> str:
    """The general transaction flow file in the zip (全渠道商户一般交易明细流水文件)."""
    return f"INN{settle_date:%y%m%d}88ZM_{mer_id}"


# A ZM record (file interface 6.1): one line of these fixed-width fields, in order, one
# space between them, text left-aligned and padded with spaces; widths are in bytes.
ZM_FIELDS: tuple[tuple[str, int], ...] = (
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),  # MMDDhhmmss
    ("主账号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("账号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("字段41", 32),
    ("保留使用", 98),
)
# 交易代码 by 交易类型: the sandbox's choice, not confirmed in the published material.
ZM_TRANSACTION_CODES = {TXN_CONSUME: "S22", TXN_REFUND: "S30"}
