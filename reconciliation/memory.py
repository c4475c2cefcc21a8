"""Memory a run freed, handed back to the system once the run is done.

Arrow's pool (mimalloc or jemalloc) and glibc's malloc keep freed memory for reuse; after
a run of a million rows that is hundreds of MB that the next run, or the rest of a worker's
life, would carry on top of its own. Both give it back on request.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import pyarrow as pa


def _malloc_trim():
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    library = ctypes.CDLL(name) if name else None
    return getattr(library, "malloc_trim", None)


_MALLOC_TRIM = _malloc_trim()


def release_freed() -> None:
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
