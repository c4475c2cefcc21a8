"""The receipt platform sandbox (docs/receipt_platform.md): its envelope, its checks and
its numbering, over Django's test client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import zipfile
from urllib.parse import urlencode

import pytest
from gmssl import sm3 as gmssl_sm3

from sandboxes import state
from sandboxes.receipts import wire

BASE = "/sandbox/receipts"
SM3_APP, SHA256_APP, OTHER_APP = "t-sm3", "t-sha256", "t-other"
APPS = {
    SM3_APP: {"app_key": "sm3 app key", "sign_method": wire.HMAC_SM3},
    SHA256_APP: {"app_key": "sha256 app key", "sign_method": wire.HMAC_SHA256},
    OTHER_APP: {"app_key": "other app key", "sign_method": wire.HMAC_SM3},
}
ISSUE = {
    "bizCode": "pay_0001",
    "invoicingPartyCode": "SCJG01",
    "invoicingPartyName": "市市场监督管理局",
    "payerPartyType": "1",
    "payerPartyCode": "",
    "payerPartyName": "张三",
    "totalAmount": "35.00",
    "payCode": "11010012345678901238",
    "payMode": "public_platform",
    "payDate": "20250601",
    "remark": "",
    "details": [
        {
            "itemCode": "FEE-LIC",
            "itemName": "营业执照工本费",
            "itemQuantity": "2",
            "itemUnit": "本",
            "itemStd": "15.00",
            "itemAmount": "30.00",
        },
        {
            "itemCode": "FEE-COPY",
            "itemName": "复印费",
            "itemQuantity": "1",
            "itemUnit": "次",
            "itemStd": "5.00",
            "itemAmount": "5.00",
        },
    ],
}


@pytest.fixture(autouse=True)
def platform(settings):
    settings.SANDBOX_RECEIPTS = {**settings.SANDBOX_RECEIPTS, "apps": APPS, "range_size": 1000}
    state.reset_all()


def encoded(document: dict) -> str:
    return base64.b64encode(json.dumps(document, ensure_ascii=False).encode()).decode()


def form(service: str, document: dict, *, app: str = SM3_APP, **changes: str) -> dict[str, str]:
    parameters = {
        "appid": app,
        "service": service,
        "version": wire.VERSION,
        "noise": "0123456789abcdef",
        "message": encoded(document),
    }
    registered = APPS.get(app, APPS[SM3_APP])
    text = wire.text_to_sign(parameters)
    parameters["sign"] = wire.signature(registered["sign_method"], registered["app_key"], text)
    return {**parameters, **changes}


def post(client, service: str, parameters: dict[str, str], *, path: str = ""):
    return client.post(
        f"{BASE}/{path or service}",
        urlencode(parameters),
        content_type="application/x-www-form-urlencoded",
    )


def call(client, service: str, message: dict, *, app: str = SM3_APP, **changes: str):
    """The answer's result and business message, its signature checked."""
    response = post(client, service, form(service, message, app=app, **changes))
    assert response.status_code == 200
    answer = response.json()
    key, method = APPS[app]["app_key"], APPS[app]["sign_method"]
    signed = {"result": answer["result"], "message": answer["message"]}
    assert answer["sign"] == wire.signature(method, key, wire.text_to_sign(signed))
    return answer["result"], json.loads(base64.b64decode(answer["message"]))


def issued(client, **changes) -> dict:
    result, receipt = call(client, "issue", {**ISSUE, **changes})
    assert result == wire.SUCCESS, receipt
    return receipt


def red(client, original: dict, amount: str, biz_code: str = "rf_0001"):
    message = {
        "bizCode": biz_code,
        "eInvoiceCode": original["eInvoiceCode"],
        "eInvoiceNumber": original["eInvoiceNumber"],
        "amount": amount,
        "reason": "退款",
    }
    return call(client, "issue_red", message)


# -- the envelope -------------------------------------------------------------------------


def test_the_text_to_sign_is_the_other_parameters_sorted_as_name_value_pairs():
    parameters = {"version": "1.0", "appid": "a", "sign": "x", "message": "bQ==", "noise": "n"}
    assert wire.text_to_sign(parameters) == "appid=a&message=bQ==&noise=n&version=1.0"


def test_hmac_sm3_is_rfc_2104_over_sm3_in_lower_case_hex():
    """Written out over gmssl's SM3, a second implementation of the hash."""
    key, text = b"sm3 app key", "appid=t&service=issue"
    block = key.ljust(64, b"\0")

    def sm3(data: bytes) -> bytes:
        return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))

    inner = sm3(bytes(b ^ 0x36 for b in block) + text.encode())
    expected = sm3(bytes(b ^ 0x5C for b in block) + inner).hex()
    assert wire.signature(wire.HMAC_SM3, key.decode(), text) == expected


def test_hmac_sha256_is_the_alternative_scheme():
    expected = hmac.new(b"k", b"appid=t", hashlib.sha256).hexdigest()
    assert wire.signature(wire.HMAC_SHA256, "k", "appid=t") == expected


def test_an_app_registered_for_hmac_sha256_is_served_in_it(client):
    result, receipt = call(client, "issue", ISSUE, app=SHA256_APP)
    assert result == wire.SUCCESS and receipt["eInvoiceNumber"] == "0000000001"


def test_parameters_may_come_as_a_json_object(client):
    response = client.post(f"{BASE}/issue", form("issue", ISSUE), content_type="application/json")
    assert response.json()["result"] == wire.SUCCESS


@pytest.mark.parametrize(
    ("changes", "result"),
    [
        ({"sign": "0" * 64}, wire.BAD_SIGNATURE),
        ({"sign": "签名"}, wire.BAD_SIGNATURE),
        ({"message": encoded({**ISSUE, "payerPartyName": "李四"})}, wire.BAD_SIGNATURE),
        ({"appid": "nobody"}, wire.UNKNOWN_APP),
    ],
)
def test_a_forged_request_is_refused_and_nothing_issued(client, changes, result):
    response = post(client, "issue", form("issue", ISSUE, **changes))

    assert response.status_code == 200 and response.json()["result"] == result
    assert client.get(f"{BASE}/_control/receipts").json()["receipts"] == []


def test_an_unknown_app_is_answered_unsigned_and_a_known_one_signed(client):
    unknown = post(client, "issue", form("issue", ISSUE, appid="nobody")).json()
    forged = post(client, "issue", form("issue", ISSUE, sign="0" * 64)).json()

    assert unknown["sign"] == ""
    signed = {"result": forged["result"], "message": forged["message"]}
    key = APPS[SM3_APP]["app_key"]
    assert forged["sign"] == wire.signature(wire.HMAC_SM3, key, wire.text_to_sign(signed))


def test_parameters_missing_unknown_or_repeated_are_refused(client):
    parameters = form("issue", ISSUE)
    without_noise = {name: value for name, value in parameters.items() if name != "noise"}
    repeated = urlencode([*parameters.items(), ("appid", SM3_APP)])

    answers = [
        post(client, "issue", without_noise),
        post(client, "issue", {**parameters, "extra": "1"}),
        client.post(f"{BASE}/issue", repeated, content_type="application/x-www-form-urlencoded"),
    ]

    assert [answer.json()["result"] for answer in answers] == [wire.BAD_PARAMETER] * 3


@pytest.mark.parametrize(
    ("parameters", "path", "result"),
    [
        (form("query", {"bizCode": "x"}), "issue", wire.WRONG_SERVICE),
        (form("unknown", {"bizCode": "x"}), "unknown", wire.WRONG_SERVICE),
        (form("query", {"bizCode": "x"}, version="2.0"), "query", wire.BAD_SIGNATURE),
        (form("query", {"bizCode": "x"}, noise="short"), "query", wire.BAD_SIGNATURE),
    ],
)
def test_the_service_must_be_the_endpoints_and_changed_fields_break_the_sign(
    client, parameters, path, result
):
    assert post(client, path, parameters, path=path).json()["result"] == result


def test_a_wrong_version_or_a_short_noise_signed_correctly_is_refused(client):
    version = form("query", {"bizCode": "x"})
    version["version"] = "2.0"
    noise = {**version, "version": wire.VERSION, "noise": "short"}
    for parameters in (version, noise):
        parameters.pop("sign")
        text = wire.text_to_sign(parameters)
        parameters["sign"] = wire.signature(wire.HMAC_SM3, APPS[SM3_APP]["app_key"], text)

    assert post(client, "query", version).json()["result"] == wire.BAD_VERSION
    assert post(client, "query", noise).json()["result"] == wire.BAD_PARAMETER


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"totalAmount": "35.0"}, "totalAmount"),
        ({"totalAmount": "36.00"}, "totalAmount is not the sum"),
        ({"payerPartyType": "2"}, "payerPartyCode"),
        ({"payDate": "2025-06-01"}, "payDate"),
        ({"bizCode": "pay 1"}, "bizCode"),
        ({"payerPartyName": "张\r三"}, "payerPartyName"),
        ({"details": []}, "details"),
        ({"details": [{**ISSUE["details"][0], "itemQuantity": "0"}]}, "itemQuantity"),
        ({"extra": "1"}, "extra"),
    ],
)
def test_an_invalid_business_message_is_refused_naming_the_field(client, changes, named):
    result, message = call(client, "issue", {**ISSUE, **changes})
    assert result == wire.BAD_MESSAGE and named in message["msg"]


# -- issuing ------------------------------------------------------------------------------


def test_issuing_again_with_the_same_biz_code_answers_the_same_receipt(client):
    first = issued(client)
    again = issued(client)

    assert again == first
    assert len(client.get(f"{BASE}/_control/receipts").json()["receipts"]) == 1


def test_a_biz_code_used_with_another_message_is_refused_and_gets_no_number(client):
    issued(client)
    result, _ = call(client, "issue", {**ISSUE, "payerPartyName": "李四"})
    second = issued(client, bizCode="pay_0002")

    assert result == wire.BIZ_CODE_USED
    assert second["eInvoiceNumber"] == "0000000002"


def test_each_invoicing_party_numbers_from_its_own_range_without_gaps(client):
    first = [issued(client, bizCode=f"a{n}")["eInvoiceNumber"] for n in range(3)]
    other = issued(client, bizCode="b0", invoicingPartyCode="CRJ01")["eInvoiceNumber"]
    fourth = issued(client, bizCode="a3")["eInvoiceNumber"]

    assert [*first, fourth] == ["0000000001", "0000000002", "0000000003", "0000000004"]
    assert other == "0000001001"  # the second party's range starts after the first's 1000


def test_a_used_up_range_is_refused(client, settings):
    settings.SANDBOX_RECEIPTS = {**settings.SANDBOX_RECEIPTS, "range_size": 2}
    issued(client, bizCode="a0")
    issued(client, bizCode="a1")

    result, message = call(client, "issue", {**ISSUE, "bizCode": "a2"})

    assert result == wire.RANGE_USED_UP and "SCJG01" in message["msg"]


def test_the_code_is_region_class_kind_and_year_and_the_check_code_six_characters(client):
    receipt = issued(client)

    assert receipt["eInvoiceCode"] == f"330101{receipt['issueDate'][2:4]}"
    assert len(receipt["randomNumber"]) == 6 and receipt["randomNumber"].isalnum()
    assert receipt["totalAmount"] == "35.00"


def test_a_restarted_platform_goes_on_numbering_where_it_stopped(client, settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path
    state.reset_all()
    first = issued(client, bizCode="a0")

    state.reload_all()

    assert issued(client, bizCode="a0") == first
    assert issued(client, bizCode="a1")["eInvoiceNumber"] == "0000000002"


# -- red-letter receipts ------------------------------------------------------------------


def test_a_red_letter_receipt_reddens_part_and_then_no_more_than_remains(client):
    original = issued(client)

    result, part = red(client, original, "32.00")
    again = red(client, original, "32.00")
    refused, message = red(client, original, "3.01", biz_code="rf_0002")
    rest = red(client, original, "3.00", biz_code="rf_0003")[1]

    assert result == wire.SUCCESS and part["totalAmount"] == "-32.00"
    assert again == (wire.SUCCESS, part)
    assert refused == wire.EXCEEDS_REMAINING and "3.00" in message["msg"]
    assert rest["totalAmount"] == "-3.00"
    assert red(client, original, "0.01", biz_code="rf_0004")[0] == wire.EXCEEDS_REMAINING


def test_a_red_letter_receipt_lists_the_items_it_reddens_in_order(client):
    original = issued(client)
    _, part = red(client, original, "32.00")

    xml = base64.b64decode(part["eInvoiceXml"]).decode()

    assert "<ItemQuantity>-2</ItemQuantity>" in xml  # the first item, reddened whole
    assert "<ItemAmount>-30.00</ItemAmount>" in xml
    assert "<ItemQuantity></ItemQuantity>" in xml  # part of the second
    assert "<ItemAmount>-2.00</ItemAmount>" in xml
    assert f"<RelatedInvoiceNumber>{original['eInvoiceNumber']}</RelatedInvoiceNumber>" in xml


def test_a_red_letter_receipt_cannot_itself_be_reddened(client):
    _, part = red(client, issued(client), "1.00")
    assert red(client, part, "1.00", biz_code="rf_0002")[0] == wire.NOT_REDDENABLE


def test_only_the_issuing_app_may_redden_or_download_a_receipt(client):
    original = issued(client)
    numbered = {key: original[key] for key in ("eInvoiceCode", "eInvoiceNumber")}

    reddened = call(
        client,
        "issue_red",
        {**numbered, "bizCode": "rf_1", "amount": "1.00", "reason": "退款"},
        app=OTHER_APP,
    )
    downloaded = call(client, "download", numbered, app=OTHER_APP)

    assert reddened[0] == downloaded[0] == wire.NO_SUCH_RECEIPT


# -- query, download, verify --------------------------------------------------------------


def test_query_answers_the_receipt_of_a_biz_code_or_no_such_receipt(client):
    receipt = issued(client)

    assert call(client, "query", {"bizCode": "pay_0001"}) == (wire.SUCCESS, receipt)
    assert call(client, "query", {"bizCode": "pay_9999"})[0] == wire.NO_SUCH_RECEIPT


def test_download_answers_a_zip_holding_the_receipt_file(client):
    receipt = issued(client)
    numbered = {key: receipt[key] for key in ("eInvoiceCode", "eInvoiceNumber")}

    response = post(client, "download", form("download", numbered))

    assert response["Content-Type"] == "application/x-zip-compressed"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        name = f"{receipt['eInvoiceCode']}_{receipt['eInvoiceNumber']}.xml"
        assert archive.namelist() == [name]
        assert archive.read(name) == base64.b64decode(receipt["eInvoiceXml"])


def test_a_days_download_holds_the_apps_receipts_of_that_day(client):
    receipt = issued(client)
    _, part = red(client, receipt, "5.00")
    call(client, "issue", {**ISSUE, "bizCode": "pay_other"}, app=OTHER_APP)

    def names(day: str) -> list[str]:
        response = post(client, "download_by_date", form("download_by_date", {"issueDate": day}))
        assert response["Content-Type"] == "application/x-zip-compressed"
        return zipfile.ZipFile(io.BytesIO(response.content)).namelist()

    day = receipt["issueDate"]
    assert names(day) == [  # both, unless Beijing's midnight fell between them
        f"{one['eInvoiceCode']}_{one['eInvoiceNumber']}.xml"
        for one in (receipt, part)
        if one["issueDate"] == day
    ]
    assert names("20200101") == []


def test_any_app_may_verify_and_a_wrong_check_code_is_not_genuine(client):
    receipt = issued(client)
    red(client, receipt, "5.00")
    asked = {
        "eInvoiceCode": receipt["eInvoiceCode"],
        "eInvoiceNumber": receipt["eInvoiceNumber"],
        "randomNumber": receipt["randomNumber"],
    }
    other = "000000" if receipt["randomNumber"] != "000000" else "000001"

    result, genuine = call(client, "verify", asked, app=OTHER_APP)
    _, wrong = call(client, "verify", {**asked, "randomNumber": other})

    assert result == wire.SUCCESS and genuine["genuine"] is True
    assert genuine["reddenedAmount"] == "5.00"
    assert genuine["eInvoiceXml"] == receipt["eInvoiceXml"]
    assert wrong == {"genuine": False}


# -- control ------------------------------------------------------------------------------


def test_a_platform_taken_down_answers_503_until_it_is_up_again(client):
    client.post(f"{BASE}/_control/mode", {"mode": "down"}, content_type="application/json")
    down = post(client, "issue", form("issue", ISSUE))
    client.post(f"{BASE}/_control/mode", {"mode": "up"}, content_type="application/json")

    assert down.status_code == 503
    assert issued(client)["eInvoiceNumber"] == "0000000001"


@pytest.mark.parametrize("body", [{"mode": "sideways"}, ["down"], {"mode": "slow", "delay_ms": -1}])
def test_a_bad_mode_is_refused(client, body):
    response = client.post(f"{BASE}/_control/mode", body, content_type="application/json")
    assert response.status_code == 400


def test_the_control_lists_every_receipt_issued(client):
    receipt = issued(client)
    red(client, receipt, "5.00")

    listed = client.get(f"{BASE}/_control/receipts").json()["receipts"]

    assert [(entry["biz_code"], entry["total_fen"]) for entry in listed] == [
        ("pay_0001", 3500),
        ("rf_0001", -500),
    ]
    assert listed[0]["reddened_fen"] == 500
    assert listed[1]["original"] == receipt["eInvoiceCode"] + receipt["eInvoiceNumber"]
