import base64
import time

import pytest

from billing.webhook_signing import WebhookVerificationError, new_secret, sign, verify

# The example from the Standard Webhooks specification and its reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers_for(msg_id: str, timestamp: int, signature: str) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


def signed(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return headers_for("evt_1", timestamp, sign(secret, "evt_1", timestamp, body))


def test_new_secret_is_whsec_and_base64_of_32_random_bytes():
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_signature_matches_the_standard_webhooks_example():
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_the_standard_webhooks_example_verifies_at_its_own_time():
    headers = headers_for(SPEC_ID, SPEC_TIMESTAMP, SPEC_SIGNATURE)

    verify(SPEC_SECRET, headers, SPEC_BODY, now=SPEC_TIMESTAMP + 10)


def test_a_signed_body_verifies_with_the_same_secret():
    secret = new_secret()
    body = b'{"type":"payment_order.paid","data":{"amount":1500}}'

    verify(secret, signed(secret, body), body)


def test_header_names_are_matched_whatever_their_case():
    secret = new_secret()
    headers = {name.title(): value for name, value in signed(secret, b"{}").items()}

    verify(secret, headers, b"{}")


def test_a_tampered_body_is_rejected():
    secret = new_secret()
    headers = signed(secret, b'{"amount":1500}')

    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(secret, headers, b'{"amount":1}')


def test_another_secret_is_rejected():
    headers = signed(new_secret(), b"{}")

    with pytest.raises(WebhookVerificationError):
        verify(new_secret(), headers, b"{}")


def test_a_timestamp_older_than_the_tolerance_is_rejected():
    secret = new_secret()
    headers = signed(secret, b"{}", timestamp=int(time.time()) - 301)

    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(secret, headers, b"{}")


def test_a_timestamp_too_far_in_the_future_is_rejected():
    secret = new_secret()
    headers = signed(secret, b"{}", timestamp=int(time.time()) + 301)

    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify(secret, headers, b"{}")


def test_a_changed_timestamp_breaks_the_signature():
    secret = new_secret()
    headers = signed(secret, b"{}")
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)

    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        verify(secret, headers, b"{}")


def test_any_one_matching_signature_among_several_is_enough():
    secret = new_secret()
    timestamp = int(time.time())
    good = sign(secret, "evt_1", timestamp, b"{}")
    stale = sign(new_secret(), "evt_1", timestamp, b"{}")
    headers = headers_for("evt_1", timestamp, f"{stale} v1a,c29tZXRoaW5nIGVsc2U= {good}")

    verify(secret, headers, b"{}")


def test_several_signatures_none_matching_are_rejected():
    secret = new_secret()
    timestamp = int(time.time())
    others = " ".join(sign(new_secret(), "evt_1", timestamp, b"{}") for _ in range(3))

    with pytest.raises(WebhookVerificationError):
        verify(secret, headers_for("evt_1", timestamp, others), b"{}")


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_rejected(missing):
    secret = new_secret()
    headers = signed(secret, b"{}")
    del headers[missing]

    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(secret, headers, b"{}")


def test_a_malformed_timestamp_is_rejected():
    secret = new_secret()
    headers = signed(secret, b"{}")
    headers["webhook-timestamp"] = "yesterday"

    with pytest.raises(WebhookVerificationError, match="malformed"):
        verify(secret, headers, b"{}")


def test_a_secret_that_is_not_base64_cannot_sign():
    with pytest.raises(ValueError, match="whsec_"):
        sign("whsec_not base64!", "evt_1", 0, b"{}")
