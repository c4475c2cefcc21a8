"""WeChat Pay API v3 on the wire, as WeChat Pay writes and reads it. No I/O here.

Written from WeChat Pay's published APIv3 documents (pay.weixin.qq.com): "签名生成" (the
merchant's request signature and its ``Authorization`` header), "签名验证" (the platform's
signature on answers and notifications, and its ``Wechatpay-*`` headers), "证书和回调报文
解密" (AEAD_AES_256_GCM under the APIv3 key), "APIv3接口使用国家商用密码指引" (the national
mode: SM2 with SM3 signatures under ``WECHATPAY2-SM2-WITH-SM3``, AEAD_SM4_GCM under the
first 16 bytes of SM3(APIv3 key)), "获取平台证书列表" (``/v3/certificates``), "支付通知" /
"退款结果通知" (the notification event), the error codes of the API pages, and "申请交易
账单" / "下载账单" with the ALL trade bill WeChat Pay publishes as a sample (its official
PHP SDK's ``tests/fixtures/bill.ALL.csv``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandboxes import common
from sandboxes.wechatpay.schemes import BY_SIGNATURE_TYPE, RSA, Scheme

BEIJING = timezone(timedelta(hours=8))
MAX_CLOCK_SKEW = 300  # seconds a signature's timestamp may be off
AUTHORIZATION_PARAMS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")

# The error codes this side answers, with their HTTP status, as the API pages list them.
ERROR_STATUS = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "MCH_NOT_EXISTS": 400,
    "ORDERPAID": 400,
    "ORDER_CLOSED": 400,
    "NO_STATEMENT_EXIST": 400,
    "SIGN_ERROR": 401,
    "OUT_TRADE_NO_USED": 403,
    "ORDER_NOT_EXIST": 404,
    "RESOURCE_NOT_EXISTS": 404,
}

# trade_state and its trade_state_desc, as queries and notifications write them.
TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "PAYERROR": "支付失败，请重新下单支付",
    "CLOSED": "订单已关闭",
}


def rfc3339(moment: datetime) -> str:
    """A time as WeChat Pay writes it: Beijing time, to the second, with its offset."""
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


def json_text(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_object(body: bytes) -> dict[str, Any]:
    """A request body's JSON object; raises ValueError for anything else."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("the body is not a JSON object")
    return data


# -- signatures -------------------------------------------------------------------------


def _lines(*lines: str) -> bytes:
    """Lines each ended by ``\\n``, the last one too, in UTF-8: every signed text's form."""
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> bytes:
    """What a merchant signs: method, URL (path and query, no host), timestamp, nonce and
    body (empty for a GET)."""
    return _lines(method, url, timestamp, nonce, body)


def answer_message(timestamp: str, nonce: str, body: str) -> bytes:
    """What WeChat Pay signs of an answer or a notification (an empty body stays a line)."""
    return _lines(timestamp, nonce, body)


_AUTHORIZATION_PARAM = re.compile(r'(\w+)="([^"]*)"')


def declared_scheme(authorization: str) -> Scheme:
    """The scheme an Authorization header names, RSA when it names neither: WeChat Pay
    answers a request in the scheme it was signed in."""
    return BY_SIGNATURE_TYPE.get(authorization.partition(" ")[0], RSA)


def parse_authorization(header: str) -> dict[str, str] | None:
    """The five parameters of a ``WECHATPAY2-SHA256-RSA2048`` or ``WECHATPAY2-SM2-WITH-SM3``
    Authorization (in any order), or None when the scheme is another or a parameter is
    missing or empty."""
    scheme, _, rest = header.partition(" ")
    params = dict(_AUTHORIZATION_PARAM.findall(rest))
    if scheme not in BY_SIGNATURE_TYPE or not all(
        params.get(name) for name in AUTHORIZATION_PARAMS
    ):
        return None
    return {name: params[name] for name in AUTHORIZATION_PARAMS}


def signature_headers(
    body: str,
    scheme: Scheme,
    private_key_pem: str,
    serial_no: str,
    *,
    timestamp: str,
    nonce: str,
) -> dict[str, str]:
    """The headers by which WeChat Pay signs an answer or a notification in ``scheme``."""
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": scheme.sign(answer_message(timestamp, nonce, body), private_key_pem),
        "Wechatpay-Serial": serial_no,
        "Wechatpay-Signature-Type": scheme.signature_type,
    }


# -- encrypted resources ----------------------------------------------------------------


def encrypted(
    scheme: Scheme, apiv3_key: str, plaintext: bytes, *, nonce: str, associated_data: str
) -> dict[str, str]:
    """An ``encrypt_certificate`` or a notification's ``resource`` (without original_type)."""
    ciphertext = scheme.seal(apiv3_key, plaintext, nonce=nonce, associated_data=associated_data)
    return {
        "algorithm": scheme.resource_algorithm,
        "ciphertext": ciphertext,
        "associated_data": associated_data,
        "nonce": nonce,
    }


def notification(
    *,
    event_id: str,
    create_time: datetime,
    event_type: str,
    summary: str,
    original_type: str,
    resource: dict[str, Any],
    scheme: Scheme,
    apiv3_key: str,
    nonce: str,
) -> dict[str, Any]:
    """A notification event whose resource (a transaction or a refund) is sealed in
    ``scheme`` with the merchant's APIv3 key, its original_type as the associated data."""
    sealed = encrypted(
        scheme,
        apiv3_key,
        json_text(resource).encode("utf-8"),
        nonce=nonce,
        associated_data=original_type,
    )
    return {
        "id": event_id,
        "create_time": rfc3339(create_time),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {"original_type": original_type, **sealed},
    }


# -- the platform certificate -----------------------------------------------------------


def platform_certificate(
    private_key: rsa.RSAPrivateKey, serial_no: str, *, not_before: datetime, not_after: datetime
) -> x509.Certificate:
    """A certificate of the platform key whose serial number is ``serial_no`` (hex), as
    merchants match it to ``Wechatpay-Serial``. Self-signed: the sandbox has no CA."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenpay.com"),
            x509.NameAttribute(NameOID.COMMON_NAME, "WeChat Pay platform (sandbox)"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(int(serial_no, 16))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(private_key, hashes.SHA256())
    )


def certificates_answer(
    certificate: x509.Certificate, serial_no: str, scheme: Scheme, apiv3_key: str, *, nonce: str
) -> dict[str, Any]:
    """The answer of ``GET /v3/certificates``: each certificate's PEM, sealed in ``scheme``
    with the merchant's APIv3 key under the associated data ``certificate``."""
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return {
        "data": [
            {
                "serial_no": serial_no,
                "effective_time": rfc3339(certificate.not_valid_before_utc),
                "expire_time": rfc3339(certificate.not_valid_after_utc),
                "encrypt_certificate": encrypted(
                    scheme, apiv3_key, pem, nonce=nonce, associated_data="certificate"
                ),
            }
        ]
    }


# -- the ALL trade bill -----------------------------------------------------------------

FEE_RATE_BPS = 60  # WeChat Pay keeps 0.60% of a payment
BILL_COLUMNS = (
    "交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号",
    "用户标识", "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额",
    "微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态",
    "商品名称", "商户数据包", "手续费", "费率", "订单金额", "申请退款金额", "费率备注",
)  # fmt: skip
BILL_TOTAL_COLUMNS = (
    "总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额",
    "订单总金额", "申请退款总金额",
)  # fmt: skip
# Bill fields are not quoted: these would break a line into other fields or lines.
_UNWRITABLE = "[,`\r\n]"


def fen_to_yuan(fen: int) -> str:
    """Fen as the bill's yuan, two decimals, ``-`` before a negative amount."""
    sign_, fen = ("-", -fen) if fen < 0 else ("", fen)
    return f"{sign_}{fen // 100}.{fen % 100:02d}"


def render_statement(
    rows: pd.DataFrame, *, mchid: str = "1900000001", appid: str = "wx0000000000000001"
) -> bytes:
    """An ALL trade bill, one line per row of a canonical statement frame, in its order.

    UTF-8 with a byte-order mark, CRLF, each field of a detail or totals line after a
    backtick. Columns beyond the canonical ones fill what the frame does not hold:
    ``out_trade_no`` and ``transaction_id`` (the trade a refund gives back), ``appid``,
    ``openid``, ``description``, ``attach`` and ``refund_status`` (SUCCESS when absent).
    A payment line is 交易状态 SUCCESS with its amount in 应结订单金额 and 订单金额; a
    refund line is REFUND with its amount in 退款金额 and 申请退款金额 and the fee it gives
    back as a negative 手续费. The totals line adds the lines up. Built column by column.
    """
    bill = common.bill_lines(rows)
    amount, fees, either = bill.amount, bill.fee, bill.either
    money = common.yuan_text(amount)
    fields = [
        common.beijing_text(rows["occurred_at"]),
        _bill_text(rows, "appid", appid),
        mchid,
        "0",
        "",
        either(_bill_text(rows, "transaction_id", ""), _bill_text(rows, "provider_ref", "")),
        either(_bill_text(rows, "out_trade_no", ""), _bill_text(rows, "ref", "")),
        _bill_text(rows, "openid", ""),
        "NATIVE",
        either("REFUND", "SUCCESS"),
        "OTHERS",
        "CNY",
        either("0.00", money),
        "0.00",
        either(_bill_text(rows, "provider_ref", ""), "0"),
        either(_bill_text(rows, "ref", ""), "0"),
        either(money, "0.00"),
        "0.00",
        either("ORIGINAL", ""),
        either(_bill_text(rows, "refund_status", "SUCCESS"), ""),
        _bill_text(rows, "description", ""),
        _bill_text(rows, "attach", ""),
        common.yuan_text(fees, places=5),
        f"{FEE_RATE_BPS / 100:.2f}%",
        either("0.00", money),
        either(money, "0.00"),
        "",
    ]
    lines = common.lines_of(fields, ",`", start="`", end="\r\n")
    payments, refunds = int(amount[~bill.is_refund].sum()), int(amount[bill.is_refund].sum())
    totals = [
        str(len(rows)),
        *map(fen_to_yuan, (payments, refunds, 0, int(fees.sum()), payments, refunds)),
    ]
    return b"".join(
        (
            "\ufeff".encode(),
            f"{','.join(BILL_COLUMNS)}\r\n".encode(),
            lines,
            f"{','.join(BILL_TOTAL_COLUMNS)}\r\n".encode(),
            f"{','.join(f'`{total}' for total in totals)}\r\n".encode(),
        )
    )


def _bill_text(rows: pd.DataFrame, name: str, default: str) -> pa.Array | str:
    """A text column for the bill (a missing value as ``default``), or ``default`` itself;
    commas, backticks and line breaks become spaces."""
    values = common.text_column(rows, name, default)
    if (
        not isinstance(values, str)
        and pc.any(pc.match_substring_regex(values, _UNWRITABLE)).as_py()
    ):
        values = pc.replace_substring_regex(values, _UNWRITABLE, " ")
    return values
