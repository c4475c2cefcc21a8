"""The simulator counts the tasks the workers hold, but not those of a process gone."""

from __future__ import annotations

import os
import subprocess
import sys

from simulation.in_hand import tasks_in_hand


def test_a_task_counts_while_its_process_lives(tmp_path):
    gone = subprocess.run(  # noqa: S603 (our interpreter, our arguments)
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    (tmp_path / f"{os.getpid()}-held").touch()
    (tmp_path / f"{gone.stdout.strip()}-killed-with-its-task").touch()

    assert tasks_in_hand(tmp_path) == 1
    (tmp_path / f"{os.getpid()}-held").unlink()
    assert tasks_in_hand(tmp_path) == 0
