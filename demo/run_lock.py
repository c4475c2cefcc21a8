"""One `manage.py serve` per clone: a second one says that the first is running, and stops.

The lock is an flock on var/run.lock, which the kernel releases when its holder exits,
however it exits: a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def run_lock(path: Path, **facts: object) -> Iterator[None]:
    """Hold the clone's run lock; ``facts`` (the port, say) are shown to a second run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise AlreadyRunning(_refusal(path, handle.read())) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": datetime.now().isoformat(), **facts}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _refusal(path: Path, holder: str) -> str:
    try:
        facts = json.loads(holder)
    except ValueError:
        facts = {}
    described = ", ".join(f"{name} {value}" for name, value in facts.items())
    return (
        f"The service is already running from this clone ({described or path}). "
        "Stop it (Ctrl-C in its terminal) before starting it again; nothing was changed."
    )
