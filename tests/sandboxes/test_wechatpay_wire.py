"""The WeChat Pay sandbox's own wire functions, against WeChat Pay's published examples.

The examples: the request string of "签名生成" and its Authorization header, the answer
string of "签名验证", the SHA256withRSA and AES-GCM test vectors of WeChat Pay's official
Go SDK (github.com/wechatpay-apiv3/wechatpay-go, utils/sign_test.go and utils/aes_test.go,
Apache-2.0), the national mode's example Authorization of "APIv3接口使用国家商用密码指引"
and the SM2 and AEAD_SM4_GCM test vectors of the official Java SDK
(github.com/wechatpay-apiv3/wechatpay-java, shangmi-testing, Apache-2.0), and the ALL
trade bill of its official PHP SDK (tests/fixtures/wechatpay).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tongsuopy.crypto import serialization as sm_serialization
from tongsuopy.crypto.asymciphers import ec

from sandboxes.wechatpay import wire
from sandboxes.wechatpay.schemes import RSA, SCHEMES, SM2

SAMPLE_BILL = Path(__file__).parents[1] / "fixtures" / "wechatpay" / "wechatpay-php__bill.ALL.csv"

# WeChat Pay's example Authorization ("签名生成", 设置HTTP头).
EXAMPLE_SIGNATURE = (
    "uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0l"
    "dN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoo"
    "gl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadm"
    "vej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw=="
)
EXAMPLE_AUTHORIZATION = (
    'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",'
    f'signature="{EXAMPLE_SIGNATURE}",timestamp="1554208460",'
    'serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"'
)

# wechatpay-go utils/sign_test.go: its test key (PEM label "TESTING KEY" there) and the
# signature of "source".
GO_SDK_TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----
"""
GO_SDK_SIGNATURE_OF_SOURCE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4"
    "ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguL"
    "li/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG"
    "23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
)
# wechatpay-go utils/aes_test.go ("decrypt success"): a 16-character key, so AES-128-GCM,
# otherwise built as the 32-character APIv3 key's AES-256-GCM is.
GO_SDK_AES = {
    "apiv3_key": "testAPIv3Key0000",
    "ciphertext": "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
    "nonce": "wCq51qZv4Yfg",
    "associated_data": "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
}
APIV3_KEY = "0123456789abcdefghijklmnopqrstuv"  # 32 characters, as WeChat Pay issues them

# The national mode's example Authorization ("APIv3接口使用国家商用密码指引", 1.5).
EXAMPLE_SM2_AUTHORIZATION = (
    'WECHATPAY2-SM2-WITH-SM3 mchid="2480467911",nonce_str="fixednonce",timestamp="1636620536",'
    'serial_no="157056765AB5A9EEE5D363D0329039A254D5EF49",signature="MEYCIQC9Pab48+YSk12XBmbFOp'
    'tRwDxbOy/deyz2haXso+UJhAIhAIXMAPRvH1qruowl21i8w/Ahy0/SpQvBrpcl9NGLomeV"'
)
# wechatpay-java shangmi-testing: its test merchant key (TestConfig), BaseSM2Test's
# signature of "message" by it, and BaseAeadSM4Test's ciphertext of "plaintext".
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
JAVA_SDK_SM4 = {
    "apiv3_key": "a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb",
    "ciphertext": "+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ7w==",
    "nonce": "uluk4a9R25RW",
    "associated_data": "associatedData",
}


def rsa_pems() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _pems(key, serialization)


def sm2_pems() -> tuple[str, str]:
    return _pems(ec.generate_private_key(ec.SM2()), sm_serialization)


def _pems(key, library) -> tuple[str, str]:
    """The key's private (PKCS#8) and public (SubjectPublicKeyInfo) PEM texts."""
    private = key.private_bytes(
        library.Encoding.PEM, library.PrivateFormat.PKCS8, library.NoEncryption()
    )
    public = key.public_key().public_bytes(
        library.Encoding.PEM, library.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


KEY_PAIRS = {"rsa": rsa_pems, "sm2": sm2_pems}
JAVA_SDK_SM2_PUBLIC_KEY = _pems(
    sm_serialization.load_pem_private_key(JAVA_SDK_SM2_KEY.encode(), password=None),
    sm_serialization,
)[1]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module", params=list(KEY_PAIRS))
def scheme_and_keys(request):
    """Each scheme, with a key pair of its algorithm and another one."""
    return SCHEMES[request.param], KEY_PAIRS[request.param](), KEY_PAIRS[request.param]()


# -- signatures -------------------------------------------------------------------------


def test_the_request_message_is_the_one_of_wechats_example():
    message = wire.request_message(
        "GET", "/v3/certificates", "1554208460", "593BEC0C930BF1AFEB40B4A08C8FB242", ""
    )

    assert message == b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"


def test_a_post_message_ends_with_the_body_as_sent_and_a_line_end():
    body = '{"mchid":"1900000001","description":"营业执照补办"}'

    message = wire.request_message("POST", "/v3/pay/transactions/native?x=1", "1", "N", body)

    assert message == f"POST\n/v3/pay/transactions/native?x=1\n1\nN\n{body}\n".encode()


def test_the_answer_message_is_the_one_of_wechats_example():
    body = (
        '{"data":[{"serial_no":"5157F09EFDC096DE15EBE81A47057A7232F1B8E1","effective_time":'
        '"2018-03-26T11:39:50+08:00","expire_time":"2023-03-25T11:39:50+08:00",'
        '"encrypt_certificate":{"algorithm":"AEAD_AES_256_GCM","nonce":"4de73afd28b6",'
        '"associated_data":"certificate","ciphertext":"..."}}]}'
    )

    message = wire.answer_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", body)

    assert message == f"1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{body}\n".encode()


def test_an_empty_answer_body_is_still_a_line():
    assert wire.answer_message("1554209980", "N", "") == b"1554209980\nN\n\n"


def test_wechats_example_authorization_is_read_into_its_five_parameters():
    assert wire.parse_authorization(EXAMPLE_AUTHORIZATION) == {
        "mchid": "1900009191",
        "nonce_str": "593BEC0C930BF1AFEB40B4A08C8FB242",
        "signature": EXAMPLE_SIGNATURE,
        "timestamp": "1554208460",
        "serial_no": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
    }


def test_the_authorization_parameters_may_come_in_any_order():
    shuffled = (
        'WECHATPAY2-SHA256-RSA2048 serial_no="S",timestamp="1",signature="X",'
        'nonce_str="N",mchid="M"'
    )

    assert wire.parse_authorization(shuffled) == {
        "mchid": "M",
        "nonce_str": "N",
        "signature": "X",
        "timestamp": "1",
        "serial_no": "S",
    }


def test_the_national_example_authorization_is_read_and_names_the_sm2_scheme():
    assert wire.parse_authorization(EXAMPLE_SM2_AUTHORIZATION)["serial_no"] == (
        "157056765AB5A9EEE5D363D0329039A254D5EF49"
    )
    assert wire.declared_scheme(EXAMPLE_SM2_AUTHORIZATION) is SM2
    assert wire.declared_scheme(EXAMPLE_AUTHORIZATION) is RSA
    assert wire.declared_scheme("Bearer x") is RSA  # answered as WeChat answers any refusal


@pytest.mark.parametrize(
    "header",
    [
        "",
        EXAMPLE_AUTHORIZATION.replace("WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SHA256-RSA", 1),
        EXAMPLE_SM2_AUTHORIZATION.replace("WECHATPAY2-SM2-WITH-SM3", "WECHATPAY2-SM2", 1),
        EXAMPLE_AUTHORIZATION.replace('mchid="1900009191",', ""),
        EXAMPLE_AUTHORIZATION.replace('timestamp="1554208460"', 'timestamp=""'),
    ],
    ids=[
        "none",
        "another scheme",
        "a national scheme's misspelling",
        "no mchid",
        "empty timestamp",
    ],
)
def test_an_authorization_of_another_scheme_or_without_a_parameter_is_not_read(header):
    assert wire.parse_authorization(header) is None


def test_signing_gives_the_signature_of_wechats_go_sdk_test_vector():
    assert RSA.sign(b"source", GO_SDK_TEST_KEY) == GO_SDK_SIGNATURE_OF_SOURCE


def test_the_sm2_scheme_verifies_the_java_sdks_signature_of_its_message_only():
    assert SM2.verify(b"message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE, JAVA_SDK_SM2_PUBLIC_KEY)
    assert not SM2.verify(
        b"false-message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE, JAVA_SDK_SM2_PUBLIC_KEY
    )
    assert not SM2.verify(b"message", JAVA_SDK_SM2_SIGNATURE_OF_MESSAGE, sm2_pems()[1])


def test_an_sm2_signature_is_der_over_sm3_with_the_default_id_as_the_java_sdk_checks():
    signature = base64.b64decode(SM2.sign(b"message", JAVA_SDK_SM2_KEY))

    assert signature[0] == 0x30  # RS_ASN1
    assert SM2.verify(b"message", base64.b64encode(signature).decode(), JAVA_SDK_SM2_PUBLIC_KEY)


def test_a_signature_verifies_over_its_message_only_and_with_its_key_only(scheme_and_keys):
    scheme, (private_pem, public_pem), (_, stranger_pem) = scheme_and_keys
    message = wire.answer_message("1554209980", "N", '{"code_url":"weixin://x"}')
    signature = scheme.sign(message, private_pem)

    assert scheme.verify(message, signature, public_pem)
    assert not scheme.verify(message.replace(b"x", b"y"), signature, public_pem)
    assert not scheme.verify(message, signature, stranger_pem)
    assert not scheme.verify(message, "not base64!", public_pem)
    assert not scheme.verify(
        message, base64.b64encode(b"\x30\x03\x02\x01\x01").decode(), public_pem
    )


def test_a_signature_of_one_scheme_does_not_verify_in_the_other():
    (rsa_private, rsa_public), (sm2_private, sm2_public) = rsa_pems(), sm2_pems()
    message = b"1554209980\nN\n{}\n"

    assert not SM2.verify(message, RSA.sign(message, rsa_private), sm2_public)
    assert not RSA.verify(message, SM2.sign(message, sm2_private), rsa_public)
    assert not SM2.verify(message, SM2.sign(message, sm2_private), rsa_public)  # a wrong key type


def test_the_signature_headers_sign_the_body_and_name_the_signature_type(scheme_and_keys):
    scheme, (private_pem, public_pem), _ = scheme_and_keys
    body = '{"code_url":"weixin://wxpay/bizpayurl?pr=x"}'

    headers = wire.signature_headers(
        body, scheme, private_pem, "5157F0", timestamp="1554209980", nonce="N1"
    )

    assert headers["Wechatpay-Timestamp"] == "1554209980"
    assert headers["Wechatpay-Nonce"] == "N1"
    assert headers["Wechatpay-Serial"] == "5157F0"
    assert (
        headers["Wechatpay-Signature-Type"]
        == {
            "rsa": "WECHATPAY2-SHA256-RSA2048",
            "sm2": "WECHATPAY2-SM2-WITH-SM3",
        }[scheme.name]
    )
    message = wire.answer_message("1554209980", "N1", body)
    assert scheme.verify(message, headers["Wechatpay-Signature"], public_pem)


# -- encrypted resources ----------------------------------------------------------------


def test_decrypting_opens_wechats_go_sdk_test_vector():
    vector = dict(GO_SDK_AES)

    plaintext = RSA.open(vector.pop("apiv3_key"), vector.pop("ciphertext"), **vector)

    assert plaintext == b"Hello World"


def test_the_sm2_scheme_opens_the_java_sdks_sm4_vector_with_the_sm3_derived_key():
    vector = dict(JAVA_SDK_SM4)

    plaintext = SM2.open(vector.pop("apiv3_key"), vector.pop("ciphertext"), **vector)

    assert plaintext == b"plaintext"
    with pytest.raises(ValueError):  # BaseAeadSM4Test.testDecryptFail's altered ciphertext
        SM2.open(**{**JAVA_SDK_SM4, "ciphertext": "+lcLNfkZQQx+iQm20Apa3x9Mb/5L7PgZ8w=="})


@pytest.mark.parametrize(
    "change",
    [
        {"apiv3_key": "testAPIv3Key1111"},
        {"associated_data": "transaction"},
        {"nonce": "wCq51qZv4Yfh"},
        {"ciphertext": "SGVsbG8gV29ybGQK"},
        {"ciphertext": "not base64!"},
    ],
    ids=["another key", "other associated data", "another nonce", "other bytes", "not base64"],
)
def test_a_resource_that_does_not_open_is_refused(change):
    vector = {**GO_SDK_AES, **change}

    with pytest.raises(ValueError):
        RSA.open(vector.pop("apiv3_key"), vector.pop("ciphertext"), **vector)


@pytest.mark.parametrize("scheme", [RSA, SM2], ids=["rsa", "sm2"])
def test_what_is_encrypted_decrypts_back_and_carries_a_16_byte_tag(scheme):
    plaintext = "支付成功".encode()

    ciphertext = scheme.seal(
        APIV3_KEY, plaintext, nonce="fdasflkja484", associated_data="transaction"
    )

    assert len(base64.b64decode(ciphertext)) == len(plaintext) + 16
    opened = scheme.open(APIV3_KEY, ciphertext, nonce="fdasflkja484", associated_data="transaction")
    assert opened == plaintext
    other = SM2 if scheme is RSA else RSA
    with pytest.raises(ValueError):
        other.open(APIV3_KEY, ciphertext, nonce="fdasflkja484", associated_data="transaction")


@pytest.mark.parametrize("scheme", [RSA, SM2], ids=["rsa", "sm2"])
def test_a_notification_seals_its_resource_under_its_original_type(scheme):
    resource = {"out_trade_no": "pay_1", "trade_state": "SUCCESS", "amount": {"total": 12345}}
    created = datetime(2025, 6, 1, 6, 30, 5, tzinfo=UTC)

    event = wire.notification(
        event_id="EV-1",
        create_time=created,
        event_type="TRANSACTION.SUCCESS",
        summary="支付成功",
        original_type="transaction",
        resource=resource,
        scheme=scheme,
        apiv3_key=APIV3_KEY,
        nonce="fdasflkja484",
    )

    sealed = event.pop("resource")
    assert event == {
        "id": "EV-1",
        "create_time": "2025-06-01T14:30:05+08:00",
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
    }
    assert {name: sealed[name] for name in ("original_type", "algorithm", "associated_data")} == {
        "original_type": "transaction",
        "algorithm": {"rsa": "AEAD_AES_256_GCM", "sm2": "AEAD_SM4_GCM"}[scheme.name],
        "associated_data": "transaction",
    }
    opened = scheme.open(
        APIV3_KEY, sealed["ciphertext"], nonce=sealed["nonce"], associated_data="transaction"
    )
    assert json.loads(opened) == resource


# -- the platform certificate -----------------------------------------------------------


def test_the_certificates_answer_holds_the_platform_key_under_its_serial(key):
    serial_no = "5157F09EFDC096DE15EBE81A47057A7200000001"
    start = datetime(2025, 1, 1, tzinfo=UTC)
    certificate = wire.platform_certificate(
        key, serial_no, not_before=start, not_after=start + timedelta(days=5 * 365)
    )

    answer = wire.certificates_answer(certificate, serial_no, RSA, APIV3_KEY, nonce="4de73afd28b6")

    (entry,) = answer["data"]
    sealed = entry["encrypt_certificate"]
    assert (entry["serial_no"], entry["effective_time"], entry["expire_time"]) == (
        serial_no,
        "2025-01-01T08:00:00+08:00",
        "2029-12-31T08:00:00+08:00",
    )
    assert (sealed["algorithm"], sealed["associated_data"], sealed["nonce"]) == (
        "AEAD_AES_256_GCM",
        "certificate",
        "4de73afd28b6",
    )
    pem = RSA.open(
        APIV3_KEY, sealed["ciphertext"], nonce="4de73afd28b6", associated_data="certificate"
    )
    opened = x509.load_pem_x509_certificate(pem)
    assert opened.serial_number == int(serial_no, 16)
    assert opened.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- the trade bill ---------------------------------------------------------------------


def bill_rows() -> pd.DataFrame:
    """A payment of ¥123.45 and a refund of ¥23.45 of it, as a canonical statement frame."""
    return pd.DataFrame(
        {
            "kind": ["payment", "refund"],
            "ref": ["pay_k5qz3w7xv2m4n6p8r0ta", "rfd_0c1d2e3f4a5b6c7d8e9f"],
            "provider_ref": ["4200000985202506011234567890", "50000000382019052709732678859"],
            "amount": [12345, 2345],
            "fee": [74, -14],
            "occurred_at": pd.to_datetime(["2025-06-01 06:30:02", "2025-06-01 08:02:11"], utc=True),
            "out_trade_no": ["pay_k5qz3w7xv2m4n6p8r0ta"] * 2,
            "transaction_id": ["4200000985202506011234567890"] * 2,
            "description": ["营业执照补办, 工本费"] * 2,
        }
    )


def test_the_bill_headers_are_those_of_wechats_published_sample_bill():
    lines = SAMPLE_BILL.read_bytes().removeprefix("\ufeff".encode()).split(b"\r\n")

    assert lines[0].decode() == ",".join(wire.BILL_COLUMNS)
    assert lines[-3].decode() == ",".join(wire.BILL_TOTAL_COLUMNS)


def test_a_rendered_bill_has_the_sample_bills_layout():
    content = wire.render_statement(bill_rows())

    assert content.startswith("\ufeff".encode())
    lines = content.removeprefix("\ufeff".encode()).decode().split("\r\n")
    assert lines[-1] == ""  # every line ends in CRLF, the last one too
    header, payment, refund, totals_header, totals = lines[:-1]
    assert header == ",".join(wire.BILL_COLUMNS)
    assert totals_header == ",".join(wire.BILL_TOTAL_COLUMNS)
    for line in (payment, refund):
        fields = line.split(",")
        assert len(fields) == len(wire.BILL_COLUMNS)
        assert all(field.startswith("`") for field in fields)
    paid = dict(zip(wire.BILL_COLUMNS, (f[1:] for f in payment.split(",")), strict=True))
    given_back = dict(zip(wire.BILL_COLUMNS, (f[1:] for f in refund.split(",")), strict=True))
    assert {
        name: paid[name] for name in ("交易时间", "交易状态", "订单金额", "手续费", "费率")
    } == {
        "交易时间": "2025-06-01 14:30:02",
        "交易状态": "SUCCESS",
        "订单金额": "123.45",
        "手续费": "0.74000",
        "费率": "0.60%",
    }
    assert paid["商品名称"] == "营业执照补办  工本费"  # a comma would start another field
    assert {
        name: given_back[name] for name in ("交易状态", "微信订单号", "申请退款金额", "手续费")
    } == {
        "交易状态": "REFUND",
        "微信订单号": "4200000985202506011234567890",
        "申请退款金额": "23.45",
        "手续费": "-0.14000",
    }
    assert totals == "`2,`123.45,`23.45,`0.00,`0.60,`123.45,`23.45"


def test_fen_are_written_as_yuan_with_two_decimals():
    assert [wire.fen_to_yuan(fen) for fen in (0, 5, 12345, -14)] == [
        "0.00",
        "0.05",
        "123.45",
        "-0.14",
    ]
