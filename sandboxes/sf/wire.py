"""SF Express open platform (顺丰开放平台, 丰桥): SF's side of the wire, without I/O.

Written from SF's developer documents on open.sf-express.com:

- 开发规范 / 数字签名认证说明: every call is a form POST of ``partnerID``, ``requestID``,
  ``serviceCode``, ``timestamp`` (milliseconds), ``msgData`` (the business message, JSON)
  and ``msgDigest`` = Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord,
  "UTF-8"))). SF's worked example (msgData ``{"language":"zh-CN","orderId":
  "QIAO-20200618-004"}``, timestamp ``12312334453453``, checkWord
  ``fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci``) gives ``IIKJtuLVzoFTu4kHI8M8vA==``.
- 公共响应参数: ``apiResponseID``, ``apiResultCode`` (``A1000`` when the platform let the
  call through), ``apiErrorMsg`` and ``apiResultData``, a JSON *string* holding
  ``success``, ``errorCode``, ``errorMsg`` and the service's ``msgData``.
- 路由推送接口: SF POSTs ``{"Body": {"WaybillRoute": [route, ...]}}`` as JSON to the
  partner's registered address and pushes again until it is answered
  ``{"return_code": "0000", "return_msg": "成功"}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import string
from datetime import timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # acceptTime, Beijing time
MAX_ROUTES_PER_PUSH = 10

CREATE_ORDER = "EXP_RECE_CREATE_ORDER"  # 下订单
UPDATE_ORDER = "EXP_RECE_UPDATE_ORDER"  # 订单确认/取消
SEARCH_ORDER = "EXP_RECE_SEARCH_ORDER_RESP"  # 订单结果查询
SEARCH_ROUTES = "EXP_RECE_SEARCH_ROUTES"  # 路由查询
CANCEL = 2  # EXP_RECE_UPDATE_ORDER's dealType: 1 confirm, 2 cancel
FORWARD_ORDER = "1"  # EXP_RECE_SEARCH_ORDER_RESP's searchType: 1 forward, 2 return

# apiResultCode: what the platform itself says of a call, before any service runs it.
API_OK = "A1000"
API_MISSING = "A1001"  # 必传参数不可为空
API_EXPIRED = "A1002"  # 请求时效已过期
API_NO_PERMISSION = "A1004"  # 无对应服务权限
API_BAD_DIGEST = "A1006"  # 数字签名无效
SUCCESS = "S0000"

# The opCodes of a scan that hands the parcel over: 80 已签收, 8000 (签收) as SF pushes it.
SIGNED_FOR = frozenset({"80", "8000"})

# The sandbox's freight bill (SF's statements come from its console): CSV, yuan.
BILL_COLUMNS = ("waybill_no", "order_no", "date", "weight_kg", "amount_yuan")

# Java's URLEncoder keeps ASCII letters, digits and these four; a space becomes "+".
_URL_KEPT = frozenset(string.ascii_letters + string.digits + ".-*_")


def java_url_encode(text: str) -> str:
    """``URLEncoder.encode(text, "UTF-8")``: every other character as %XX of its UTF-8 bytes."""
    pieces = []
    for char in text:
        if char in _URL_KEPT:
            pieces.append(char)
        elif char == " ":
            pieces.append("+")
        else:
            pieces.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    return "".join(pieces)


def msg_digest(msg_data: str, timestamp: str, check_word: str) -> str:
    """Base64(MD5(URLEncoder.encode(msgData + timestamp + checkWord, "UTF-8")))."""
    encoded = java_url_encode(msg_data + timestamp + check_word).encode("ascii")
    return base64.b64encode(hashlib.md5(encoded, usedforsecurity=False).digest()).decode()


def api_answer(request_id: str, code: str, message: str, result: dict | None) -> dict[str, Any]:
    """The platform's answer; ``result`` (a service's outcome) travels as a JSON string."""
    return {
        "apiResponseID": request_id,
        "apiResultCode": code,
        "apiErrorMsg": message,
        "apiResultData": None if result is None else json.dumps(result, ensure_ascii=False),
    }


def succeeded(msg_data: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "errorCode": SUCCESS, "errorMsg": None, "msgData": msg_data}


def failed(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "errorCode": code, "errorMsg": message, "msgData": None}


def route_push(routes: list[dict[str, str]]) -> bytes:
    """The body of one route push: UTF-8 JSON, at most MAX_ROUTES_PER_PUSH routes."""
    if not 0 < len(routes) <= MAX_ROUTES_PER_PUSH:
        raise ValueError(f"a route push carries 1 to {MAX_ROUTES_PER_PUSH} routes")
    return json.dumps({"Body": {"WaybillRoute": routes}}, ensure_ascii=False).encode("utf-8")


def push_acknowledged(answer: str) -> bool:
    """Whether the partner's answer to a push accepts it (return_code 0000)."""
    try:
        body = json.loads(answer)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("return_code") == "0000"
