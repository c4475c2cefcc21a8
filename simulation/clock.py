"""One simulated wall clock for every process of the service (docs/simulation.md, "Time").

The simulator sets the clock by writing a small JSON file, whose path every process finds
in SIMULATED_CLOCK_FILE: {"at": simulated moment (ISO, UTC), "set_at": real epoch seconds
when it was written}. Between two settings the clock runs at real speed, so the time now
is ``at + (real now - set_at)`` in every process alike.

A process with SIMULATED_CLOCK_FILE set installs the clock as Django starts
(core/apps.py): time-machine moves time.time(), datetime.now(), date.today() and the
rest to the file's clock, and a watcher thread moves them again each time the file
changes. A forked child (a gunicorn worker, a Celery pool process) gets a watcher of its
own. time.monotonic() and time.sleep() stay real.
"""

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import time_machine

CLOCK_ENV = "SIMULATED_CLOCK_FILE"
# How often each process looks at the file.
POLL_SECONDS = 0.01
# How long clock_set waits for the other processes to move: ten looks at the file. A
# process whose watcher thread gets the CPU once in that time has moved; one starved for
# longer (a machine far beyond its cores) would still show the old clock for a moment.
SETTLE_SECONDS = 10 * POLL_SECONDS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_traveller: time_machine.Traveller | None = None
# Two moves at once (clock_set and the watcher) would each shift the clock by the same error.
_moving = threading.Lock()


def clock_install_from_env() -> None:
    """Run this process on the simulated clock if SIMULATED_CLOCK_FILE names one."""
    path = os.environ.get(CLOCK_ENV)
    if path:
        _install(Path(path))


def clock_set(moment: datetime) -> None:
    """Set every process's clock to ``moment``, from which it runs on at real speed.

    Writes the file (atomically: the readers never see half of it), moves this process
    at once, then waits SETTLE_SECONDS for the other processes' watchers to move theirs.
    """
    if moment.tzinfo is None:
        raise ValueError("the simulated moment must be timezone-aware")
    path = Path(os.environ[CLOCK_ENV])
    state = {"at": moment.astimezone(UTC).isoformat(), "set_at": _real_ns() / 1e9}
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_text(json.dumps(state))
    os.replace(temporary, path)
    _install(path)
    _move(path)
    time.sleep(SETTLE_SECONDS)


def _install(path: Path) -> None:
    global _traveller
    if _traveller is not None:
        return
    # A timestamp, not a datetime: time-machine would set the process's TZ to a datetime's
    # zone, and local time (Asia/Shanghai, from the settings) would become UTC.
    _traveller = time_machine.travel(_file_now_ns(path) / 1e9, tick=True).start()
    _move(path)  # exact now, however long reading the file and starting took
    _start_watcher(path)

    def after_fork_in_child() -> None:
        # The child's only thread is the one that forked: the parent's watcher is not there.
        _moving.release()
        _start_watcher(path)

    # No fork while a move is half done.
    os.register_at_fork(
        before=_moving.acquire, after_in_parent=_moving.release, after_in_child=after_fork_in_child
    )


def _start_watcher(path: Path) -> None:
    threading.Thread(target=_watch, args=(path,), name="simulated-clock", daemon=True).start()


def _watch(path: Path) -> None:
    seen = None
    while True:
        try:
            stat = path.stat()
            # Each setting is a new file (os.replace): another inode or modification time.
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if version != seen:
                _move(path)
                seen = version
        except FileNotFoundError:  # the simulation is over: the clock runs on as it was
            pass
        time.sleep(POLL_SECONDS)


def _move(path: Path) -> None:
    """Shift this process's clock to the file's. A shift, because time-machine's move_to
    restarts its tick: a thread reading the clock meanwhile could see a moment hours off."""
    with _moving:
        error_ns = _file_now_ns(path) - time.time_ns()
        _traveller.shift(timedelta(microseconds=error_ns // 1000))


def _file_now_ns(path: Path) -> int:
    state = json.loads(path.read_text())
    at_ns = (datetime.fromisoformat(state["at"]) - _EPOCH) // timedelta(microseconds=1) * 1000
    return at_ns + _real_ns() - round(state["set_at"] * 1e9)


def _real_ns() -> int:
    if time_machine.escape_hatch.is_travelling():
        return time_machine.escape_hatch.time.time_ns()
    return time.time_ns()
