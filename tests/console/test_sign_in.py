"""Sign-ins are audited, and a username is locked for a while after repeated failures."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from core.models import AuditRecord
from tests.console.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def sign_in(password: str, username: str = "clerk"):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    return client.post("/console/login/", {"username": username, "password": password})


def test_logins_logouts_and_failures_are_audited_without_the_password():
    make_staff("clerk")
    assert sign_in("wrong password").status_code == 200
    client = Client()
    assert (
        client.post("/console/login/", {"username": "clerk", "password": PASSWORD}).status_code
        == 302
    )
    client.post("/console/logout/")

    actions = list(
        AuditRecord.objects.filter(actor="user:clerk")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["staff.login_failed", "staff.logged_in", "staff.logged_out"]
    failed = AuditRecord.objects.get(action="staff.login_failed")
    assert failed.data == {"ip": "127.0.0.1"}
    assert "wrong password" not in str(failed.data) + failed.reason


def test_a_username_is_locked_after_repeated_failures_even_for_the_right_password():
    make_staff("clerk")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert b"Please enter a correct username and password" in sign_in("wrong password").content
    assert sign_in("wrong password").status_code == 429
    locked = sign_in(PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed attempts: try again in 15 minutes." in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session
    # Another user is not affected.
    make_staff("approver")
    assert sign_in(PASSWORD, username="approver").status_code == 302


def test_the_console_says_the_lockout_in_chinese_by_default():
    make_staff("clerk")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong password")
    locked = Client().post("/console/login/", {"username": "clerk", "password": PASSWORD})
    assert locked.status_code == 429
    assert "登录失败次数过多，请 15 分钟后再试。" in locked.content.decode()
    assert 'name="username"' in locked.content.decode()


def test_a_lockout_and_the_refusals_during_it_are_audited_with_the_address():
    make_staff("clerk")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("wrong password")
    sign_in(PASSWORD)

    locked = AuditRecord.objects.filter(action="staff.locked_out", actor="user:clerk")
    assert [record.data for record in locked] == [{"ip": "127.0.0.1"}, {"ip": "127.0.0.1"}]
    failed = AuditRecord.objects.filter(action="staff.login_failed", actor="user:clerk")
    assert failed.count() == settings.AXES_FAILURE_LIMIT + 1
