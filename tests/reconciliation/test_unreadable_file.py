"""A fetched file that cannot be read (a download cut short) fails its run, naming the damage,
and the next run fetches the file again; a file a person uploaded stays as it is."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import requests
import time_machine

from core.money import BEIJING
from core.outside import get_channel
from reconciliation.models import RunStatus, StatementFile
from reconciliation.services import runs
from sandboxes import state
from tests.integrations.helpers import new_trade, pay, today_in_beijing, unreachable_url
from tests.reconciliation.conftest import run_of, run_on_statement

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("in_process_runs")]
PARTY = "unionpay"


@pytest.fixture
def sandbox(live_service) -> str:
    state.reset_all()
    return f"{live_service.url}/sandbox"


def settled_payment() -> date:
    """A payment at UnionPay, which only it knows of; the settlement date of its file."""
    channel = get_channel(PARTY)
    trade = new_trade(unreachable_url())
    pay(channel.create_trade(trade).pay_url, notify=False)
    paid = channel.query_trade(trade.out_trade_no, opened_at=trade.opened_at)
    return datetime.strptime(f"{paid.paid_at.year}{paid.raw['settleDate']}", "%Y%m%d").date()


def faults(sandbox: str, **set_to: object) -> None:
    answer = requests.post(f"{sandbox}/_control/faults/{PARTY}", json=set_to, timeout=5)
    assert answer.status_code == 200, answer.content


def test_a_file_cut_short_fails_its_run_and_the_next_run_fetches_it_whole(sandbox):
    settled = settled_payment()
    faults(sandbox, malformed_next_file=True)

    # The day is over: a file fetched now is final, not fetched again as a provisional one.
    with time_machine.travel(datetime.combine(settled + timedelta(days=1), time(1), BEIJING)):
        failed = run_of(PARTY, settled)
        faults(sandbox, down=True)
        while_down = run_of(PARTY, settled)  # the damaged file is not read again meanwhile
        faults(sandbox, down=False)
        again = run_of(PARTY, settled)

    assert (failed.status, failed.step) == (RunStatus.FAILED, "failed")
    assert failed.error.startswith(f"{PARTY} file of {settled}: the file: is not a readable zip")
    assert (while_down.status, while_down.step) == (RunStatus.FAILED, runs.WAITING_FOR_FILE)
    assert again.status == RunStatus.SUCCEEDED, again.error
    assert again.totals["theirs"]["count"] == 1
    kept, whole = StatementFile.objects.filter(party=PARTY).order_by("received_at")
    assert (kept.source, kept.unreadable) == (StatementFile.Source.FETCHED, True)
    assert (whole.source, whole.unreadable) == (StatementFile.Source.FETCHED, False)
    assert again.statement == whole and whole.size > kept.size


def test_an_uploaded_file_that_cannot_be_read_is_not_replaced_by_a_fetch(sandbox):
    day = today_in_beijing() - timedelta(days=2)

    first = run_on_statement(PARTY, day, b"not a zip")
    again = run_of(PARTY, day)

    for failed in (first, again):
        assert (failed.status, failed.step) == (RunStatus.FAILED, "failed")
        assert "is not a readable zip archive" in failed.error
    [uploaded] = StatementFile.objects.filter(party=PARTY, business_date=day)
    assert (uploaded.source, uploaded.unreadable) == (StatementFile.Source.UPLOADED, True)
