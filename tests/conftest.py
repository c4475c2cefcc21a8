from __future__ import annotations

import time

import pytest
from celery import signals
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.core.servers import basehttp
from pytest_django.live_server_helper import LiveServer

from billing.models import (
    ChargeStage,
    Department,
    FeeItem,
    Processor,
    ServiceItem,
    ServiceItemFee,
    WaiverKind,
    WaiverRule,
)
from config import queues
from config.celery_app import app as celery_app

# Django's live test server listens with a backlog of 10 connections; the concurrency
# tests open 50 at once, as a portal under load would.
basehttp.WSGIServer.request_queue_size = 128


@pytest.fixture
def public_platform(db):
    """Transactional tests empty every table, so the migration's row is made again here."""
    return Processor.objects.get_or_create(
        code="public_platform",
        defaults={"legal_name": "统一公共支付平台", "licensed": False, "max_amount": 10**11},
    )[0]


def make_department(code: str, name: str, **fields: object) -> Department:
    """A department of the city (region 330100) that accepts the public platform."""
    defaults = {"region_code": "330100", "accepted_channels": ["public_platform"]}
    return Department.objects.create(code=code, name=name, **{**defaults, **fields})


@pytest.fixture
def department(public_platform):
    return make_department(
        "SCJG01",
        "市市场监督管理局",
        settlement_account_name="市市场监督管理局非税收入专户",
        settlement_account_number="1202020209000012345",
        settlement_bank="中国工商银行杭州分行",
    )


# The service item the orders of tests/billing/conftest.py name.
SERVICE_ITEM = "11330100MB0000000X-001"


def charged_by_service_item(
    *fee_items: FeeItem, code: str = SERVICE_ITEM, stage: str = ChargeStage.ACCEPTANCE
) -> ServiceItem:
    """The service item of that code (new, of the first fee item's department, if need be)
    charging the fee items at that stage."""
    item = ServiceItem.objects.get_or_create(
        code=code, defaults={"name": "营业执照办理", "department": fee_items[0].department}
    )[0]
    for fee_item in fee_items:
        ServiceItemFee.objects.create(service_item=item, fee_item=fee_item, stage=stage)
    return item


@pytest.fixture
def fixed_fee(department):
    item = FeeItem.objects.create(
        code="FEE-LIC",
        name="营业执照工本费",
        department=department,
        legal_basis="《行政事业性收费标准管理办法》 发改价格规〔2018〕988号",
        standard_amount=1500,
    )
    for code, kind in (("小微企业免收", WaiverKind.EXEMPT), ("低保对象减半", WaiverKind.HALF)):
        WaiverRule.objects.create(fee_item=item, code=code, label=code, kind=kind)
    charged_by_service_item(item)
    return item


# Settings of the outside parties whose base_url points at a sandbox, served by the live server.
PROVIDER_SETTINGS = (
    "PUBLIC_PLATFORM", "ALIPAY", "WECHATPAY", "UNIONPAY", "EMS", "SF_EXPRESS", "RECEIPTS", "SMS"
)  # fmt: skip


@pytest.fixture
def live_service(transactional_db, settings):
    """The whole service on a real port, with the sandboxes as its outside parties.

    Providers send their notifications to this server, and the adapters call the sandboxes
    it also serves (config.urls_with_sandboxes), over HTTP on loopback. Each test gets a
    server on a port of its own, so a sandbox still retrying an earlier test's notification
    never reaches this test's database, nor holds locks while the database is emptied
    after a test.
    """
    server = LiveServer("127.0.0.1:0")
    default_base = settings.SANDBOX_BASE_URL
    settings.SERVICE_BASE_URL = server.url
    settings.SANDBOX_BASE_URL = server.url
    for provider in PROVIDER_SETTINGS:
        config = getattr(settings, provider)
        setattr(
            settings,
            provider,
            {**config, "base_url": config["base_url"].replace(default_base, server.url, 1)},
        )
    settings.BANKS = {
        code: {**bank, "base_url": bank["base_url"].replace(default_base, server.url, 1)}
        for code, bank in settings.BANKS.items()
    }
    yield server
    server.stop()
    # A request answered while the server stopped may have queued a task.
    _wait_for_tasks()


def _test_queues() -> list[str]:
    return [django_settings.CELERY_QUEUE_PREFIX + queue for queue in queues.QUEUES]


@pytest.fixture(scope="session")
def _running_worker(django_db_setup):
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=_test_queues(),
    ):
        # The worker says it is ready before its consumer loop runs; a task published in
        # that gap would wait for the loop's ten-second poll.
        time.sleep(0.5)
        global _worker_started
        _worker_started = True
        yield


_tasks_running = 0
_worker_started = False


@signals.task_prerun.connect
def _task_started(**kwargs) -> None:
    global _tasks_running
    _tasks_running += 1


@signals.task_postrun.connect
def _task_finished(**kwargs) -> None:
    global _tasks_running
    _tasks_running -= 1


@pytest.fixture
def task_worker(_running_worker, transactional_db):
    """A real Celery worker consuming this test run's queue on the local RabbitMQ.

    One worker serves the whole session; each test that uses it has a real transaction.
    Afterwards it waits (a few seconds at most) for the queue to drain, so that no task
    holds locks while the database is emptied for the next test.
    """
    yield
    _wait_for_tasks()


@pytest.fixture(autouse=True)
def _tasks_done_before_teardown():
    """Once the session's worker runs, a test may leave it a task (a booking its change
    released): the database is emptied after that task, not under it, where the two
    deadlocked (TRUNCATE against the task's reads)."""
    yield
    _wait_for_tasks()


def _wait_for_tasks() -> None:
    """Until the worker has run every task queued so far (ten seconds at most)."""
    if not _worker_started:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (_tasks_running or _queued_tasks()):
        time.sleep(0.05)


def _queued_tasks() -> int:
    with celery_app.connection_for_write() as connection:
        return sum(
            connection.default_channel.queue_declare(queue, passive=True).message_count
            for queue in _test_queues()
        )


@pytest.fixture(scope="session", autouse=True)
def _delete_test_queues():
    yield
    with celery_app.connection_for_write() as connection:
        for queue in _test_queues():
            connection.default_channel.queue_delete(queue)
