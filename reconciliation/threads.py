"""Work a run hands to a thread of its own, to overlap with what it does meanwhile.

Only work that needs no Django connection goes there (connections are per thread): writes
over a connection of the work's own. Arrow's kernels and the ADBC driver let go of the
GIL, so the two threads use both cores.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def in_thread(function: Callable[..., T], *args: object) -> Future[T]:
    """``function(*args)`` started in a new thread; the future gives its result or raises
    its exception."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconciliation")
    started = pool.submit(function, *args)
    pool.shutdown(wait=False)
    return started
