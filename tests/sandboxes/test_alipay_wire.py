"""The Alipay sandbox's own wire functions against Alipay's published examples, and round trips.

The examples: the request of Alipay's "自行实现签名" guide (its string to sign), the
notification of its "异步通知验签" guide, and a notification and an answer signed by Alipay
itself, with Alipay's public keys, as Alipay's Node.js SDK (alipay/alipay-sdk-nodejs-all,
test/alipay.test.ts and test/fixtures) publishes them for its own tests.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sandboxes import keys
from sandboxes.alipay import bill, wire

# -- Alipay's published examples --------------------------------------------------------

# 自行实现签名: a request, and the string the guide says is signed.
GUIDE_MENU = (
    '{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"},'
    '{"name":"查询","subButton":[{"actionParam":"ZFB_YECX","actionType":"out","name":"余额查询"},'
    '{"actionParam":"ZFB_LLCX","actionType":"out","name":"流量查询"},'
    '{"actionParam":"ZFB_HFCX","actionType":"out","name":"话费查询"}]},'
    '{"actionParam":"http://m.alipay.com","actionType":"link","name":"最新优惠"}]}'
)
GUIDE_REQUEST = {
    "app_id": "2014072300007148",
    "method": "alipay.mobile.public.menu.add",
    "charset": "GBK",
    "sign_type": "RSA2",
    "timestamp": "2014-07-24 03:07:50",
    "biz_content": GUIDE_MENU,
    "sign": "e9zEAe4TTQ4LPLQvETPoLGXTiURcxiAKfMVQ6Hrrsx2hmyIEGvSfAQzbLxHrhyZ48wOJXTsD4FPnt+YGdK57+"
    "fP1BCbf9rIVycfjhYCqlFhbTu9pFnZgT55W+xbAFb9y7vL0MyAxwXUXvZtQVqEwW7pURtKilbcBTEW7TAxzgro=",
    "version": "1.0",
}
GUIDE_REQUEST_CONTENT = (
    f"app_id=2014072300007148&biz_content={GUIDE_MENU}&charset=GBK"
    "&method=alipay.mobile.public.menu.add&sign_type=RSA2&timestamp=2014-07-24 03:07:50"
    "&version=1.0"
)

# 异步通知验签: the guide's notification (its signature is by a key it does not publish).
GUIDE_NOTIFICATION = {
    "total_amount": "2.00",
    "buyer_id": "2088102116773037",
    "body": "大乐透2.1",
    "trade_no": "2016071921001003030200089909",
    "refund_fee": "0.00",
    "notify_time": "2016-07-19 14:10:49",
    "subject": "大乐透2.1",
    "sign_type": "RSA2",
    "charset": "utf-8",
    "notify_type": "trade_status_sync",
    "out_trade_no": "0719141034-6418",
    "gmt_close": "2016-07-19 14:10:46",
    "gmt_payment": "2016-07-19 14:10:47",
    "trade_status": "TRADE_SUCCESS",
    "version": "1.0",
    "sign": "kPbQIjX+xQc8F0/A6/AocELIjhhZnGbcBN6G4MM/HmfWL4ZiHM6fWl5NQhzXJusaklZ1LFuMo+lHQUELAYeug"
    "H8LYFvxnNajOvZhuxNFbN2LhF0l/KL8ANtj8oyPM4NN7Qft2kWJTDJUpQOzCzNnV9hDxh5AaT9FPqRS6ZKxnzM=",
    "gmt_create": "2016-07-19 14:10:44",
    "app_id": "2015102700040153",
    "seller_id": "2088102119685838",
    "notify_id": "4a91b7a78a503640467525113fb7d8bg8e",
}

# A trade_status_sync notification Alipay sent and signed, with the public key it verifies by.
ALIPAY_NOTIFY_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPH"
    "R5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY"
    "+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqH"
    "WkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXf"
    "ZHraG5NCF1+XioL5JwIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
)
ALIPAY_NOTIFICATION = {
    "gmt_create": "2019-08-15 15:56:22",
    "charset": "utf-8",
    "seller_email": "z97-yuquerevenue@service.aliyun.com",
    "subject": "语雀空间 500人规模",
    "sign": "QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZp"
    "Xyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjW"
    "Xd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9C"
    "sadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ==",
    "buyer_id": "2088102534368455",
    "invoice_amount": "0.10",
    "notify_id": "2019081500222155624068450559358070",
    "fund_bill_list": '[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]',
    "notify_type": "trade_status_sync",
    "trade_status": "TRADE_SUCCESS",
    "receipt_amount": "0.10",
    "buyer_pay_amount": "0.10",
    "sign_type": "RSA2",
    "app_id": "2019073166072302",
    "seller_id": "2088531891668739",
    "gmt_payment": "2019-08-15 15:56:24",
    "notify_time": "2019-08-15 15:56:25",
    "version": "1.0",
    "out_trade_no": "20190815155618536-564-57",
    "total_amount": "0.10",
    "trade_no": "2019081522001468450512505578",
    "auth_app_id": "2019073166072302",
    "buyer_logon_id": "xud***@126.com",
    "point_amount": "0.00",
}

# An answer Alipay's gateway sent and signed, with the public key it verifies by.
ALIPAY_ANSWER_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAk7LzhmMa2c4qQd4fqAqenfbuFoA7stPKvoS1LrZEsVnOOGUU"
    "jwoa1oU9xsSPjcOWhIerU/VAN4J95GIAXx59ipcleIyfLn2FhHXPgLJpvo+b2jJFyn/1/DbeJDh+0yDVAOf50Z7HhI0m"
    "dUhFMkXlT7BU0ZMtJf/TmISFEfhDU/w6qFd6D42L97byAkq0K6LroglSVF24GqJEa7hSeUIkZWj7RasykXrc2uVJ1+ej"
    "kXE0LyPxa2AHykMGbJLf5SiZvaNzUZgnKIR36mLOHpQ/2JCXxhXZYUWHzy0kMH54JcUEeksFWBYLGvLjV1phbcUIc3Q7"
    "6tIuqApY6E222OoZZQIDAQAB\n"
    "-----END PUBLIC KEY-----\n"
)
ALIPAY_ANSWER_NODE = '{"code":"10000","msg":"Success","file_id":"CAxAToWB1JsAAAAAAAAAAAAADgSLAQBr"}'
ALIPAY_ANSWER_SIGN = (
    "F+LDzpTNiavn7xVZPGuPCSSVRSmWzJGgtuji6tVELGEaqMaNj0jRKXUEr5nloZJBBmwEnddOyCjjepMmrTKTvoOqQ0Ef"
    "xpr/R1iEeHTHVbb/Q8TTh6Up5gHJDkILdaWS2q1cWeQ6VT+HQY9P3WRXS7uhILHuDODIhpAyCu5KhWGt0rMCIG+Im6NO"
    "DJP2oohtSCtmTFXg58HH587Z2y2bdbjzOxLvzD9IrU1imghXQ2S/Q+wMIvRk9on6cWnBLkrNvJKapA2ReNGWOwyuASvB"
    "9zDVzhMPbR+3mfRGkVDxsq5HYLjBKGskJMXHw0HuugZij6ScRuaLPODhmHwr/pJ9yw=="
)

# The 业务明细 column header of the bills Alipay serves.
ALIPAY_BILL_HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,"
    "对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,"
    "商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,"
    "退款批次号/请求号,服务费（元）,分润（元）,备注"
)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def stranger() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# -- requests ---------------------------------------------------------------------------


def test_the_guides_request_is_signed_over_its_documented_string():
    assert wire.request_content(GUIDE_REQUEST) == GUIDE_REQUEST_CONTENT


def test_a_requests_empty_parameters_are_left_out_and_its_sign_type_is_signed():
    content = wire.request_content({**GUIDE_REQUEST, "notify_url": "", "return_url": ""})

    assert content == GUIDE_REQUEST_CONTENT
    assert "&sign_type=RSA2&" in content


def test_a_request_signed_with_the_apps_key_verifies_with_its_public_key_only(key, stranger):
    content = wire.request_content(GUIDE_REQUEST)
    signature = wire.sign(content, key)

    assert wire.verify(content, signature, key.public_key())
    assert not wire.verify(content, signature, stranger.public_key())
    assert not wire.verify(content.replace("GBK", "UTF-8"), signature, key.public_key())
    assert not wire.verify(content, "not base64!", key.public_key())


# -- notifications ----------------------------------------------------------------------


def test_the_guides_notification_is_checked_over_every_field_but_sign_and_sign_type():
    assert wire.notification_content(GUIDE_NOTIFICATION) == (
        "app_id=2015102700040153&body=大乐透2.1&buyer_id=2088102116773037&charset=utf-8"
        "&gmt_close=2016-07-19 14:10:46&gmt_create=2016-07-19 14:10:44"
        "&gmt_payment=2016-07-19 14:10:47&notify_id=4a91b7a78a503640467525113fb7d8bg8e"
        "&notify_time=2016-07-19 14:10:49&notify_type=trade_status_sync"
        "&out_trade_no=0719141034-6418&refund_fee=0.00&seller_id=2088102119685838"
        "&subject=大乐透2.1&total_amount=2.00&trade_no=2016071921001003030200089909"
        "&trade_status=TRADE_SUCCESS&version=1.0"
    )


def test_a_notification_alipay_signed_verifies_over_the_sandboxs_string():
    content = wire.notification_content(ALIPAY_NOTIFICATION)
    key = keys.load_public_key(ALIPAY_NOTIFY_KEY)

    assert wire.verify(content, ALIPAY_NOTIFICATION["sign"], key)


def test_alipays_notification_does_not_verify_once_a_field_changes_or_with_sign_type_signed():
    key = keys.load_public_key(ALIPAY_NOTIFY_KEY)
    signature = ALIPAY_NOTIFICATION["sign"]
    tampered = wire.notification_content({**ALIPAY_NOTIFICATION, "total_amount": "0.01"})
    with_sign_type = wire.request_content(ALIPAY_NOTIFICATION)

    assert not wire.verify(tampered, signature, key)
    assert not wire.verify(with_sign_type, signature, key)


def test_a_signed_notification_verifies_over_its_fields_as_sent(key):
    fields = {"notify_id": "n1", "sign_type": "RSA2", "subject": "营业执照 & 工本费"}

    signed = wire.signed_notification(fields, key)

    assert signed == {**fields, "sign": signed["sign"]}
    assert wire.verify("notify_id=n1&subject=营业执照 & 工本费", signed["sign"], key.public_key())


# -- answers ----------------------------------------------------------------------------


def test_an_answer_alipay_signed_verifies_over_its_members_text_as_sent():
    key = keys.load_public_key(ALIPAY_ANSWER_KEY)
    reserialised = json.dumps(json.loads(ALIPAY_ANSWER_NODE))  # the same object, with spaces

    assert wire.verify(ALIPAY_ANSWER_NODE, ALIPAY_ANSWER_SIGN, key)
    assert not wire.verify(reserialised, ALIPAY_ANSWER_SIGN, key)


def test_an_answer_body_signs_the_text_of_its_response_member(key):
    answer = {"code": "10000", "msg": "Success", "subject": "营业执照补办 {正本}"}

    body = wire.answer_body(wire.response_node("alipay.trade.query"), answer, key).decode()

    node, tail = body.removeprefix('{"alipay_trade_query_response":').rsplit(',"sign":', 1)
    signature = json.loads(tail.removesuffix("}"))
    assert json.loads(body) == {"alipay_trade_query_response": answer, "sign": signature}
    assert wire.verify(node, signature, key.public_key())


def test_a_refusal_carries_the_common_codes_message():
    assert wire.refusal("40002", "isv.invalid-signature", "验签出错") == {
        "code": "40002",
        "msg": "Invalid Arguments",
        "sub_code": "isv.invalid-signature",
        "sub_msg": "验签出错",
    }


# -- fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fen"), [("88.88", 8888), ("12.3", 1230), ("12", 1200), ("0.01", 1), (12, 1200)]
)
def test_amounts_in_yuan_are_read_as_fen_without_floats(value, fen):
    assert wire.fen(value) == fen


@pytest.mark.parametrize("value", ["1.001", "01.00", "-1.00", "1e3", " 1.00", "", 12.3, True, None])
def test_amounts_of_another_shape_are_refused(value):
    with pytest.raises(ValueError):
        wire.fen(value)


def test_an_amount_sent_as_a_json_number_keeps_its_text():
    biz = wire.biz_content('{"total_amount":88.80,"subject":"\\u8425\\u4e1a"}')

    assert biz == {"total_amount": "88.80", "subject": "营业"}
    assert wire.fen(biz["total_amount"]) == 8880


@pytest.mark.parametrize("text", ["[1]", '{"total_amount":NaN}', "{", ""])
def test_biz_content_that_is_not_a_json_object_is_refused(text):
    with pytest.raises(ValueError):
        wire.biz_content(text)


def test_times_are_beijing_wall_times_to_the_second():
    moment = wire.parse_beijing_time("2025-06-01 14:30:00")

    assert moment.utcoffset().total_seconds() == 8 * 3600
    assert wire.beijing_time(datetime.fromisoformat("2025-06-01T06:30:00+00:00")) == (
        "2025-06-01 14:30:00"
    )
    with pytest.raises(ValueError):
        wire.parse_beijing_time("2025-06-01T14:30:00")


def test_the_trade_status_vocabulary_is_alipays():
    assert [status.value for status in wire.TradeStatus] == [
        "WAIT_BUYER_PAY",
        "TRADE_CLOSED",
        "TRADE_SUCCESS",
        "TRADE_FINISHED",
    ]


def test_the_bills_column_header_is_the_one_alipays_bills_carry():
    assert ",".join(bill.COLUMNS) == ALIPAY_BILL_HEADER
