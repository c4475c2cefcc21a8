from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.servers import basehttp

from config.celery_app import app as celery_app

# Django's live test server listens with a backlog of 10 connections; the concurrency
# tests open 50 at once, as a portal under load would.
basehttp.WSGIServer.request_queue_size = 128

# Settings of the outside parties whose base_url points at a sandbox in this server.
PROVIDER_SETTINGS = ("PUBLIC_PLATFORM", "ALIPAY", "WECHATPAY", "UNIONPAY")


@pytest.fixture
def live_service(live_server, settings):
    """The whole service on a real port, with the sandboxes as its outside parties.

    Providers send their notifications to this server, and the adapters call the sandboxes
    mounted in it, over HTTP on loopback.
    """
    default_base = settings.SERVICE_BASE_URL
    settings.SERVICE_BASE_URL = live_server.url
    for provider in PROVIDER_SETTINGS:
        config = getattr(settings, provider)
        setattr(
            settings,
            provider,
            {**config, "base_url": config["base_url"].replace(default_base, live_server.url, 1)},
        )
    return live_server


@pytest.fixture(scope="session")
def _running_worker(django_db_setup):
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        # The worker says it is ready before its consumer loop runs; a task published in
        # that gap would wait for the loop's ten-second poll.
        time.sleep(0.5)
        yield


@pytest.fixture
def task_worker(_running_worker, transactional_db):
    """A real Celery worker consuming this test run's queue on the local RabbitMQ.

    One worker serves the whole session; each test that uses it has a real transaction.
    """


@pytest.fixture(scope="session", autouse=True)
def _delete_test_queue():
    yield
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_delete(celery_app.conf.task_default_queue)
