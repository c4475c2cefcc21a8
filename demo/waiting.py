"""Waiting for what happens elsewhere: a channel's notification, a worker's task, a push.

In the embedded run tasks execute in-process; with a Celery worker they run later, in
another process. Either way the day goes on only once the database shows the outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE_SECONDS = 90.0
POLL_SECONDS = 0.1


class DemoStuck(RuntimeError):
    """Something the demo day waits for did not happen in time."""


def wait_until(check: Callable[[], bool], *, what: str, seconds: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise DemoStuck(f"gave up waiting for {what} after {seconds:.0f} s")
        time.sleep(POLL_SECONDS)
