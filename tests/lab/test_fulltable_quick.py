"""CI smoke test of the full-table bench: 100,000 prefixes from BIRD into v4via6 and back out.

Runs ``bench/fulltable.py``'s own code (``run_bench``) in namespaces of its own
(``v4v6-ftq-*``, so a bench run on the same machine does not collide) with one
receiver, v4via6. It asserts only that every route arrives in the kernel and
leaves again (after a NOTIFICATION and after the hold timer fires), with the
session never dropping during the load — not a speed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from interop_peers import BIRD, BIRDC, need

from v4via6.lab import netns

pytestmark = [pytest.mark.lab, pytest.mark.interop, pytest.mark.timeout(300)]

BENCH = Path(__file__).resolve().parents[2] / "bench"
N = 100_000


@pytest.fixture
def fulltable(monkeypatch: pytest.MonkeyPatch) -> object:
    need(BIRD, BIRDC)
    monkeypatch.syspath_prepend(str(BENCH))
    import fulltable as module

    monkeypatch.setattr(module, "NS_S", "v4v6-ftq-s")
    monkeypatch.setattr(module, "NS_R", "v4v6-ftq-r")
    yield module
    sys.modules.pop("fulltable", None)
    for ns in ("v4v6-ftq-s", "v4v6-ftq-r"):
        assert not netns.namespace_exists(ns), f"{ns} left behind"


def test_quick_full_table_arrives_and_leaves(fulltable: object) -> None:
    run_bench = fulltable.run_bench  # type: ignore[attr-defined]
    lines: list[str] = []
    samples = run_bench(N, 1, ["packed"], ["v4via6"], log=lines.append)
    assert len(samples) == 1, lines
    sample = samples[0]
    # run_bench raises unless all N routes reached the kernel FIB and then left it
    # (after a NOTIFICATION and after the hold timer fired); here: the figures are sane
    assert sample.n == N
    assert sample.load_s > 0 and sample.down_notify_s > 0 and sample.down_freeze_s > 0
    assert sample.session_drops == 0, lines
    assert sample.decode_rate is not None and sample.decode_rate > 0


def test_quick_one_prefix_per_update_arrives_and_leaves(fulltable: object) -> None:
    """BIRD's `unique` mode (one prefix and AS path per UPDATE) takes the UPDATE fast path
    with known message layouts: every route must arrive with the session up, and leave."""
    run_bench = fulltable.run_bench  # type: ignore[attr-defined]
    lines: list[str] = []
    samples = run_bench(20_000, 1, ["unique"], ["v4via6"], log=lines.append)
    assert len(samples) == 1, lines
    sample = samples[0]
    assert sample.n == 20_000 and sample.session_drops == 0, lines
    assert sample.load_s > 0 and sample.down_notify_s > 0 and sample.down_freeze_s > 0
