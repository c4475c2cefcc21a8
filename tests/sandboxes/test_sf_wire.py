"""The SF sandbox's own wire: SF's digest example, its envelopes, and its checks over HTTP."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest

from sandboxes import state
from sandboxes.sf import views, wire

SERVICE = "/sandbox/sf/std/service"


def test_the_digest_of_sfs_published_example():
    msg_data = '{"language":"zh-CN","orderId":"QIAO-20200618-004"}'
    digest = wire.msg_digest(msg_data, "12312334453453", "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci")
    assert digest == "IIKJtuLVzoFTu4kHI8M8vA=="


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("aZ09.-*_", "aZ09.-*_"),  # what Java's URLEncoder leaves alone
        ("a b", "a+b"),
        ("~+/:{}", "%7E%2B%2F%3A%7B%7D"),  # ~ too, unlike RFC 3986 encoders
        ("顺丰", "%E9%A1%BA%E4%B8%B0"),
    ],
)
def test_the_digest_encodes_as_javas_url_encoder(text, encoded):
    assert wire.java_url_encode(text) == encoded


def test_a_service_result_travels_as_a_json_string_in_the_answer():
    answer = wire.api_answer("req-1", wire.API_OK, "", wire.succeeded({"orderId": "o1"}))
    assert set(answer) == {"apiResponseID", "apiResultCode", "apiErrorMsg", "apiResultData"}
    assert json.loads(answer["apiResultData"]) == {
        "success": True,
        "errorCode": "S0000",
        "errorMsg": None,
        "msgData": {"orderId": "o1"},
    }
    refused = wire.api_answer("req-2", wire.API_BAD_DIGEST, "数字签名无效", None)
    assert (refused["apiResultCode"], refused["apiResultData"]) == ("A1006", None)


def test_a_route_push_carries_one_to_ten_routes():
    route = {"mailno": "SF1", "opCode": "50", "acceptTime": "2026-03-01 10:00:00"}
    assert json.loads(wire.route_push([route])) == {"Body": {"WaybillRoute": [route]}}
    for routes in ([], [route] * 11):
        with pytest.raises(ValueError):
            wire.route_push(routes)


@pytest.mark.parametrize(
    ("answer", "acknowledged"),
    [
        ('{"return_code":"0000","return_msg":"成功"}', True),
        ('{"return_code":"1000","return_msg":"失败"}', False),
        ("OK", False),
        ("[]", False),
    ],
)
def test_only_return_code_0000_acknowledges_a_push(answer, acknowledged):
    assert wire.push_acknowledged(answer) is acknowledged


# -- the platform's checks ----------------------------------------------------------------


@pytest.fixture
def partner(settings) -> tuple[str, str]:
    settings.SANDBOX_SF_EXPRESS = {**settings.SANDBOX_SF_EXPRESS, "partners": {"P1": "word"}}
    state.reset_all()
    return "P1", "word"


def call(client, partner_id: str, check_word: str, msg: dict, **changes: str):
    msg_data = json.dumps(msg, ensure_ascii=False)
    timestamp = str(int(time.time() * 1000))
    form = {
        "partnerID": partner_id,
        "requestID": "req-1",
        "serviceCode": wire.CREATE_ORDER,
        "timestamp": timestamp,
        "msgData": msg_data,
        "msgDigest": wire.msg_digest(msg_data, timestamp, check_word),
        **changes,
    }
    return client.post(SERVICE, form).json()


ORDER = {"orderId": "o 1+中", "contactInfoList": [{"contactType": 1}]}


def test_a_signed_order_is_created_and_a_second_is_a_duplicate(client, partner):
    first = json.loads(call(client, *partner, ORDER)["apiResultData"])
    again = json.loads(call(client, *partner, ORDER)["apiResultData"])

    assert first["success"] and first["msgData"]["orderId"] == "o 1+中"
    assert (again["success"], again["errorCode"]) == (False, views.DUPLICATE_ORDER)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"msgDigest": "IIKJtuLVzoFTu4kHI8M8vA=="}, "A1006"),
        ({"timestamp": str(int(time.time() * 1000) - 11 * 60 * 1000)}, "A1002"),
        ({"partnerID": "P2"}, "A1004"),
        ({"requestID": ""}, "A1001"),
    ],
)
def test_the_platform_refuses_before_any_service_runs(client, partner, changes, code):
    answer = call(client, *partner, ORDER, **changes)
    assert (answer["apiResultCode"], answer["apiResultData"]) == (code, None)


def test_a_restarted_sandbox_still_holds_its_orders(client, partner, settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path
    call(client, *partner, ORDER)

    restarted = state.Store("sf-orders", encode=views._Order.encode, decode=views._Order.decode)

    assert [asdict(order)["order_id"] for order in restarted.values()] == ["o 1+中"]
    state.reset_all()
    assert not (tmp_path / "sf-orders.jsonl").exists()
