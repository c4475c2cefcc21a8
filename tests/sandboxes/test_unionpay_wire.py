"""The UnionPay sandbox's own wire functions, against what UnionPay publishes.

The two notifications below are UnionPay's: front notifications of version 5.1.0 signed by
UnionPay's test signing certificate (CFCA TEST OCA1), printed in the FrontRcvResponse page
of UnionPay's ACP SDK demo (upacp_demo_app). The demo writes the certificate's line
breaks as ``\\n``; the gateway sent, and signed, CRLF.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
import zlib
from datetime import UTC, date, datetime

import pytest

from sandboxes import common, keys
from sandboxes.unionpay import views, wire

UNIONPAY_TEST_SIGNING_CERTIFICATE = "\r\n".join(
    (
        "-----BEGIN CERTIFICATE-----",
        "MIIEOjCCAyKgAwIBAgIFEAJkAUkwDQYJKoZIhvcNAQEFBQAwWDELMAkGA1UEBhMC",
        "Q04xMDAuBgNVBAoTJ0NoaW5hIEZpbmFuY2lhbCBDZXJ0aWZpY2F0aW9uIEF1dGhv",
        "cml0eTEXMBUGA1UEAxMOQ0ZDQSBURVNUIE9DQTEwHhcNMTUxMjA0MDMyNTIxWhcN",
        "MTcxMjA0MDMyNTIxWjB5MQswCQYDVQQGEwJjbjEXMBUGA1UEChMOQ0ZDQSBURVNU",
        "IE9DQTExEjAQBgNVBAsTCUNGQ0EgVEVTVDEUMBIGA1UECxMLRW50ZXJwcmlzZXMx",
        "JzAlBgNVBAMUHjA0MUBaMTJAMDAwNDAwMDA6U0lHTkAwMDAwMDA2MjCCASIwDQYJ",
        "KoZIhvcNAQEBBQADggEPADCCAQoCggEBAMUDYYCLYvv3c911zhRDrSWCedAYDJQe",
        "fJUjZKI2avFtB2/bbSmKQd0NVvh+zXtehCYLxKOltO6DDTRHwH9xfhRY3CBMmcOv",
        "d2xQQvMJcV9XwoqtCKqhzguoDxJfYeGuit7DpuRsDGI0+yKgc1RY28v1VtuXG845",
        "fTP7PRtJrareQYlQXghMgHFAZ/vRdqlLpVoNma5C56cJk5bfr2ngDlXbUqPXLi1j",
        "iXAFb/y4b8eGEIl1LmKp3aPMDPK7eshc7fLONEp1oQ5Jd1nE/GZj+lC345aNWmLs",
        "l/09uAvo4Lu+pQsmGyfLbUGR51KbmHajF4Mrr6uSqiU21Ctr1uQGkccCAwEAAaOB",
        "6TCB5jAfBgNVHSMEGDAWgBTPcJ1h6518Lrj3ywJA9wmd/jN0gDBIBgNVHSAEQTA/",
        "MD0GCGCBHIbvKgEBMDEwLwYIKwYBBQUHAgEWI2h0dHA6Ly93d3cuY2ZjYS5jb20u",
        "Y24vdXMvdXMtMTQuaHRtMDgGA1UdHwQxMC8wLaAroCmGJ2h0dHA6Ly91Y3JsLmNm",
        "Y2EuY29tLmNuL1JTQS9jcmw0NDkxLmNybDALBgNVHQ8EBAMCA+gwHQYDVR0OBBYE",
        "FAFmIOdt15XLqqz13uPbGQwtj4PAMBMGA1UdJQQMMAoGCCsGAQUFBwMCMA0GCSqG",
        "SIb3DQEBBQUAA4IBAQB8YuMQWDH/Ze+e+2pr/914cBt94FQpYqZOmrBIQ8kq7vVm",
        "TTy94q9UL0pMMHDuFJV6Wxng4Me/cfVvWmjgLg/t7bdz0n6UNj4StJP17pkg68WG",
        "zMlcjuI7/baxtDrD+O8dKpHoHezqhx7dfh1QWq8jnqd3DFzfkhEpuIt6QEaUqoWn",
        "t5FxSUiykTfjnaNEEGcn3/n2LpwrQ+upes12/B778MQETOsVv4WX8oE1Qsv1XLRW",
        "i0DQetTU2RXTrynv+l4kMy0h9b/Hdlbuh2s0QZqlUMXx2biy0GvpF2pR8f+OaLuT",
        "AtaKdU4T2+jO44+vWNNN2VoAaw0xY6IZ3/A1GL0x",
        "-----END CERTIFICATE-----",
    )
)
PAID = {
    "accNo": "6226********0048",
    "accessType": "0",
    "bizType": "000201",
    "currencyCode": "156",
    "encoding": "UTF-8",
    "merId": "777290058110048",
    "orderId": "20170324101151",
    "queryId": "201703241011516777928",
    "respCode": "00",
    "respMsg": "成功[0000000]",
    "settleAmt": "1",
    "settleCurrencyCode": "156",
    "settleDate": "0324",
    "signMethod": "01",
    "signPubKeyCert": UNIONPAY_TEST_SIGNING_CERTIFICATE,
    "traceNo": "677792",
    "traceTime": "0324101151",
    "txnAmt": "1",
    "txnSubType": "01",
    "txnTime": "20170324101151",
    "txnType": "01",
    "version": "5.1.0",
    "signature": "jxSjw7B5FUguBjJ3MUBnviTSVqbVuIEi9aq42oS6riI7FBjJDZvRwcs7WXZbkxoeUIKUIhH83/wUu"
    "BlSmfP11yu8UWySL5HBYmx4oiSF1U0R3miqGziKD/4HLZQni9N+smrO0t6t5K2vbqrNzDEl9vfQbAng5ogg41j"
    "07fAQzn5AhotgJrttUY8WN2zkggfauB8Xml163NEsNy4qj+Q5lOQhWMwHpb+DaSG565PNQ5BeccTWYe19jXxZ"
    "+wYbORux5RZysrvvEt7Y08JAdEkE6mMpplQv1HA91kMLqa8cGZ5kDdVtGPSpVC22WOmiHyiiFnsL01e1/EEv2+"
    "SfNn3fVg==",
}
PAID_WITH_RESERVED = {
    **{name: value for name, value in PAID.items() if name != "accNo"},
    "merId": "777290058143823",
    "orderId": "20160615092209323",
    "queryId": "201703241511197447698",
    "reqReserved": "VXNlcklEPTI5MzAyJkl0ZW1JRD0xJkJpbGxJRD0yMDE2MDYxNTA5MjIwOTMyMCZTZXJ2ZXJJRD0x",
    "traceNo": "744769",
    "traceTime": "0324151119",
    "txnTime": "20170324151119",
    "signature": "KHnZ5C3fytjSLAIVS9zkzc2SR5QDs9L00cvq1cGK8fYXopRAFbZID+eV9qjiDFhn5DUxsXFZUMBXo"
    "yzlZ5MOvTk143DMkrRyWOgFnT3+puxq9KC7IJunQFVWa6zTiSrkZP844azoypRbAPmP6NdIVkRq5PTO00cakD"
    "dsvuQYohq98LOTsxYuGKuKUWIUsQzQxjsroBWi6qh778r00ywWIQTqWpQgZDWPKBhN62Db84Cvw/q/5YGRKtzR"
    "6NiUwhdQqEkV00ud6SYVBe8lp0cFMilyuyiiLjJxSFoa5kwxemI3CiKtN/AhqQjfTDJpBD1QAjrITmjqjUoGfY"
    "Nuc6xzhw==",
}
UNIONPAY_SIGNED = pytest.mark.parametrize(
    "message", [PAID, PAID_WITH_RESERVED], ids=["paid", "reserved"]
)


@pytest.fixture
def gateway(settings):
    """The sandbox gateway's signing key and certificate (the development ones)."""
    config = settings.SANDBOX_UNIONPAY
    return keys.load_private_key(config["private_key_pem"]), config["certificate_pem"]


@UNIONPAY_SIGNED
def test_unionpays_own_signed_notifications_verify(message):
    certificate = wire.load_certificate(message["signPubKeyCert"])

    assert wire.verify(message, certificate)


@UNIONPAY_SIGNED
@pytest.mark.parametrize(
    "change",
    [
        {"txnAmt": "100"},
        {"respCode": "01"},
        {"signPubKeyCert": UNIONPAY_TEST_SIGNING_CERTIFICATE.replace("\r\n", "\n")},
        {"extra": ""},  # an empty field is part of the signed text, as any other
    ],
    ids=["amount", "result", "certificate line breaks", "an added empty field"],
)
def test_any_change_to_unionpays_signed_notification_breaks_its_signature(message, change):
    certificate = wire.load_certificate(message["signPubKeyCert"])

    assert not wire.verify({**message, **change}, certificate)


def test_the_string_to_sign_is_every_field_but_the_signature_sorted_and_not_encoded():
    text = wire.string_to_sign(PAID)

    assert text.startswith("accNo=6226********0048&accessType=0&bizType=000201&currencyCode=156&")
    assert "&respMsg=成功[0000000]&" in text
    assert text.endswith("&txnTime=20170324101151&txnType=01&version=5.1.0")
    assert "signature" not in text
    assert wire.string_to_sign({"b": "2", "a": "", "signature": "x"}) == "a=&b=2"


def test_what_the_key_signs_is_the_lowercase_hex_sha256_of_the_string_to_sign():
    expected = hashlib.sha256(wire.string_to_sign(PAID).encode()).hexdigest()

    assert wire.signed_digest(PAID) == expected.encode("ascii")


def test_the_certificate_id_is_the_serial_number_in_decimal():
    assert wire.cert_id(wire.load_certificate(UNIONPAY_TEST_SIGNING_CERTIFICATE)) == "68759585097"


def test_the_gateway_leaves_out_empty_fields_and_signs_its_certificate_with_the_rest(gateway):
    key, certificate_pem = gateway

    message = wire.signed(
        {"respCode": "00", "origQryId": "", "version": "5.1.0"}, key, certificate_pem
    )

    assert set(message) == {"respCode", "version", "signPubKeyCert", "signature"}
    assert message["signPubKeyCert"] == certificate_pem
    assert wire.verify(message, wire.load_certificate(certificate_pem))
    assert not wire.verify(
        {**message, "signPubKeyCert": "another"}, wire.load_certificate(certificate_pem)
    )


def test_a_signature_by_another_key_or_not_base64_does_not_verify(gateway):
    key, certificate_pem = gateway
    message = wire.signed({"respCode": "00"}, key, certificate_pem)
    unionpay = wire.load_certificate(UNIONPAY_TEST_SIGNING_CERTIFICATE)

    assert not wire.verify(message, unionpay)
    assert not wire.verify(
        {**message, "signature": "not base64!"}, wire.load_certificate(certificate_pem)
    )
    assert not wire.verify({"respCode": "00"}, wire.load_certificate(certificate_pem))


def test_an_answer_is_its_fields_sorted_with_the_signature_last_and_nothing_encoded():
    answer = wire.format_answer(
        {"signature": "ab+/c==", "respMsg": "成功[0000000]", "accessType": "0"}
    )

    assert answer == "accessType=0&respMsg=成功[0000000]&signature=ab+/c=="


def test_response_messages_are_the_appendix_texts():
    assert wire.resp_msg(wire.SUCCESS) == "成功[0000000]"
    assert wire.resp_msg(wire.NOT_FOUND) == "查无此交易"
    assert wire.resp_msg(wire.FAILED, "发卡行拒绝") == "交易失败: 发卡行拒绝"


def test_file_content_is_the_zip_deflated_then_base64():
    assert zlib.decompress(base64.b64decode(wire.file_content(b"PK zip"))) == b"PK zip"
    assert wire.file_name("777290058110048", date(2025, 6, 1)) == "777290058110048_20250601.zip"
    assert wire.zm_file_name("777290058110048", date(2025, 6, 1)) == "INN25060188ZM_777290058110048"


def test_a_zm_record_has_the_widths_unionpays_sdk_reads_it_with():
    # AcpService.parseZMFile's lengthArray, after the file interface's section 6.1.
    published = [3, 11, 11, 6, 10, 19, 12, 4, 2, 21, 2, 32, 2, 6, 10, 13, 13, 4, 15, 2, 2]
    published += [6, 2, 4, 32, 1, 21, 15, 1, 15, 32, 13, 13, 8, 32, 13, 13, 12, 2, 1, 32, 98]

    assert [width for _, width in wire.ZM_FIELDS] == published


def test_a_consume_in_the_zm_file_nets_its_amount_less_the_fee():
    # docs/unionpay.md: ¥123.45 with a 0.50% fee of ¥0.62 nets C000000012283.
    rows = common.bill_frame(
        [
            {
                "kind": "payment",
                "ref": "pay_k5qz3w7xv2m4n6p8r0ta",
                "provider_ref": "202506011430021234567",
                "amount": 12345,
                "fee": common.fee(12345, views.FEE_RATE_BPS),
                "occurred_at": datetime(2025, 6, 1, 6, 30, 2, tzinfo=UTC),
            }
        ],
        (),
    )

    with zipfile.ZipFile(io.BytesIO(views.render_statement(rows))) as archive:
        (name,) = archive.namelist()
        record = archive.read(name).decode("ascii").removesuffix("\r\n")

    assert name == "INN25060188ZM_777290058110048"
    assert len(record) == sum(width for _, width in wire.ZM_FIELDS) + len(wire.ZM_FIELDS) - 1
    assert zm_field(record, "交易代码") == "S22"
    assert zm_field(record, "交易传输时间") == "0601143002"
    assert zm_field(record, "商户订单号") == "PAYk5qz3w7xv2m4n6p8r0ta"
    assert zm_field(record, "交易金额") == "000000012345"
    assert zm_field(record, "商户手续费") == "D000000000062"
    assert zm_field(record, "结算金额") == "C000000012345"
    assert zm_field(record, "清算净额") == "C000000012283"


def zm_field(record: str, name: str) -> str:
    start = 0
    for field, width in wire.ZM_FIELDS:
        if field == name:
            return record[start : start + width].rstrip(" ")
        start += width + 1
    raise KeyError(name)


def test_a_transaction_survives_the_journal_as_it_was():
    txn = views._Txn(
        request={"merId": "777290058110048", "orderId": "PAYab12cd34", "txnTime": "20250601143000"},
        status="succeeded",
        query_id="202506011430021234567",
        completed_at=datetime(2025, 6, 1, 14, 30, 2, tzinfo=wire.BEIJING),
        settle_date=date(2025, 6, 1),
        deliveries=[{"time": "2025-06-01T14:30:02.000+08:00", "acknowledged": True}],
    )

    assert views._decode(json.loads(json.dumps(views._encode(txn)))) == txn
