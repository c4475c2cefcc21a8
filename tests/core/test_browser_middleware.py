"""Django's browser middleware steps aside where only machines call; browsers and the portal
API keep what they use, and a machine's answer, log line and metrics are as they were."""

from __future__ import annotations

import json
import logging
import uuid
from urllib.parse import quote

import pytest
from django.conf import settings
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLResolver, get_resolver
from prometheus_client import REGISTRY

from core import browser_middleware as browser
from tests.core.test_structured_logs import Captured

PUSH_ROUTE = "/notify/couriers/<str:courier_code>/push"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture
def captured():
    root = logging.getLogger()
    capture = Captured()
    root.addHandler(capture.handler)
    yield capture
    root.removeHandler(capture.handler)


def through_browser_middleware(request) -> HttpResponse:
    """``request`` through the browser middleware in settings.MIDDLEWARE's order."""
    view = browser.MessageMiddleware(lambda request: HttpResponse("ok"))
    chain = browser.SessionMiddleware(
        browser.LocaleMiddleware(browser.CsrfViewMiddleware(browser.AuthenticationMiddleware(view)))
    )
    return chain(request)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/notify/couriers/sf/push", "/notify/alipay", "/healthz", "/readyz"]
)
def test_where_only_machines_call_no_session_user_language_or_messages_is_set_up(path):
    request = RequestFactory().post(path, HTTP_ACCEPT_LANGUAGE="en")

    response = through_browser_middleware(request)

    assert response.content == b"ok"
    for attribute in ("session", "user", "LANGUAGE_CODE", "_messages"):
        assert not hasattr(request, attribute), attribute
    assert not response.has_header("Vary")


@pytest.mark.django_db
def test_the_portal_api_keeps_the_session_the_user_and_the_language_but_no_messages():
    request = RequestFactory().get("/api/v1/payment-orders", HTTP_ACCEPT_LANGUAGE="en")

    through_browser_middleware(request)

    assert request.LANGUAGE_CODE == "en"
    assert request.user.is_anonymous
    assert request.session.is_empty()
    assert not hasattr(request, "_messages")


@pytest.mark.django_db
def test_a_browser_path_goes_through_every_one_of_them():
    request = RequestFactory().get("/console/", HTTP_ACCEPT_LANGUAGE="en")

    response = through_browser_middleware(request)

    assert request.LANGUAGE_CODE == "en"
    assert request.user.is_anonymous
    assert request.session.is_empty()
    assert hasattr(request, "_messages")
    assert response["Content-Language"] == "en"


@pytest.mark.django_db
def test_the_portal_api_still_answers_in_the_callers_language():
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get("/api/v1/payment-orders")
    default = Client().get("/api/v1/payment-orders")

    assert english.status_code == default.status_code == 401
    assert english.json()["error"]["message"] == "Authentication credentials were not provided."
    assert default.json()["error"]["message"] != english.json()["error"]["message"]
    assert default["Content-Language"] == settings.LANGUAGE_CODE


def test_every_api_and_notification_view_is_csrf_exempt():
    """No view there sends a form, so none needs the CSRF cookie the middleware skips."""
    found = []

    def walk(resolver: URLResolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern, route)
            elif route.startswith(("/notify/", *browser.PORTAL_API)):
                found.append(route)
                assert getattr(pattern.callback, "csrf_exempt", False), route

    walk(get_resolver(), "/")
    assert "/notify/couriers/<str:courier_code>/push" in found
    assert "/api/v1/payment-orders" in found


def test_a_view_that_is_not_exempt_is_still_refused_a_post_without_a_token_there():
    def not_exempt(request):
        return HttpResponse("changed something")

    csrf = browser.CsrfViewMiddleware(not_exempt)
    request = RequestFactory().post("/api/v1/payment-orders", {"x": "1"})

    refused = csrf.process_view(request, not_exempt, (), {})

    assert refused is not None and refused.status_code == 403


def sf_push() -> tuple[str, bytes]:
    route = {"mailno": "SF7000000001", "id": uuid.uuid4().hex, "acceptTime": "2026-12-06 10:00:00",
             "acceptAddress": "杭州市", "remark": "快件已发车", "opCode": "30"}  # fmt: skip
    body = json.dumps({"Body": {"WaybillRoute": [route]}}, ensure_ascii=False).encode()
    token = quote(settings.SF_EXPRESS["push_token"], safe="")  # Base64: "+" and "/" quoted
    return f"/notify/couriers/sf/push?token={token}", body


def pushes_counted() -> float:
    labels = {"route": PUSH_ROUTE, "method": "POST", "status": "200"}
    return REGISTRY.get_sample_value("backoffice_http_requests_total", labels) or 0.0


@pytest.mark.django_db
def test_a_courier_push_is_answered_logged_and_counted_as_before(captured):
    path, body = sf_push()
    counted = pushes_counted()

    response = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        path, body, content_type="application/json;charset=UTF-8"
    )

    assert response.status_code == 200
    assert response.json()["return_code"] == "0000"
    for header, value in SECURITY_HEADERS.items():
        assert response[header] == value
    assert response["Content-Length"] == str(len(response.content))
    assert not response.cookies
    # Nothing about it varies with the caller's language.
    assert not response.has_header("Vary") and not response.has_header("Content-Language")
    [access] = captured.where(logger="core.access")
    assert access["request_id"] == response["X-Request-ID"]
    assert (access["method"], access["route"], access["status"]) == ("POST", PUSH_ROUTE, 200)
    assert access["duration_ms"] >= 0
    assert pushes_counted() == counted + 1
