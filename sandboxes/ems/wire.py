"""The EMS open platform (中国邮政速递物流 新一代寄递平台): the platform's side of the wire.

What the platform's interface specification (中小电商企业接口规范, as its customers'
code uses it) fixes: one open API taking a form POST of ``apiCode``, ``senderNo``
(协议客户号), ``authorization`` (授权码), ``msgType``, ``timeStamp`` (``yyyy-MM-dd
HH:mm:ss``, Beijing), ``version`` and the business message ``logitcsInterface`` (sic);
answers ``{"serialNo", "retCode", "retMsg", "retBody", "retDate", "success"}`` with
``00000`` for success and ``retBody`` a JSON text; apiCodes ``020003`` (订单接入),
``020006`` (订单取消) and ``040001`` (运单轨迹信息获取, items in ``responseItems``); the
message protection: ``logitcsInterface`` = ``|$4|`` + Base64(SM4-ECB(message + key)),
PKCS#7 padded, keyed with the Base64-decoded key issued with the sender number, the key
found again at the end of the opened text; and the track push (040002): a JSON object
whose ``logitcsInterface`` is one trace sealed the same way without the key, answered
with ``{"code": "00000"}`` (``S00001``: push again). ``seal``, ``unseal`` and
``open_request`` implement the protection; SM4 itself is checked against the example of
GB/T 32907-2016 in the tests, and ``unseal`` against a push of the platform's test
environment that a customer published.

What the project chose (docs/ems.md): the freight bill call ``060002`` answering CSV.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

ORDER_CREATE = "020003"
ORDER_CANCEL = "020006"
TRACK_QUERY = "040001"
TRACK_PUSH = "040002"
FREIGHT_BILL = "060002"
SUCCESS = "00000"
SM4_PREFIX = "|$4|"

BILL_COLUMNS = ("waybillNo", "logisticsOrderNo", "billDate", "freight")


class Unsealed(ValueError):
    """A sealed message that does not open with the sender's key."""


def sm4(key: str) -> Cipher:
    """SM4 in ECB mode keyed with the Base64-decoded key; Unsealed for a key that is not one."""
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error as exc:
        raise Unsealed("the key is not Base64") from exc
    if len(raw) != 16:
        raise Unsealed("an SM4 key is 16 bytes")
    return Cipher(algorithms.SM4(raw), modes.ECB())  # noqa: S305 - the platform specifies ECB


def seal(text: str, key: str) -> str:
    """``|$4|`` + Base64(SM4-ECB(text, PKCS#7)) with the Base64-decoded key."""
    padder = padding.PKCS7(128).padder()
    plain = padder.update(text.encode("utf-8")) + padder.finalize()
    encryptor = sm4(key).encryptor()
    return SM4_PREFIX + base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def unseal(sealed: str, key: str) -> str:
    """The text of ``seal``'s output; Unsealed unless it opens with the key."""
    if not sealed.startswith(SM4_PREFIX):
        raise Unsealed(f"logitcsInterface does not start with {SM4_PREFIX}")
    decryptor = sm4(key).decryptor()
    try:
        cipher_text = base64.b64decode(sealed.removeprefix(SM4_PREFIX), validate=True)
        padded = decryptor.update(cipher_text) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise Unsealed("logitcsInterface does not open with the sender's key") from exc


def open_request(sealed: str, key: str) -> str:
    """The business message of a request: its sealed text without the key at its end."""
    text = unseal(sealed, key)
    if not text.endswith(key):
        raise Unsealed("the opened message does not end with the sender's key")
    return text.removesuffix(key)


def answer(body: Any) -> dict[str, Any]:
    return {
        **_answer_envelope(SUCCESS, "成功"),
        "retBody": json.dumps(body, ensure_ascii=False),
        "success": True,
    }


def refusal(code: str, message: str) -> dict[str, Any]:
    return {**_answer_envelope(code, message), "retBody": None, "success": False}


def _answer_envelope(code: str, message: str) -> dict[str, str]:
    now = datetime.now(BEIJING).strftime(TIME_FORMAT)
    return {"serialNo": str(uuid.uuid4()), "retCode": code, "retMsg": message, "retDate": now}


def trace_push(trace: dict[str, str], sender_no: str, key: str) -> bytes:
    """The JSON body of one track push: the trace sealed with the sender's key."""
    trace_text = json.dumps(trace, ensure_ascii=False, separators=(",", ":"))
    push = {
        "logitcsInterface": seal(trace_text, key),
        "method": TRACK_PUSH,
        "msgType": "0",
        "senderNo": sender_no,
        "serialNo": uuid.uuid4().hex.upper(),
        "timeStamp": datetime.now(BEIJING).strftime(TIME_FORMAT),
        "version": "V1.0.0",
    }
    return json.dumps(push, ensure_ascii=False).encode("utf-8")


def push_acknowledged(body: str) -> bool:
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("code") == SUCCESS
