"""WeChat Pay API v3 signatures, notification decryption and bill reading: no DB, no network.

Both schemes: RSA (``WECHATPAY2-SHA256-RSA2048``, AEAD_AES_256_GCM) and the national mode
(``WECHATPAY2-SM2-WITH-SM3``, AEAD_SM4_GCM). The national mode's examples are the test
vectors of WeChat Pay's official Java SDK (github.com/wechatpay-apiv3/wechatpay-java,
shangmi-testing, Apache-2.0): its test merchant key, its SM2 signature of "message", and
an AEAD_SM4_GCM ciphertext under its test APIv3 key.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.money import BEIJING
from integrations.crypto import sm2, sm3, sm4
from integrations.payments.base import InvalidNotification, RefundStatus, TradeStatus
from integrations.payments.wechatpay import WechatPayChannel, WechatPayCredentials, wire
from integrations.payments.wechatpay.bill import parse_trade_bill
from integrations.payments.wechatpay.schemes import RsaScheme, Scheme, Sm2Scheme, build_scheme
from tests.integrations.helpers import key_pems, new_key

SAMPLE_BILL = Path(__file__).parents[1] / "fixtures" / "wechatpay" / "wechatpay-php__bill.ALL.csv"
APIV3_KEY = "0123456789abcdefghijklmnopqrstuv"  # 32 characters, as WeChat issues them
PLATFORM_SERIAL = "5157F09EFDC096DE15EBE81A47057A7200000001"

# wechatpay-java shangmi-testing: TestConfig.API_V3_KEY, merchant_private_key.pem, and the
# vectors of BaseSM2Test ("message" signed with that key) and BaseAeadSM4Test.
JAVA_SDK_APIV3_KEY = "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb"
JAVA_SDK_SM2_KEY = """-----BEGIN PRIVATE KEY-----
MIGTAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBHkwdwIBAQQg/U9Saz5ceDGQhFBM
f/cHIh2+q5Lzvhrb8L2SI4sPUR+gCgYIKoEcz1UBgi2hRANCAAR7zUf3XqGdBMCn
K02nD1fdGz+TN8xd0SQYgbkTQxk5v2mlXva0ZxDH4XJFI9D2Rt1pTSSDl29uhQ1G
Y3j6iy9+
-----END PRIVATE KEY-----
"""
JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE = (
    "MEYCIQD35Rp3CKt7pLme/a0GaCVmwSeOl7X/12+ppRivcJuf6QIhAO5Vpy4tSk9SJUrgH5I5Qy0aYhFG9lN0a"
    "of1f5wJOI05"
)
JAVA_SDK_SM4_RESOURCE = {
    "algorithm": "AEAD_SM4_GCM",
    "ciphertext": "+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ7w==",
    "nonce": "uluk4a9R25RW",
    "associated_data": "associatedData",
}


@dataclass(frozen=True)
class Platform:
    """WeChat Pay's side in one scheme, written with the primitives directly: it signs
    answers and notifications and seals resources as the published documents say."""

    scheme: str
    signature_type: str
    resource_algorithm: str
    public_key_pem: str
    sign: Callable[[bytes], str]
    seal: Callable[[bytes, str, str], str]  # (plaintext, nonce, associated data) -> Base64


def rsa_platform(apiv3_key: str = APIV3_KEY) -> Platform:
    key = new_key()
    return Platform(
        "rsa",
        "WECHATPAY2-SHA256-RSA2048",
        "AEAD_AES_256_GCM",
        key_pems(key)[1],
        lambda text: b64(key.sign(text, padding.PKCS1v15(), hashes.SHA256())),
        lambda plaintext, nonce, associated_data: b64(
            AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode())
        ),
    )


def sm2_platform(apiv3_key: str = APIV3_KEY) -> Platform:
    key = sm2.generate_private_key()
    resource_key = sm3.digest(apiv3_key.encode())[:16]  # the first 128 bits of SM3(APIv3 key)
    return Platform(
        "sm2",
        "WECHATPAY2-SM2-WITH-SM3",
        "AEAD_SM4_GCM",
        sm2.public_key_pem(key.public_key()),
        lambda text: b64(sm2.sign(text, key)),
        lambda plaintext, nonce, associated_data: b64(
            sm4.gcm_seal(
                resource_key,
                plaintext,
                nonce=nonce.encode(),
                associated_data=associated_data.encode(),
            )
        ),
    )


PLATFORMS = {"rsa": rsa_platform, "sm2": sm2_platform}
MERCHANT_KEYS = {
    "rsa": lambda: key_pems(new_key())[0],
    "sm2": lambda: sm2.private_key_pem(sm2.generate_private_key()),
}
OTHER = {"rsa": "sm2", "sm2": "rsa"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def channel_for(platform: Platform) -> WechatPayChannel:
    credentials = WechatPayCredentials(
        mchid="1900000001",
        appid="wx0000000000000001",
        merchant_serial_no="3775B6A45ACD588826D15E583A95F5DD00000001",
        private_key_pem=MERCHANT_KEYS[platform.scheme](),
        apiv3_key=APIV3_KEY,
        platform_serial_no=PLATFORM_SERIAL,
        platform_public_key_pem=platform.public_key_pem,
        scheme=platform.scheme,
    )
    return WechatPayChannel(base_url="http://127.0.0.1:9", credentials=credentials)


def java_sdk_scheme(platform_key: sm2.PublicKey | None = None) -> Scheme:
    """The national scheme with the Java SDK's test key as the merchant's and, unless
    another is given, as the platform's."""
    sdk_key = sm2.load_private_key(JAVA_SDK_SM2_KEY)
    return build_scheme(
        "sm2",
        private_key_pem=JAVA_SDK_SM2_KEY,
        platform_public_key_pem=sm2.public_key_pem(platform_key or sdk_key.public_key()),
        apiv3_key=JAVA_SDK_APIV3_KEY,
    )


@pytest.fixture(scope="module", params=list(PLATFORMS))
def platform(request) -> Platform:
    """WeChat Pay in each scheme; ``channel`` is configured in the same one."""
    return PLATFORMS[request.param]()


@pytest.fixture(scope="module")
def channel(platform) -> WechatPayChannel:
    return channel_for(platform)


@pytest.fixture(scope="module")
def stranger(platform) -> Platform:
    """Someone with a key of the platform's scheme that is not the platform's."""
    return PLATFORMS[platform.scheme]()


@pytest.fixture(scope="module")
def other_scheme(platform) -> Platform:
    """WeChat Pay in the scheme the channel was not configured for."""
    return PLATFORMS[OTHER[platform.scheme]]()


# -- the strings that are signed --------------------------------------------------------


def test_the_request_string_matches_the_documented_get_example_with_an_empty_body_line():
    text = wire.request_text(
        "GET", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", ""
    )

    assert text == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_the_request_string_of_a_post_carries_the_path_with_its_query_and_the_exact_body():
    body = '{"mchid":"1900000001","description":"营业执照补办"}'

    text = wire.request_text("POST", "/v3/x?a=1&b=2", "1554208460", "N0NCE", body)

    assert text == f"POST\n/v3/x?a=1&b=2\n1554208460\nN0NCE\n{body}\n".encode()


def test_the_answer_string_is_timestamp_nonce_and_body_each_ending_a_line():
    assert wire.signing_text("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", "{}") == (
        b"1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{}\n"
    )


def test_the_authorization_header_names_the_schema_and_every_parameter_in_quotes():
    header = wire.authorization(
        RsaScheme.signature_type,
        mchid="1900009191",
        serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        nonce="593BEC0C930BF1AFEB40B4A08C8FB242",
        timestamp="1554208460",
        signature="c2lnbmF0dXJl",
    )

    assert header.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900009191",')
    assert 'nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242"' in header
    assert 'timestamp="1554208460"' in header
    assert 'serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"' in header
    assert ", " not in header  # parameters are separated by commas only


def test_the_national_authorization_differs_from_the_rsa_one_in_its_schema_only():
    # The parameters of the national mode's documented example header.
    params = {
        "mchid": "2480467911",
        "serial_no": "157056765AB5A9EEE5D363D0329039A254D5EF49",
        "nonce": "fixednonce",
        "timestamp": "1636620536",
        "signature": "MEYCIQC9Pab48+YSk12XBmbFOptRwDxbOy/deyz2haXso+UJhAIhAIXMAPRvH1qruowl21i8w/"
        "Ahy0/SpQvBrpcl9NGLomeV",
    }

    national = wire.authorization(Sm2Scheme.signature_type, **params)
    international = wire.authorization(RsaScheme.signature_type, **params)

    assert national.startswith('WECHATPAY2-SM2-WITH-SM3 mchid="2480467911",')
    assert national.split(" ", 1)[1] == international.split(" ", 1)[1]


# -- the schemes ------------------------------------------------------------------------


def test_an_rsa_request_is_signed_sha256_with_rsa_by_the_merchant_key():
    merchant = new_key()
    private_pem, public_pem = key_pems(merchant)
    scheme = build_scheme(
        "rsa", private_key_pem=private_pem, platform_public_key_pem=public_pem, apiv3_key=APIV3_KEY
    )
    text = wire.request_text("GET", "/v3/certificates", "1554208460", "N", "")

    signature = base64.b64decode(scheme.sign(text))

    assert len(signature) == 256  # RSA 2048
    merchant.public_key().verify(signature, text, padding.PKCS1v15(), hashes.SHA256())


def test_a_national_request_is_signed_sm2_with_sm3_in_der_by_the_merchant_key():
    merchant = sm2.load_private_key(JAVA_SDK_SM2_KEY)
    text = wire.request_text("GET", "/v3/certificates", "1554208460", "N", "")

    signature = base64.b64decode(java_sdk_scheme().sign(text))

    assert signature[0] == 0x30  # DER, WeChat's RS_ASN1
    assert sm2.verify(signature, text, merchant.public_key())
    assert not sm2.verify(signature, text + b" ", merchant.public_key())


def test_the_national_scheme_verifies_the_java_sdks_signature_and_nothing_else():
    scheme, other_key = java_sdk_scheme(), java_sdk_scheme(sm2.generate_private_key().public_key())

    assert scheme.verify(b"message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE)
    assert not scheme.verify(b"false-message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE)
    assert not other_key.verify(b"message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE)
    assert not scheme.verify(b"message", "not base64!")
    assert not scheme.verify(b"message", b64(b"\x30\x03\x02\x01\x01"))  # DER, not a signature


def test_the_national_scheme_opens_the_java_sdks_sm4_resource_with_the_sm3_derived_key():
    # BaseAeadSM4Test.testDecryptFail: the same ciphertext with its last character changed.
    altered = {**JAVA_SDK_SM4_RESOURCE, "ciphertext": "+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ8w=="}

    assert wire.decrypt_resource(java_sdk_scheme(), JAVA_SDK_SM4_RESOURCE) == b"plaintext"
    with pytest.raises(ValueError, match="does not decrypt"):
        wire.decrypt_resource(java_sdk_scheme(), altered)


@pytest.mark.parametrize("scheme", list(PLATFORMS))
def test_a_merchant_key_of_the_other_scheme_is_refused_when_the_channel_is_built(scheme):
    with pytest.raises(ValueError):
        build_scheme(
            scheme,
            private_key_pem=MERCHANT_KEYS[OTHER[scheme]](),
            platform_public_key_pem=PLATFORMS[scheme]().public_key_pem,
            apiv3_key=APIV3_KEY,
        )


def test_an_unknown_scheme_is_refused_by_name():
    with pytest.raises(ValueError, match="'sm9'"):
        build_scheme("sm9", private_key_pem="", platform_public_key_pem="", apiv3_key=APIV3_KEY)


# -- resources --------------------------------------------------------------------------


def test_a_resource_sealed_in_the_scheme_opens_and_carries_its_tag(channel, platform):
    plaintext = b'{"out_trade_no":"pay_1"}'
    resource = {
        "algorithm": platform.resource_algorithm,
        "ciphertext": platform.seal(plaintext, "fdasflkja484", "transaction"),
        "nonce": "fdasflkja484",
        "associated_data": "transaction",
    }

    assert len(base64.b64decode(resource["ciphertext"])) == len(plaintext) + 16
    assert wire.decrypt_resource(channel._scheme, resource) == plaintext
    with pytest.raises(ValueError, match="does not decrypt"):
        wire.decrypt_resource(channel._scheme, {**resource, "associated_data": "refund"})


def test_a_resource_sealed_under_another_apiv3_key_does_not_open(channel, platform):
    resource = {
        "algorithm": platform.resource_algorithm,
        "ciphertext": PLATFORMS[platform.scheme]("x" * 32).seal(b"{}", "fdasflkja484", "refund"),
        "nonce": "fdasflkja484",
        "associated_data": "refund",
    }

    with pytest.raises(ValueError, match="does not decrypt"):
        wire.decrypt_resource(channel._scheme, resource)


def test_a_resource_sealed_with_the_other_schemes_algorithm_is_refused(channel, other_scheme):
    resource = {
        "algorithm": other_scheme.resource_algorithm,
        "ciphertext": other_scheme.seal(b"{}", "fdasflkja484", "transaction"),
        "nonce": "fdasflkja484",
        "associated_data": "transaction",
    }

    with pytest.raises(ValueError, match="algorithm"):
        wire.decrypt_resource(channel._scheme, resource)


# -- notifications ----------------------------------------------------------------------

TRANSACTION = {
    "appid": "wx0000000000000001",
    "mchid": "1900000001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "transaction_id": "4200000985202506011234567890",
    "trade_type": "NATIVE",
    "trade_state": "SUCCESS",
    "trade_state_desc": "支付成功",
    "bank_type": "OTHERS",
    "attach": "11010012345678901238",
    "success_time": "2025-06-01T14:30:02+08:00",
    "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
    "amount": {"total": 12345, "payer_total": 12345, "currency": "CNY", "payer_currency": "CNY"},
}
REFUND = {
    "mchid": "1900000001",
    "out_trade_no": "pay_abcdefghijklmnopqrst",
    "transaction_id": "4200000985202506011234567890",
    "out_refund_no": "rfd_abcdefghijklmnopqrs",
    "refund_id": "50000000382019052709732678859",
    "refund_status": "SUCCESS",
    "success_time": "2025-06-02T09:00:00+08:00",
    "user_received_account": "支付用户零钱",
    "amount": {"total": 12345, "refund": 2345, "payer_total": 12345, "payer_refund": 2345},
}


def _event(platform: Platform, event_type: str, resource: dict, **changes) -> bytes:
    original_type = "refund" if event_type.startswith("REFUND") else "transaction"
    plaintext = json.dumps(resource, ensure_ascii=False).encode()
    event = {
        "id": "EV-2018022511223320873",
        "create_time": "2025-06-01T14:30:05+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": {
            "original_type": original_type,
            "algorithm": platform.resource_algorithm,
            "ciphertext": platform.seal(plaintext, "fdasflkja484", original_type),
            "associated_data": original_type,
            "nonce": "fdasflkja484",
        },
        **changes,
    }
    return json.dumps(event, ensure_ascii=False).encode()


def _headers(body: bytes, signer: Platform, **changes: str) -> dict[str, str]:
    timestamp, nonce = changes.pop("timestamp", str(int(time.time()))), "c5ac7061fccab6bf"
    headers = {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signer.sign(wire.signing_text(timestamp, nonce, body.decode())),
        "Wechatpay-Serial": PLATFORM_SERIAL,
        "Wechatpay-Signature-Type": signer.signature_type,
    }
    return {**headers, **changes}


def test_a_signed_payment_notification_is_decrypted_into_a_trade_result(channel, platform):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)

    notification = channel.parse_notification(_headers(body, platform), body)

    assert notification.notify_id == "EV-2018022511223320873"
    assert notification.refund is None
    assert notification.result.out_trade_no == "pay_abcdefghijklmnopqrst"
    assert notification.result.provider_trade_no == "4200000985202506011234567890"
    assert notification.result.status == TradeStatus.SUCCEEDED
    assert notification.result.amount == 12345
    assert notification.result.paid_at == datetime(2025, 6, 1, 14, 30, 2, tzinfo=BEIJING)


def test_headers_are_found_whatever_their_case(channel, platform):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)
    headers = {name.lower(): value for name, value in _headers(body, platform).items()}

    assert channel.parse_notification(headers, body).result.amount == 12345


@pytest.mark.parametrize(
    ("event_type", "refund_status", "status"),
    [
        ("REFUND.SUCCESS", "SUCCESS", RefundStatus.SUCCEEDED),
        ("REFUND.CLOSED", "CLOSED", RefundStatus.FAILED),
        ("REFUND.ABNORMAL", "ABNORMAL", RefundStatus.PENDING),
    ],
)
def test_a_refund_notification_is_decrypted_into_a_refund_result(
    channel, platform, event_type, refund_status, status
):
    resource = {**REFUND, "refund_status": refund_status}
    body = _event(platform, event_type, resource)

    notification = channel.parse_notification(_headers(body, platform), body)

    assert notification.result is None
    assert notification.refund.status == status
    assert notification.refund.out_refund_no == "rfd_abcdefghijklmnopqrs"
    assert notification.refund.out_trade_no == "pay_abcdefghijklmnopqrst"
    assert notification.refund.provider_refund_no == "50000000382019052709732678859"
    assert notification.refund.amount == 2345
    assert (notification.refund.refunded_at is not None) == (refund_status == "SUCCESS")


def test_a_notification_signed_with_another_key_is_rejected_before_decrypting(
    channel, platform, stranger
):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match="does not verify"):
        channel.parse_notification(_headers(body, stranger), body)


def test_a_notification_whose_body_changed_after_signing_is_rejected(channel, platform):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)
    tampered = body.replace(b"EV-2018022511223320873", b"EV-2018022511223320874")

    with pytest.raises(InvalidNotification, match="does not verify"):
        channel.parse_notification(_headers(body, platform), tampered)


def test_a_signed_notification_sealed_with_another_apiv3_key_is_rejected(channel, platform):
    body = _event(PLATFORMS[platform.scheme]("y" * 32), "TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match="does not decrypt"):
        channel.parse_notification(_headers(body, platform), body)


def test_a_signed_notification_whose_sealed_resource_was_altered_is_rejected(channel, platform):
    event = json.loads(_event(platform, "TRANSACTION.SUCCESS", TRANSACTION))
    sealed = bytearray(base64.b64decode(event["resource"]["ciphertext"]))
    sealed[3] ^= 0x01  # one bit of the ciphertext, its tag unchanged
    event["resource"]["ciphertext"] = b64(bytes(sealed))
    body = json.dumps(event, ensure_ascii=False).encode()

    with pytest.raises(InvalidNotification, match="does not decrypt"):
        channel.parse_notification(_headers(body, platform), body)


def test_a_notification_in_the_other_scheme_is_refused_though_genuine(channel, other_scheme):
    body = _event(other_scheme, "TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match="not the configured"):
        channel.parse_notification(_headers(body, other_scheme), body)


def test_a_notification_that_declares_our_scheme_but_is_signed_in_the_other_is_refused(
    channel, platform, other_scheme
):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)
    headers = _headers(body, other_scheme, **{"Wechatpay-Signature-Type": platform.signature_type})

    with pytest.raises(InvalidNotification, match="does not verify"):
        channel.parse_notification(headers, body)


def test_a_national_notification_without_a_signature_type_is_taken_for_rsa_and_refused():
    platform = sm2_platform()
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)
    headers = _headers(body, platform)
    del headers["Wechatpay-Signature-Type"]

    with pytest.raises(InvalidNotification, match="WECHATPAY2-SHA256-RSA2048"):
        channel_for(platform).parse_notification(headers, body)


def test_an_rsa_notification_without_a_signature_type_is_accepted():
    platform = rsa_platform()
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)
    headers = _headers(body, platform)
    del headers["Wechatpay-Signature-Type"]

    assert channel_for(platform).parse_notification(headers, body).result.amount == 12345


@pytest.mark.parametrize(
    ("header_changes", "message"),
    [
        ({"Wechatpay-Serial": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"}, "serial"),
        ({"timestamp": str(int(time.time()) - 301)}, "5 minutes"),
        ({"Wechatpay-Signature": ""}, "missing"),
        ({"Wechatpay-Signature-Type": "WECHATPAY2-SM2"}, "not the configured"),
    ],
    ids=["unknown-serial", "stale", "unsigned", "unknown-type"],
)
def test_a_notification_with_doubtful_signature_headers_is_rejected(
    channel, platform, header_changes, message
):
    body = _event(platform, "TRANSACTION.SUCCESS", TRANSACTION)

    with pytest.raises(InvalidNotification, match=message):
        channel.parse_notification(_headers(body, platform, **header_changes), body)


@pytest.mark.parametrize(
    ("event_type", "resource", "changes"),
    [
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "mchid": "1900000002"}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "amount": {"total": "12345"}}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "success_time": "2025-06-01 14:30:02"}, {}),
        ("TRANSACTION.SUCCESS", {**TRANSACTION, "trade_state": "PAID"}, {}),
        ("TRANSACTION.SUCCESS", TRANSACTION, {"id": ""}),
        ("TRANSACTION.SUCCESS", TRANSACTION, {"resource_type": "plain"}),
        ("COUPON.USE", TRANSACTION, {}),
        ("REFUND.SUCCESS", {**REFUND, "refund_status": "DONE"}, {}),
    ],
    ids=[
        "other-merchant",
        "text-amount",
        "naive-time",
        "unknown-state",
        "no-id",
        "not-encrypted",
        "unknown-event",
        "unknown-refund-status",
    ],
)
def test_a_genuine_notification_with_a_wrong_field_is_rejected(
    channel, platform, event_type, resource, changes
):
    body = _event(platform, event_type, resource, **changes)

    with pytest.raises(InvalidNotification):
        channel.parse_notification(_headers(body, platform), body)


@pytest.mark.parametrize("body", [b"{not json", b"[]", b"", b"\xff\xfe", b'{"id":"a","id":"b"}'])
def test_a_malformed_notification_is_rejected(channel, platform, body):
    signed_over = body if body.isascii() else b""

    with pytest.raises(InvalidNotification):
        channel.parse_notification(_headers(signed_over, platform), body)


def test_acknowledging_answers_204_and_refusing_answers_a_fail_code():
    channel = WechatPayChannel.__new__(WechatPayChannel)

    accepted, refused = channel.acknowledge(accepted=True), channel.acknowledge(accepted=False)

    assert (accepted.status, accepted.body) == (204, b"")
    assert refused.status == 400
    assert json.loads(refused.body)["code"] == "FAIL"


def test_the_credentials_never_show_their_keys():
    credentials = WechatPayCredentials("1", "wx", "S", "PRIVATE-PEM", APIV3_KEY, "P", "PUBLIC")

    assert "PRIVATE-PEM" not in repr(credentials)
    assert APIV3_KEY not in repr(credentials)
    assert credentials.scheme == "rsa"


# -- the bill -----------------------------------------------------------------------------


def test_a_published_trade_bill_is_read_with_its_totals_checked():
    bill = parse_trade_bill(SAMPLE_BILL.read_bytes())

    assert (bill.count, bill.settlement_total, bill.refund_total, bill.fee_total) == (
        45,
        47,
        14,
        8,
    )
    refund = bill.rows[0]
    assert (refund.trade_state, refund.refund_status, refund.refund_amount) == (
        "REFUND",
        "SUCCESS",
        1,
    )
    assert refund.out_trade_no == "autotest_20190216081946_82335"
    assert refund.trade_time == datetime(2019, 2, 19, 5, 1, 46, tzinfo=BEIJING)


def test_a_bill_whose_totals_do_not_match_its_lines_is_refused():
    content = SAMPLE_BILL.read_bytes().replace(b"`45.0,`0.47,", b"`45.0,`0.48,")

    with pytest.raises(ValueError, match="totals"):
        parse_trade_bill(content)


def test_a_bill_line_without_backticks_is_refused():
    content = SAMPLE_BILL.read_bytes().replace(b"`NATIVE", b"NATIVE", 1)

    with pytest.raises(ValueError, match="backtick"):
        parse_trade_bill(content)
