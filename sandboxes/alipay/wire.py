"""The Alipay open platform's wire format, from Alipay's side of the gateway.

Written from Alipay's documents: 自行实现签名 (a request's string to sign: every parameter
but ``sign``, empty values left out, ``sign_type`` included), 异步通知验签 (a notification's
string: every field it carries but ``sign`` and ``sign_type``), 同步返回验签 (an answer is
signed over the text of its ``<method>_response`` member as it stands in the body), the
公共参数 and 公共错误码 pages, and the trade status list of alipay.trade.query and
of the 异步通知参数. No I/O: views.py serves what these functions build.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # every time on the wire, Beijing time
SIGN_TYPE = "RSA2"  # SHA256withRSA
CHARSET = "utf-8"
NOTIFY_TYPE = "trade_status_sync"
PAGE_PAY_PRODUCT = "FAST_INSTANT_TRADE_PAY"  # page.pay's product_code (电脑网站支付)
REFUND_SUCCESS = "REFUND_SUCCESS"

# The sandbox's merchant (its PID, seller_id) and its one payer, as answers name them.
SELLER_ID = "2088000000000001"
BUYER_ID = "2088000000000002"
BUYER_LOGON_ID = "san***@sandbox.com"


class TradeStatus(StrEnum):
    WAIT_BUYER_PAY = "WAIT_BUYER_PAY"  # 交易创建，等待买家付款
    TRADE_CLOSED = "TRADE_CLOSED"  # 未付款交易超时关闭，或支付完成后全额退款
    TRADE_SUCCESS = "TRADE_SUCCESS"  # 交易支付成功
    TRADE_FINISHED = "TRADE_FINISHED"  # 交易结束，不可退款


# 公共错误码: each answer's code and its msg.
MESSAGES = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}
ERROR_NODE = "error_response"  # an answer's member when the method is unknown

_YUAN = re.compile(r"(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,2}))?")


# -- keys and signatures ----------------------------------------------------------------


def request_content(params: Mapping[str, str]) -> str:
    """A request's string to sign: ``k=v`` sorted by key, joined by ``&``, not URL-encoded;
    ``sign`` and empty values left out (``sign_type`` is signed)."""
    return "&".join(
        f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key]
    )


def notification_content(fields: Mapping[str, str]) -> str:
    """A notification's string to sign: every field but ``sign`` and ``sign_type``, as a
    request's is joined."""
    return "&".join(
        f"{key}={fields[key]}" for key in sorted(fields) if key not in ("sign", "sign_type")
    )


def sign(content: str, private_key: rsa.RSAPrivateKey) -> str:
    """RSA2: SHA256withRSA (PKCS#1 v1.5) over the UTF-8 content, Base64-encoded."""
    signature = private_key.sign(content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify(content: str, signature: str, public_key: rsa.RSAPublicKey) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, content.encode(CHARSET), padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, InvalidSignature, ValueError):
        return False
    return True


def signed_notification(
    fields: Mapping[str, str], private_key: rsa.RSAPrivateKey
) -> dict[str, str]:
    """The notification's form fields with its ``sign``."""
    return {**fields, "sign": sign(notification_content(fields), private_key)}


# -- answers ----------------------------------------------------------------------------


def response_node(method: str) -> str:
    """The member an answer to ``method`` is in: alipay_trade_query_response for
    alipay.trade.query."""
    return f"{method.replace('.', '_')}_response"


def answer_body(node: str, answer: Mapping[str, Any], private_key: rsa.RSAPrivateKey) -> bytes:
    """``{"<node>":{...},"sign":"..."}``, the signature over the member's text exactly as
    written here (the client verifies that text, never a re-serialisation)."""
    text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return f'{{"{node}":{text},"sign":"{sign(text, private_key)}"}}'.encode(CHARSET)


def refusal(code: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    """An answer's common fields when the gateway or the method refuses the request."""
    return {"code": code, "msg": MESSAGES[code], "sub_code": sub_code, "sub_msg": sub_msg}


def biz_content(text: str) -> dict[str, Any]:
    """The method's parameters: a JSON object; a number is kept as its text (amounts may come
    as numbers, and are read without floats). Raises ValueError."""
    parsed = json.loads(text, parse_float=str, parse_constant=_no_constant)
    if not isinstance(parsed, dict):
        raise ValueError("biz_content is not a JSON object")
    return parsed


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


# -- fields -----------------------------------------------------------------------------


def yuan(fen: int) -> str:
    """Fen as an amount in yuan with two decimals: 1234 -> "12.34"."""
    return f"{fen // 100}.{fen % 100:02d}"


def fen(value: object) -> int:
    """An amount in yuan, as text or a JSON number, with at most two decimals, in fen.

    Raises ValueError; ``total_amount`` is at most 100000000 yuan and so 9 digits whole.
    """
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    match = _YUAN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not an amount in yuan with at most two decimals")
    whole, decimals = match.groups()
    return int(whole) * 100 + int((decimals or "").ljust(2, "0"))


def beijing_time(moment: datetime) -> str:
    """An aware datetime as the wire writes times: ``2025-06-01 14:30:00``, Beijing time."""
    return moment.astimezone(BEIJING).strftime(TIME_FORMAT)


def parse_beijing_time(value: object) -> datetime:
    """A ``yyyy-MM-dd HH:mm:ss`` Beijing time; raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("a time is missing")
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=BEIJING)
