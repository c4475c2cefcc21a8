"""A sandbox's records survive a restart, and a reset forgets them, journal and all."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pytest

from sandboxes import state


@dataclass
class Trade:
    out_trade_no: str
    amount: int
    status: str


def trades() -> state.Store[Trade]:
    return state.Store("trades", encode=asdict, decode=lambda record: Trade(**record))


@pytest.fixture
def state_dir(settings, tmp_path):
    settings.SANDBOX_STATE_DIR = tmp_path
    return tmp_path


def test_a_restarted_sandbox_knows_its_open_trades_as_last_stored(state_dir):
    before = trades()
    before["T1"] = Trade("T1", 1200, "open")
    before["T2"] = Trade("T2", 500, "open")
    paid = before["T1"]
    paid.status = "paid"
    before["T1"] = paid
    del before["T2"]

    after = trades()  # a new process reads the journal

    assert dict(after) == {"T1": Trade("T1", 1200, "paid")}


def test_a_reset_forgets_the_records_and_their_journal(state_dir):
    store = trades()
    store["T1"] = Trade("T1", 1200, "open")

    state.reset_all()

    assert len(store) == 0
    assert len(trades()) == 0
    assert not (state_dir / "trades.jsonl").exists()


def test_without_a_state_folder_nothing_is_written(settings, tmp_path):
    settings.SANDBOX_STATE_DIR = None
    store = trades()
    store["T1"] = Trade("T1", 1200, "open")

    assert store["T1"].amount == 1200
    assert list(tmp_path.iterdir()) == []
