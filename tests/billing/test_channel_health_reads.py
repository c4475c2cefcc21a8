"""A closed breaker, as nearly always, is read and never locked nor written by a call that
goes well; the router reads the breakers of every channel it considers at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import health
from billing.models import ChannelHealth

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def breaker(channel: str) -> ChannelHealth:
    return ChannelHealth.objects.get(channel=channel)


def test_a_call_on_a_closed_breaker_reads_it_once_and_writes_nothing():
    health.channel_succeeded("alipay")  # the row exists, closed, no failure counted
    before = breaker("alipay").updated_at

    with CaptureQueriesContext(connection) as captured:
        assert health.channel_take_call("alipay", now=NOW)
        health.channel_succeeded("alipay")

    sql = [query["sql"] for query in captured.captured_queries]
    assert len(sql) == 2, sql
    assert not [text for text in sql if "FOR UPDATE" in text or text.startswith("UPDATE")]
    assert breaker("alipay").updated_at == before


def test_a_success_after_a_failure_still_clears_it():
    health.channel_failed("alipay", now=NOW)

    health.channel_succeeded("alipay")

    assert breaker("alipay").consecutive_failures == 0


def test_the_router_reads_every_breaker_in_one_query():
    for _ in range(health.FAILURE_THRESHOLD):
        health.channel_failed("wechatpay", now=NOW)
    health.channel_failed("alipay", now=NOW)  # one failure: still closed

    with CaptureQueriesContext(connection) as captured:
        in_rotation = health.channels_in_rotation(
            ["alipay", "wechatpay", "unionpay"], now=NOW + timedelta(seconds=1)
        )

    assert len(captured.captured_queries) == 1
    assert in_rotation == {"alipay", "unionpay"}  # unionpay has no row yet: closed
    later = NOW + health.COOL_OFF + timedelta(seconds=1)
    assert health.channels_in_rotation(["wechatpay"], now=later) == {"wechatpay"}
