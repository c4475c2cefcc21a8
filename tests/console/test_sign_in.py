"""Sign-ins are audited, and a username is locked for a while after repeated failures."""

from __future__ import annotations

import pytest
from django.test import Client

from console.sign_in import MAX_FAILURES
from core.models import AuditRecord
from tests.console.conftest import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def sign_in(password: str, username: str = "clerk") -> int:
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
    for _ in range(MAX_FAILURES):
        assert b"Please enter a correct username and password" in sign_in("wrong password").content
    locked = sign_in(PASSWORD)
    assert locked.status_code == 200
    assert b"Too many failed attempts" in locked.content
    assert "_auth_user_id" not in locked.wsgi_request.session
    # Another user is not affected.
    make_staff("approver")
    assert sign_in(PASSWORD, username="approver").status_code == 302
