"""Process tuning: GC thresholds and glibc malloc settings (run in a child process,
so the test runner's own allocator and GC stay as they are)."""

from __future__ import annotations

import subprocess
import sys

from v4via6.daemon.supervisor import _slices
from v4via6.fib.backend import OpKind


def run_child(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()


def test_tune_gc_raises_the_young_threshold() -> None:
    out = run_child("import gc; from v4via6.daemon.tuning import tune_gc, GC_YOUNG_THRESHOLD as T; "
                    "tune_gc(); print(gc.get_threshold()[0] == T, gc.get_freeze_count() > 0)")
    assert out == "True True"


def test_tune_malloc_takes_on_glibc() -> None:
    import platform

    took = run_child("from v4via6.daemon.tuning import tune_malloc; print(tune_malloc())")
    libc, _version = platform.libc_ver()
    assert took == ("True" if libc == "glibc" else "False")


def test_slices_come_one_piece_at_a_time() -> None:
    hops = ("h",)
    runs = [(OpKind.REPLACE, hops, list(range(7))), (OpKind.DELETE, hops, [10, 11])]
    pieces = _slices(runs, 3)
    assert iter(pieces) is pieces  # a generator, not a list of every piece
    got = list(pieces)
    assert [[(k, list(ks)) for k, _h, ks in p] for p in got] == [
        [(OpKind.REPLACE, [0, 1, 2])], [(OpKind.REPLACE, [3, 4, 5])],
        [(OpKind.REPLACE, [6]), (OpKind.DELETE, [10, 11])],
    ]
