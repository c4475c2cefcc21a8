import base64
import hashlib
import hmac

import pytest

from integrations.revenue.base import ProviderUnavailable, PushRequest, ReceiptStatus
from integrations.revenue.http_json import HttpJsonRevenueSystem, system, wire
from tests.integrations.clocks import TOO_FAR, skew_clock

SECRET = "c2FuZGJveC1zZWNyZXQtZm9yLXRlc3Rz"
BODY = b'{"record_id":"rv_abc","total_fen":3000}'


def headers_for(adapter: HttpJsonRevenueSystem, query=None, body: bytes = BODY) -> dict:
    url = f"{adapter.base_url}/records"
    return adapter.signed_headers("POST", url, query or {}, body)


def text_for(
    headers: dict, *, path="/revenue/hz/records", query=None, body=BODY, method=wire.HMAC_SHA256
) -> bytes:
    return wire.string_to_sign(
        http_method="POST",
        path=path,
        query=query or {},
        app_key=headers["X-App-Key"],
        timestamp=headers["X-Timestamp"],
        nonce=headers["X-Nonce"],
        body=body,
        method=method,
    )


def adapter(secret: str = SECRET) -> HttpJsonRevenueSystem:
    return HttpJsonRevenueSystem(
        base_url="https://fiscal.example.gov.cn/revenue/hz/", app_key="app-1", secret=secret
    )


def test_the_string_to_sign_is_eight_lines_ending_with_the_body_hash():
    text = wire.string_to_sign(
        http_method="post",
        path="/revenue/hz/daily-records",
        query={"date": "2026-03-01", "b": "x y"},
        app_key="app-1",
        timestamp="1767225600",
        nonce="0123456789abcdef",
        body=b"",
    )

    assert text.decode().split("\n") == [
        "HMAC-SHA256",
        "POST",
        "/revenue/hz/daily-records",
        "b=x%20y&date=2026-03-01",
        "app-1",
        "1767225600",
        "0123456789abcdef",
        hashlib.sha256(b"").hexdigest(),
    ]


def test_the_signature_is_base64_hmac_sha256_keyed_with_the_secret():
    text = b"some\ntext"
    expected = base64.b64encode(hmac.new(SECRET.encode(), text, hashlib.sha256).digest()).decode()

    assert wire.sign(SECRET, text) == expected
    assert wire.matches(SECRET, text, expected)
    assert not wire.matches("another-secret", text, expected)


def test_signed_headers_carry_the_app_key_a_fresh_nonce_and_a_verifying_signature():
    first, second = headers_for(adapter()), headers_for(adapter())

    assert first["X-App-Key"] == "app-1"
    assert first["X-Signature-Method"] == "HMAC-SHA256"
    assert first["X-Timestamp"].isdigit()
    assert len(first["X-Nonce"]) == 32 and first["X-Nonce"] != second["X-Nonce"]
    assert wire.matches(SECRET, text_for(first), first["X-Signature"])


def test_a_changed_body_path_or_query_breaks_the_signature():
    headers = headers_for(adapter())
    signature = headers["X-Signature"]

    assert not wire.matches(SECRET, text_for(headers, body=BODY + b" "), signature)
    assert not wire.matches(SECRET, text_for(headers, path="/revenue/zj/records"), signature)
    assert not wire.matches(SECRET, text_for(headers, query={"date": "x"}), signature)


def test_a_request_signed_with_another_secret_does_not_verify():
    headers = headers_for(adapter(secret="forged"))

    assert not wire.matches(SECRET, text_for(headers), headers["X-Signature"])


def test_the_query_is_canonical_whatever_its_order():
    assert wire.canonical_query({"b": "2", "a": "1"}) == wire.canonical_query({"a": "1", "b": "2"})
    assert wire.canonical_query({}) == ""


# -- HMAC-SM3, for systems that require the national algorithm ------------------------------


def test_in_hmac_sm3_the_string_to_sign_names_it_and_ends_with_the_bodys_sm3():
    text = wire.string_to_sign(
        http_method="GET",
        path="/revenue/hz/daily-records",
        query={"date": "2026-03-01"},
        app_key="app-1",
        timestamp="1767225600",
        nonce="0123456789abcdef",
        body=b"",
        method=wire.HMAC_SM3,
    )

    lines = text.decode().split("\n")
    assert lines[0] == "HMAC-SM3"
    assert lines[-1] == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"


def test_the_hmac_sm3_signature_is_the_one_openssl_computes():
    # printf 'what do ya want for nothing?' | openssl mac -digest SM3 -macopt key:Jefe HMAC
    tag = "2E87F1D16862E6D964B50A5200BF2B10B764FAA9680A296A2405F24BEC39F882"

    signature = wire.sign("Jefe", b"what do ya want for nothing?", wire.HMAC_SM3)

    assert base64.b64decode(signature) == bytes.fromhex(tag)


def test_an_adapter_agreed_on_hmac_sm3_signs_every_request_with_it():
    sm3_adapter = HttpJsonRevenueSystem(
        base_url="https://fiscal.example.gov.cn/revenue/hz/",
        app_key="app-1",
        secret=SECRET,
        signature_method="HMAC-SM3",
    )

    headers = headers_for(sm3_adapter)
    text = text_for(headers, method=wire.HMAC_SM3)

    assert headers["X-Signature-Method"] == "HMAC-SM3"
    assert wire.matches(SECRET, text, headers["X-Signature"], wire.HMAC_SM3)
    assert not wire.matches(SECRET, text, headers["X-Signature"], wire.HMAC_SHA256)
    assert not wire.matches(SECRET, text_for(headers), headers["X-Signature"], wire.HMAC_SM3)


def test_a_signature_method_of_neither_kind_is_refused():
    with pytest.raises(ValueError, match="HMAC-MD5"):
        HttpJsonRevenueSystem(
            base_url="https://x.example", app_key="a", secret=SECRET, signature_method="HMAC-MD5"
        )


# -- against the sandbox ----------------------------------------------------------------


@pytest.fixture
def sandbox_system(live_service, settings) -> HttpJsonRevenueSystem:
    """An adapter to a system of the sandbox's, on the live server."""
    settings.SANDBOX_REVENUE = {"systems": {"clock": SECRET}}
    return HttpJsonRevenueSystem(
        base_url=f"{live_service.url}/sandbox/revenue/clock", app_key="app-1", secret=SECRET
    )


RECORD = PushRequest(
    record_id="rv_clock",
    kind="payment",
    sequence=1,
    content={"payment_code": "33010000000000000017", "department_code": "D1", "total_fen": 1},
)


@pytest.mark.parametrize("offset", [-TOO_FAR, TOO_FAR], ids=["late", "early"])
def test_a_stale_timestamp_is_retryable_and_a_fresh_one_goes(sandbox_system, monkeypatch, offset):
    skew_clock(monkeypatch, system, offset)

    with pytest.raises(ProviderUnavailable, match="clock") as refused:
        sandbox_system.push(RECORD)

    assert refused.value.http_status == 401 and "code 1003" in str(refused.value)
    monkeypatch.undo()
    assert sandbox_system.push(RECORD).status == ReceiptStatus.RECEIPTED
