"""WeChat Pay and UnionPay have no bill of a day without trades (NO_STATEMENT_EXIST, respCode
98). Once the bill is due (noon the next day) and we hold nothing at the channel for the
date, the run succeeds on an empty file; while we hold a payment it waits for the file, and
is late after noon."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import pytest
import time_machine

from billing.models import PaymentAttempt, PaymentOrder
from billing.services.attempts import payment_attempt_apply_result
from core.money import BEIJING
from core.outside import get_channel
from integrations.errors import NoStatement
from integrations.payments.base import TradeResult, TradeStatus
from reconciliation import tasks
from reconciliation.models import (
    Clearing,
    Discrepancy,
    ReconciliationRun,
    RunStatus,
    StatementFile,
    StatementLine,
)
from reconciliation.services import runs
from sandboxes import state
from tests.billing.conftest import create_order
from tests.integrations.helpers import today_in_beijing
from tests.reconciliation.conftest import run_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
CHANNELS = ("wechatpay", "unionpay")
NO_BILL_CODES = {"wechatpay": "NO_STATEMENT_EXIST", "unionpay": "98"}
NO_BILL_ANSWERS = {"wechatpay": "HTTP 400 账单文件不存在", "unionpay": "98 文件不存在"}


@pytest.fixture
def sandboxes(live_service):
    state.reset_all()  # no trades at any channel


def paid_at(portal, channel: str, moment: datetime) -> PaymentAttempt:
    """An order paid at the channel at ``moment``, as the channel's answer is applied."""
    order = PaymentOrder.objects.get(public_id=create_order(portal)["id"])
    attempt = PaymentAttempt.objects.create(order=order, channel=channel, amount=order.amount)
    result = TradeResult(
        out_trade_no=attempt.out_trade_no,
        status=TradeStatus.SUCCEEDED,
        amount=order.amount,
        provider_trade_no=f"{attempt.pk:020d}",
        paid_at=moment,
    )
    assert payment_attempt_apply_result(result=result, actor=f"channel:{channel}") == "applied"
    return attempt


def assert_empty(run: ReconciliationRun) -> None:
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.statement.source, run.statement.size) == (StatementFile.Source.NO_BILL, 0)
    assert {side: run.totals[side] for side in ("ours", "theirs", "matched")} == {
        side: {"count": 0, "amount": 0} for side in ("ours", "theirs", "matched")
    }
    assert all(found["count"] == 0 for found in run.totals["discrepancies"].values())
    assert not StatementLine.objects.filter(statement=run.statement).exists()
    assert not Discrepancy.objects.filter(party=run.party).exists()
    assert not Clearing.objects.filter(processor=run.party).exists()


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_past_day_without_trades_reconciles_on_an_empty_file(sandboxes, channel):
    day = today_in_beijing() - timedelta(days=2)
    with pytest.raises(NoStatement) as answered:
        get_channel(channel).fetch_statement(day)
    assert answered.value.code == NO_BILL_CODES[channel]
    assert NO_BILL_ANSWERS[channel] in str(answered.value)

    first = run_of(channel, day)
    again = run_of(channel, day)

    assert_empty(first)
    assert_empty(again)
    assert again.statement == first.statement


def test_a_day_without_trades_waits_for_the_bill_until_noon_the_next_day(sandboxes):
    day = today_in_beijing()
    tomorrow = day + timedelta(days=1)

    with time_machine.travel(datetime.combine(tomorrow, time(9, 30), BEIJING)):
        morning = run_of("wechatpay", day)
    with time_machine.travel(datetime.combine(tomorrow, time(12, 5), BEIJING)):
        noon = run_of("wechatpay", day)

    assert (morning.status, morning.step) == (RunStatus.FAILED, runs.WAITING_FOR_FILE)
    assert NO_BILL_ANSWERS["wechatpay"] in morning.error
    assert_empty(noon)


class Logged(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def errors_logged():
    """The errors the reconciliation tasks log. (Logging is configured afresh while the
    service runs here, which takes caplog's handler off the root logger.)"""
    logged = Logged()
    logger = logging.getLogger(tasks.__name__)
    logger.addHandler(logged)
    yield logged.messages
    logger.removeHandler(logged)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_day_we_hold_a_payment_of_waits_for_the_bill_and_is_late(
    sandboxes, portal, fixed_fee, channel, errors_logged
):
    day = today_in_beijing() - timedelta(days=2)
    paid_at(portal, channel, datetime.combine(day, time(10), BEIJING))

    waiting = run_of(channel, day)
    retried = tasks.retry_waiting()

    assert (waiting.status, waiting.step) == (RunStatus.FAILED, runs.WAITING_FOR_FILE)
    assert waiting.error.startswith(f"{channel} has no file for {day}: ")
    assert NO_BILL_ANSWERS[channel] in waiting.error
    assert not StatementFile.objects.filter(party=channel).exists()
    assert retried == 1
    assert errors_logged == [f"the {channel} file of {day} is late: {waiting.error}"]
    assert ReconciliationRun.objects.get(pk=waiting.pk).status == RunStatus.QUEUED
