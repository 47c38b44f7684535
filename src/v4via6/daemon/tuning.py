"""Process tuning for a daemon that holds a full table: cyclic GC thresholds, glibc malloc."""

from __future__ import annotations

import ctypes
import gc

#: Young-generation threshold of the cyclic GC in the daemon (CPython's default is 700).
GC_YOUNG_THRESHOLD = 200_000


def tune_gc() -> None:
    """Fewer cyclic-GC passes: a full table allocates millions of small acyclic objects
    (attribute tuples, paths), and with the default thresholds collecting them costs about
    a quarter of the receive path. Reference counting frees them anyway; the GC only
    has to find the rare cycles (asyncio internals), which it still does, less often.
    Objects alive at start (imports, config) are moved out of its sight. Each object a
    table keeps (an attribute set and a path per prefix with one path each) is looked at
    once per young and once per middle collection: at 1M one-prefix UPDATEs, 70 + 6
    collections took about 1.0 s with a young threshold of 50,000, 14 + 1 about 0.75 s
    with 200,000 (a young collection then takes some 30 ms)."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


#: glibc mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """glibc: one malloc arena, and a fixed mmap threshold (128 KiB).

    The FIB writer thread would otherwise get an arena of its own, and glibc raises the
    mmap threshold every time a big block is freed, so the large tables a growing
    dict leaves behind stay in the heap instead of going back to the kernel: together
    about 30 MB of a full table's peak RSS. Call before any thread starts; a C library
    without ``mallopt`` (musl) is left alone. Returns whether both settings took."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1)) and bool(mallopt(_M_MMAP_THRESHOLD, 128 * 1024))
