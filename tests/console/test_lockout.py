"""One lockout for every way staff sign in: the console, the admin, any form that
authenticates, and so the API sessions those sign-ins would open."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.db.models import F
from django.test import Client, RequestFactory

from core.models import AuditRecord
from tests.console.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.django_db

CONSOLE = "/console/login/"
ADMIN = "/admin/login/"
LIMIT = settings.AXES_FAILURE_LIMIT


def sign_in(path: str, username: str, password: str, **client_headers):
    client = Client(HTTP_ACCEPT_LANGUAGE="en", **client_headers)
    response = client.post(path, {"username": username, "password": password})
    response.client = client
    return response


def fail(path: str, username: str = "clerk", times: int = LIMIT, **client_headers) -> None:
    for _ in range(times):
        sign_in(path, username, "wrong password", **client_headers)


@pytest.mark.parametrize(("locked_on", "refused_on"), [(CONSOLE, ADMIN), (ADMIN, CONSOLE)])
def test_a_user_locked_on_one_sign_in_page_is_refused_on_the_other_with_the_right_password(
    locked_on, refused_on
):
    make_staff("clerk")
    fail(locked_on)

    refused = sign_in(refused_on, "clerk", PASSWORD)

    assert refused.status_code == 429
    assert b"Too many failed attempts: try again in 15 minutes." in refused.content
    assert "_auth_user_id" not in refused.client.session


def test_the_admin_refuses_a_locked_user_with_a_page_in_chinese_by_default():
    make_staff("clerk")
    fail(ADMIN)

    refused = Client().post(ADMIN, {"username": "clerk", "password": PASSWORD})

    assert refused.status_code == 429
    assert "登录失败次数过多，请 15 分钟后再试。" in refused.content.decode()


def test_any_form_that_authenticates_with_the_request_is_refused_for_a_locked_user():
    make_staff("clerk")
    fail(CONSOLE)
    request = RequestFactory().post("/some/future/form/")

    assert authenticate(request=request, username="clerk", password=PASSWORD) is None


def test_a_locked_user_opens_no_new_session_that_the_api_would_accept():
    make_staff("clerk")
    fail(CONSOLE)
    client = Client()
    client.post(ADMIN, {"username": "clerk", "password": PASSWORD})
    client.post(CONSOLE, {"username": "clerk", "password": PASSWORD})

    response = client.get("/api/v1/reconciliation/runs")

    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] == "not_authenticated"


def test_an_address_is_locked_after_failures_across_usernames():
    make_staff("clerk")
    office = {"REMOTE_ADDR": "198.51.100.7"}
    for guess in range(settings.AXES_ADDRESS_FAILURE_LIMIT):
        fail(CONSOLE, username=f"guess{guess}", times=1, **office)

    assert sign_in(CONSOLE, "clerk", PASSWORD, **office).status_code == 429
    assert sign_in(ADMIN, "clerk", PASSWORD, **office).status_code == 429
    assert sign_in(CONSOLE, "clerk", PASSWORD, REMOTE_ADDR="198.51.100.8").status_code == 302


def test_a_forged_forwarded_for_does_not_escape_the_address_lock_without_a_trusted_proxy(
    settings,
):
    settings.AXES_ADDRESS_FAILURE_LIMIT = 3
    make_staff("clerk")
    for guess in range(3):
        fail(
            CONSOLE,
            username=f"guess{guess}",
            times=1,
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{guess}",
        )

    forged = sign_in(
        CONSOLE, "clerk", PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99"
    )
    assert forged.status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_address_is_locked_and_audited(settings):
    settings.AXES_IPWARE_PROXY_COUNT = 1
    settings.AXES_ADDRESS_FAILURE_LIMIT = 3
    make_staff("clerk")
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for guess in range(3):
        fail(
            CONSOLE,
            username=f"guess{guess}",
            times=1,
            HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9",
            **proxy,
        )

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}
    failed = AuditRecord.objects.filter(action="staff.login_failed").first()
    assert failed.data == {"ip": "203.0.113.9"}
    locked = sign_in(CONSOLE, "clerk", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert locked.status_code == 429
    other = sign_in(CONSOLE, "clerk", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10", **proxy)
    assert other.status_code == 302


def test_a_lockout_ends_when_its_cool_off_has_passed():
    make_staff("clerk")
    fail(CONSOLE)

    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    )
    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=1))
    assert sign_in(ADMIN, "clerk", PASSWORD).status_code == 302


def test_a_success_forgives_the_earlier_failures():
    make_staff("clerk")
    fail(CONSOLE, times=LIMIT - 1)
    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 302

    fail(ADMIN, times=LIMIT - 1)
    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 302


def test_a_colleagues_success_from_the_same_address_does_not_forgive_failures_against_another():
    make_staff("clerk")
    make_staff("approver")
    fail(CONSOLE, username="clerk", times=LIMIT - 1)
    assert sign_in(CONSOLE, "approver", PASSWORD).status_code == 302

    assert sign_in(CONSOLE, "clerk", "wrong password").status_code == 429
    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 429


def test_axes_reset_lifts_every_lockout_at_once():
    make_staff("clerk")
    fail(CONSOLE)
    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 429

    call_command("axes_reset")

    assert sign_in(CONSOLE, "clerk", PASSWORD).status_code == 302
