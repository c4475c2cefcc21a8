"""Memory a run frees, reused while it goes on and handed back once it is done.

Arrow allocates from the C library's heap, as numpy and pandas do (``use_the_c_heap``, when
the app is ready): with Arrow's own pool (mimalloc), what Arrow freed stayed in that pool
while numpy asked the system for more, and matching ten million revenue records peaked
1 GB higher. glibc hands a freed block of more than 32 MB straight back to the system; what
smaller blocks leave in its heap, ``release_freed`` gives back after a run of a million rows,
hundreds of MB that the next run, or the rest of a worker's life, would carry on top of its
own.
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


def use_the_c_heap() -> None:
    pa.set_memory_pool(pa.system_memory_pool())


def release_freed() -> None:
    pa.default_memory_pool().release_unused()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
