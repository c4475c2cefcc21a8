"""Hostile input never gives a 500: huge, deeply nested and NUL-laden requests are refused.

Every JSON endpoint of the schema and every notification and push endpoint is sent a
10 MB body, a body nested far beyond the interpreter's recursion limit, a NUL in the
body, in the path and in the query string. A refused notification or push keeps only a
bounded digest: its size, its SHA-256 and the start of its body without NULs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from io import BytesIO
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import APIException

from billing.models import PaymentNotification
from core import pii, untrusted
from core.auth import api_client_create
from core.models import ApiRole, IdempotencyRecord
from core.outside import get_channel, get_courier
from core.parsers import StrictJSONParser
from integrations.couriers.ems import sealing as ems_sealing
from logistics.models import CourierPush, PushStatus
from logistics.services.tracking import PUSH_BODY
from reconciliation.models import StatementFile

pytestmark = pytest.mark.django_db

HUGE = b'{"filler": "' + b"x" * (10 * 1024 * 1024) + b'"}'
NESTED = b"[" * 100_000
# Deeper than the recursion limit, small enough for a provider to parse.
NESTED_MESSAGE = b"[" * 50_000
NUL_IN_JSON = b'{"payer": {"name": "\\u0000"}, "case_no": "A\\u0000", "\\u0000": 1}'
RAW_NUL = b"notify_id=1&out_trade_no=pay_\x00x&" + b"\x00" * 4096
NON_FINITE = b'{"amount": 1e999, "fee_items": [{"quantity": -1e999}]}'

BODY_METHODS = ("post", "put", "patch")
CHANNELS = ("alipay", "wechatpay", "unionpay", "public_platform")
COURIERS = ("sf", "ems")


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(method, path) for path, ops in schema["paths"].items() for method in ops]


OPERATIONS = _operations()
BODY_OPERATIONS = [(method, path) for method, path in OPERATIONS if method in BODY_METHODS]
GET_PATHS = sorted({path for method, path in OPERATIONS if method == "get"})


def _url(path: str, value: str = "1") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


@pytest.fixture
def keys() -> list[str]:
    """One key per role, so each endpoint is reached by a caller allowed to use it."""
    return [api_client_create(name=f"hostile-{role}", role=role)[1] for role in ApiRole.values]


def _as(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}", "HTTP_IDEMPOTENCY_KEY": "hostile-1"}


def _assert_refused(response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.content[:300])
    assert response.json()["error"]["code"]


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_a_ten_megabyte_body_is_refused_as_too_large_before_it_is_read(client, keys, method, path):
    for key in keys:
        response = client.generic(
            method.upper(), _url(path), HUGE, content_type="application/json", **_as(key)
        )
        _assert_refused(response, 413)
        assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
@pytest.mark.parametrize("body", [NESTED, NUL_IN_JSON, NON_FINITE], ids=["nested", "nul", "nan"])
def test_a_nested_nul_or_non_finite_json_body_is_a_client_error(client, keys, method, path, body):
    for key in keys:
        response = client.generic(
            method.upper(), _url(path), body, content_type="application/json", **_as(key)
        )
        assert 400 <= response.status_code < 500, (key[:4], response.content[:300])
        assert response.json()["error"]["code"]
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize("body", [NESTED, NUL_IN_JSON, NON_FINITE], ids=["nested", "nul", "nan"])
def test_the_api_parser_calls_a_nested_nul_or_non_finite_body_malformed(client, keys, body):
    portal = keys[ApiRole.values.index(ApiRole.PORTAL)]
    response = client.post(
        "/api/v1/payment-orders", body, content_type="application/json", **_as(portal)
    )
    _assert_refused(response, 400)
    assert response.json()["error"]["code"] == "malformed_request"


def test_the_api_parser_refuses_a_body_over_the_limit_even_without_a_content_length(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    with pytest.raises(APIException) as refused:
        StrictJSONParser().parse(BytesIO(b"[" + b"1," * 1024 + b"1]"))
    assert refused.value.status_code == 413


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_a_nul_in_the_path_is_a_bad_request(client, keys, method, path):
    url = _url(path, "x%00") if "{" in path else f"{path}%00"
    for credentials in ({}, *(_as(key) for key in keys)):
        response = client.generic(
            method.upper(), url, b"{}", content_type="application/json", **credentials
        )
        _assert_refused(response, 400)


@pytest.mark.parametrize("path", GET_PATHS)
def test_a_nul_in_the_query_string_is_a_bad_request(client, keys, path):
    query = "department=%00&status=%00&cursor=%00&business_date=%00&page_size=%00"
    for key in keys:
        response = client.get(f"{_url(path)}?{query}", **_as(key))
        _assert_refused(response, 400)


def test_a_statement_upload_has_a_larger_limit_of_its_own(client, keys, settings):
    finance = _as(keys[ApiRole.values.index(ApiRole.FINANCE)])
    content = b"trade_no,amount\n" * 200_000  # 3.2 MB, over the JSON limit
    form = {"party": "alipay", "business_date": "2026-11-26"}

    def upload():
        return client.post(
            "/api/v1/reconciliation/statements",
            {**form, "file": SimpleUploadedFile("bill.csv", content)},
            **finance,
        )

    settings.FILE_UPLOAD_MAX_REQUEST_SIZE = 2 * 1024 * 1024
    _assert_refused(upload(), 413)
    assert not StatementFile.objects.exists()

    settings.FILE_UPLOAD_MAX_REQUEST_SIZE = 50 * 1024 * 1024
    response = upload()
    assert response.status_code == 201, response.content
    assert response.json()["size"] == len(content)


def test_an_upload_form_with_a_huge_field_or_too_many_fields_is_refused(client, keys):
    finance = _as(keys[ApiRole.values.index(ApiRole.FINANCE)])
    file = {"file": SimpleUploadedFile("bill.csv", b"trade_no,amount\n")}
    huge_field = {"party": "alipay", "business_date": "2026-11-26", "memo": "x" * 2_000_000}
    many_fields = {"party": "alipay", **{f"field{n}": "x" for n in range(1_100)}}
    for form, status in ((huge_field, 413), (many_fields, 400)):
        response = client.post("/api/v1/reconciliation/statements", {**form, **file}, **finance)
        _assert_refused(response, status)
    assert not StatementFile.objects.exists()


def test_a_control_character_in_a_path_is_a_bad_request_and_a_tab_in_a_query_is_not(client, keys):
    portal = _as(keys[ApiRole.values.index(ApiRole.PORTAL)])
    _assert_refused(client.get("/api/v1/shipments/shp_%0a", **portal), 400)
    assert client.get("/api/v1/fee-items?department=a%09b", **portal).status_code == 200


def test_the_console_answers_a_nul_in_its_path_with_a_plain_bad_request(client):
    response = client.get("/console/%00")
    assert response.status_code == 400


# -- notifications and pushes ------------------------------------------------------------


def _ems_push(content: bytes) -> bytes:
    """An EMS push whose sealed trace is ``content``: it opens with the configured key."""
    key = ems_sealing.sm4_key(settings.EMS["secret"])
    return json.dumps({"logitcsInterface": ems_sealing.seal(content.decode(), key)}).encode()


def _push_url(code: str) -> str:
    query = {"token": settings.SF_EXPRESS["push_token"]} if code == "sf" else {}
    return f"/notify/couriers/{code}/push?{urlencode(query)}"


def _assert_bounded_notification(stored: PaymentNotification, body: bytes) -> None:
    assert stored.outcome == PaymentNotification.Outcome.REJECTED
    assert stored.verified is False
    assert stored.body_size == len(body)
    assert stored.body_sha256 == hashlib.sha256(body).hexdigest()
    assert len(stored.raw_body) <= untrusted.EXCERPT_BYTES
    assert "\x00" not in stored.raw_body
    assert "authorization" not in stored.headers


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "body",
    [NESTED_MESSAGE, NESTED, RAW_NUL, NUL_IN_JSON, b'{"n": NaN}'],
    ids=["nested", "nested-large", "raw-nul", "json-nul", "nan"],
)
def test_a_hostile_notification_is_refused_and_only_its_digest_is_kept(client, channel, body):
    refused = get_channel(channel).acknowledge(accepted=False)
    response = client.post(
        f"/notify/{channel}",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer secret",
    )
    assert (response.status_code, response.content) == (refused.status, refused.body)
    _assert_bounded_notification(PaymentNotification.objects.get(), body)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_ten_megabyte_notification_is_refused_unread_and_nothing_is_stored(client, channel):
    response = client.post(f"/notify/{channel}", HUGE, content_type="application/json")
    _assert_refused(response, 413)
    assert not PaymentNotification.objects.exists()


@pytest.mark.parametrize("code", COURIERS)
@pytest.mark.parametrize(
    "body",
    [NESTED_MESSAGE, NESTED, RAW_NUL, NUL_IN_JSON],
    ids=["nested", "nested-large", "raw-nul", "json-nul"],
)
def test_a_hostile_push_is_refused_and_only_its_digest_is_kept(client, code, body):
    refused = get_courier(code).acknowledge(False)
    response = client.post(_push_url(code), body, content_type="application/json")
    assert (response.status_code, response.content) == (refused.status, refused.body)
    stored = CourierPush.objects.get()
    assert stored.status == PushStatus.REJECTED
    assert stored.body_size == len(body)
    assert stored.body_sha256 == hashlib.sha256(body).hexdigest()
    kept = base64.b64decode(pii.decrypt(stored.body_encrypted, column=PUSH_BODY))
    assert len(kept) <= untrusted.EXCERPT_BYTES
    assert b"\x00" not in kept


@pytest.mark.parametrize("content", [NESTED_MESSAGE, NUL_IN_JSON], ids=["nested", "json-nul"])
def test_a_signed_ems_push_that_is_nested_or_holds_a_nul_is_refused(client, content):
    refused = get_courier("ems").acknowledge(False)
    response = client.post(_push_url("ems"), _ems_push(content), content_type="application/json")
    assert (response.status_code, response.content) == (refused.status, refused.body)
    assert CourierPush.objects.get().status == PushStatus.REJECTED


@pytest.mark.parametrize("code", COURIERS)
def test_a_ten_megabyte_push_is_refused_unread_and_nothing_is_stored(client, code):
    response = client.post(_push_url(code), HUGE, content_type="application/json")
    _assert_refused(response, 413)
    assert not CourierPush.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        *(f"/notify/{channel}%00" for channel in CHANNELS),
        *(f"/notify/{channel}?notify_id=%00" for channel in CHANNELS),
        *(f"/notify/couriers/{code}%00/push" for code in COURIERS),
        *(f"/notify/couriers/{code}/push?token=%00" for code in COURIERS),
    ],
)
def test_a_nul_in_a_notification_url_is_a_bad_request_and_nothing_is_stored(client, url):
    response = client.post(url, json.dumps({"a": 1}), content_type="application/json")
    _assert_refused(response, 400)
    assert not PaymentNotification.objects.exists()
    assert not CourierPush.objects.exists()
