"""Who reaches the console, what a refusal looks like there, and the language it speaks."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.console.conftest import PASSWORD, logged_in, make_staff

pytestmark = pytest.mark.django_db


def test_an_anonymous_visitor_is_sent_to_the_login_page():
    answer = Client().get("/console/runs/?party=alipay")
    assert answer.status_code == 302
    assert answer["Location"] == "/console/login/?next=/console/runs/%3Fparty%3Dalipay"


def test_staff_log_in_with_the_form_and_land_on_the_morning_view():
    make_staff("clerk")
    client = Client()
    answer = client.post("/console/login/", {"username": "clerk", "password": PASSWORD})
    assert (answer.status_code, answer["Location"]) == (302, "/console/")
    wrong = Client().post("/console/login/", {"username": "clerk", "password": "nope"})
    assert wrong.status_code == 200 and b'role="alert"' in wrong.content


def test_a_user_outside_the_finance_groups_is_refused_with_a_page():
    user = get_user_model().objects.create_user("visitor", password=PASSWORD)
    answer = logged_in(user).get("/console/")
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("text/html")


def test_an_unknown_console_page_is_an_html_404_and_the_api_keeps_its_json_body(clerk):
    page = clerk.get("/console/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
    api = clerk.get("/api/v1/no-such-resource")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_chinese_is_the_default_and_english_is_one_switch_away(clerk):
    assert "财务" in Client().get("/console/login/").content.decode()
    switched = clerk.post("/i18n/setlang/", {"language": "en", "next": "/console/login/"})
    assert switched.status_code == 302
    assert "Finance console" in clerk.get("/console/login/", follow=True).content.decode()


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/reconciliation/discrepancies/1/comments", {"text": "looked at it"}),
        ("/api/v1/reconciliation/discrepancies/1/approve", {}),
        ("/api/v1/reconciliation/runs", {"business_date": "2026-11-25", "party": "all"}),
        ("/api/v1/reconciliation/statements", {}),
    ],
)
def test_an_auditor_reads_but_the_api_refuses_their_actions(path, body):
    client = Client()
    client.force_login(make_staff("auditor", group="finance_auditor"))
    assert client.get("/api/v1/reconciliation/runs").status_code == 200
    refused = client.post(path, body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "permission_denied"
