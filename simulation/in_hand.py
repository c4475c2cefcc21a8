"""Which tasks of a run the Celery workers hold right now, for the simulator to wait on
before it moves the clock: a task in hand across a jump of hours would meet a peer whose
clock moved on (a signature hours old), and wait an hour for its retry.

A worker process with SIMULATED_TASKS_DIR set marks each task it runs with a file
``<pid>-<task id>`` there, from just before the task starts until it ends. A marker whose
process is gone (a worker killed with its task in hand) no longer counts.
"""

import os
from pathlib import Path

TASKS_ENV = "SIMULATED_TASKS_DIR"


def tasks_marked_from_env() -> None:
    """Mark this process's tasks if SIMULATED_TASKS_DIR names where."""
    directory = os.environ.get(TASKS_ENV)
    if not directory:
        return
    from celery.signals import task_postrun, task_prerun

    def marker(task_id: str) -> Path:
        return Path(directory) / f"{os.getpid()}-{task_id}"

    def started(task_id: str, **_) -> None:
        marker(task_id).touch()

    def ended(task_id: str, **_) -> None:
        marker(task_id).unlink(missing_ok=True)

    task_prerun.connect(started, weak=False)
    task_postrun.connect(ended, weak=False)


def tasks_in_hand(directory: Path) -> int:
    return sum(1 for marker in directory.iterdir() if _alive(int(marker.name.split("-")[0])))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
