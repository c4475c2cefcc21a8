"""A revenue system put "down" on purpose answers 503 without logging a server error."""

from __future__ import annotations

import json
import logging

import pytest
from django.http import HttpResponse
from django.utils.log import log_response

SYSTEM = "/sandbox/revenue/hz-fiscal"


@pytest.fixture
def outage(client):
    def mode(value: str) -> None:
        response = client.post(
            f"{SYSTEM}/_control/mode", {"mode": value}, content_type="application/json"
        )
        assert response.status_code == 200, response.content

    mode("down")
    yield
    mode("up")  # the sandbox's state is the process's: leave it as other tests expect it


def test_a_planned_outage_answers_503_and_logs_nothing_at_error(client, caplog, outage):
    with caplog.at_level(logging.DEBUG):
        response = client.post(
            f"{SYSTEM}/records", data=json.dumps({}), content_type="application/json"
        )

    assert response.status_code == 503
    assert response.json()["code"] == "503"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r for r in caplog.records if r.name == "django.request"] == []
    # The answer is still on record, as an access line at INFO.
    [access] = [r for r in caplog.records if r.name == "core.access"]
    assert access.levelno == logging.INFO
    assert access.msg["status"] == 503


def test_an_unplanned_503_is_still_logged_at_error(caplog):
    """The same capture sees what Django logs of any other 5xx: the test above can fail."""
    with caplog.at_level(logging.DEBUG):
        log_response("%s: %s", "Service Unavailable", "/x", response=HttpResponse(status=503))

    assert [(r.name, r.levelno) for r in caplog.records] == [("django.request", logging.ERROR)]
