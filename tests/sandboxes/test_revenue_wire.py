"""The revenue sandbox's own wire (docs/revenue_push.md) and its checks over HTTP."""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest

from sandboxes import state
from sandboxes.revenue import views, wire

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_the_string_to_sign_is_the_protocols_eight_lines():
    text = wire.string_to_sign(
        http_method="get",
        path="/api/revenue/v1/daily-records",
        query=[("date", "2026-03-01")],
        app_key="backoffice",
        timestamp="1767225600",
        nonce="9f1c0a7e5b3d2c1f",
        body=b"",
    )
    assert text.split("\n") == [
        "HMAC-SHA256",
        "GET",
        "/api/revenue/v1/daily-records",
        "date=2026-03-01",
        "backoffice",
        "1767225600",
        "9f1c0a7e5b3d2c1f",
        EMPTY_SHA256,
    ]


def test_the_query_is_sorted_by_key_and_percent_encoded():
    pairs = [("z", "1"), ("a b", "x/y"), ("m", "杭州~")]
    assert wire.query_line(pairs) == "a%20b=x%2Fy&m=%E6%9D%AD%E5%B7%9E~&z=1"
    assert wire.query_line([]) == ""


def test_the_signature_is_base64_hmac_sha256():
    """RFC 4231, test case 2."""
    signature = wire.signature("Jefe", "what do ya want for nothing?")
    assert signature == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
    assert wire.signature_matches("Jefe", "what do ya want for nothing?", signature)
    assert not wire.signature_matches("jefe", "what do ya want for nothing?", signature)


# -- over HTTP ----------------------------------------------------------------------------

SYSTEM = "/sandbox/revenue/t1"
SECRET = "app secret"


@pytest.fixture
def system(settings) -> str:
    settings.SANDBOX_REVENUE = {"systems": {"t1": "app secret"}}
    state.reset_all()
    return "t1"


def signed(
    client,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    nonce: str = "",
    signature_method: str = wire.SIGNATURE_METHOD,
    secret: str = SECRET,
    **query,
):
    timestamp, nonce = str(int(time.time())), nonce or secrets.token_hex(8)
    text = wire.string_to_sign(
        http_method=method,
        path=path,
        query=list(query.items()),
        app_key="backoffice",
        timestamp=timestamp,
        nonce=nonce,
        body=body,
        method=signature_method,
    )
    headers = {
        wire.APP_KEY: "backoffice",
        wire.TIMESTAMP: timestamp,
        wire.NONCE: nonce,
        wire.METHOD: signature_method,
        wire.SIGNATURE: wire.signature(secret, text, signature_method),
    }
    if method == "POST":
        return client.post(path, body, content_type="application/json", headers=headers)
    return client.get(path, query, headers=headers)


RECORD = {
    "record_id": "rv_1",
    "kind": "payment",
    "sequence": 1,
    "payment_code": "33010026000000012345",
    "department_code": "330100-SCJG",
    "total_fen": 3000,
}


def test_a_signed_push_is_received_once_and_listed_in_the_days_file(client, system):
    body = json.dumps(RECORD).encode()
    first = signed(client, "POST", f"{SYSTEM}/records", body=body)
    again = signed(client, "POST", f"{SYSTEM}/records", body=body)
    day = first.json()["received_time"][:10]
    daily = signed(client, "GET", f"{SYSTEM}/daily-records", date=day)

    assert first.status_code == again.status_code == 200
    assert first.json()["receipt_no"] == again.json()["receipt_no"]
    assert daily.content.decode().splitlines() == [
        ",".join(wire.DAILY_COLUMNS),
        f"rv_1,33010026000000012345,330100-SCJG,3000,payment,{first.json()['received_time']}",
    ]


def test_a_reused_nonce_and_a_wrong_signature_are_refused(client, system):
    path = f"{SYSTEM}/records/rv_1"
    nonce = secrets.token_hex(8)
    signed(client, "GET", path, nonce=nonce)
    reused = signed(client, "GET", path, nonce=nonce)
    forged = client.get(path, headers={wire.METHOD: wire.SIGNATURE_METHOD, wire.APP_KEY: "k"})

    assert (reused.status_code, reused.json()["code"]) == (401, "1005")
    assert (forged.status_code, forged.json()["code"]) == (401, "1002")


def test_a_restarted_sandbox_still_holds_its_records(client, system, settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path
    signed(client, "POST", f"{SYSTEM}/records", body=json.dumps(RECORD).encode())

    restarted = state.Store(
        "revenue-records", encode=views._Record.encode, decode=views._Record.decode
    )

    [record] = restarted.values()
    assert (record.system_code, record.document, record.push_count) == ("t1", RECORD, 1)
    state.reset_all()


# -- HMAC-SM3 ------------------------------------------------------------------------------


def test_the_hmac_sm3_signature_is_the_one_openssl_computes():
    # printf 'what do ya want for nothing?' | openssl mac -digest SM3 -macopt key:Jefe HMAC
    tag = "2E87F1D16862E6D964B50A5200BF2B10B764FAA9680A296A2405F24BEC39F882"

    signature = wire.signature("Jefe", "what do ya want for nothing?", "HMAC-SM3")

    assert base64.b64decode(signature) == bytes.fromhex(tag)
    assert not wire.signature_matches("Jefe", "what do ya want for nothing?", signature)


def test_in_hmac_sm3_the_string_to_sign_names_it_and_ends_with_the_bodys_sm3():
    text = wire.string_to_sign(
        http_method="GET",
        path="/api/revenue/v1/daily-records",
        query=[],
        app_key="backoffice",
        timestamp="1767225600",
        nonce="9f1c0a7e5b3d2c1f",
        body=b"",
        method="HMAC-SM3",
    )
    lines = text.split("\n")
    assert lines[0] == "HMAC-SM3"
    assert lines[-1] == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"


@pytest.fixture
def sm3_system(settings) -> str:
    settings.SANDBOX_REVENUE = {
        "systems": {"t1": "app secret", "t2": "app secret"},
        "signature_methods": {"t2": "HMAC-SM3"},
    }
    state.reset_all()
    return "/sandbox/revenue/t2"


def test_a_system_set_to_hmac_sm3_takes_a_push_signed_with_it(client, sm3_system):
    body = json.dumps(RECORD).encode()

    pushed = signed(client, "POST", f"{sm3_system}/records", body=body, signature_method="HMAC-SM3")

    assert (pushed.status_code, pushed.json()["code"]) == (200, "0")
    assert pushed.json()["receipt_no"]


@pytest.mark.parametrize(
    ("system", "method"),
    [("/sandbox/revenue/t2", "HMAC-SHA256"), ("/sandbox/revenue/t1", "HMAC-SM3")],
    ids=["sha256-to-an-sm3-system", "sm3-to-a-sha256-system"],
)
def test_a_request_signed_with_the_other_method_is_refused(client, sm3_system, system, method):
    body = json.dumps(RECORD).encode()

    refused = signed(client, "POST", f"{system}/records", body=body, signature_method=method)

    assert (refused.status_code, refused.json()["code"]) == (401, "1007")
    assert method in refused.json()["message"]


def test_an_hmac_sm3_request_with_the_wrong_secret_is_refused(client, sm3_system):
    forged = signed(
        client, "GET", f"{sm3_system}/records/rv_1", signature_method="HMAC-SM3", secret="forged"
    )

    assert (forged.status_code, forged.json()["code"]) == (401, "1001")
