"""The simulator's check that no payer's name, phone or ID number reached a log."""

from __future__ import annotations

from simulation.invariants import Truth, no_personal_data_in_logs

PHONE = "13800000569"
ID_NUMBER = "33010619010314123X"


def check(tmp_path, line: str):
    log = tmp_path / "worker.log"
    log.write_text(f"{line}\n", encoding="utf-8")
    truth = Truth()
    truth.personal_data.update({"模拟申请人0042", PHONE, ID_NUMBER})
    return no_personal_data_in_logs(truth, [log])


def test_a_phone_id_number_or_name_in_a_log_line_breaks_it(tmp_path):
    for leaked in (
        f'{{"event": "sms to {PHONE} sent"}}',
        f'"payer": "{ID_NUMBER}"',
        "payer 模拟申请人0042 paid",
    ):
        assert not check(tmp_path, leaked).held, leaked


def test_a_phones_digits_inside_a_longer_number_are_not_that_phone(tmp_path):
    timing = f'"event": "Task outbox.tasks.deliver succeeded in 0.0217541{PHONE}6s: None"'

    assert check(tmp_path, timing).held
