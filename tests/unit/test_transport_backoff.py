"""Backoff grows exponentially, caps, jitters within bounds and resets."""

from __future__ import annotations

import random

import pytest

from v4via6.transport.backoff import Backoff


def test_without_jitter_doubles_then_caps() -> None:
    b = Backoff(initial=1.0, maximum=10.0, jitter=0.0)
    assert [b.next_delay() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    b.reset()
    assert b.next_delay() == 1.0


def test_jitter_stays_within_bounds_and_varies() -> None:
    b = Backoff(initial=1.0, maximum=8.0, jitter=0.25, rng=random.Random(42))
    delays = [b.next_delay() for _ in range(50)]
    for i, d in enumerate(delays):
        base = min(2.0**i, 8.0)
        assert base * 0.75 <= d <= base * 1.25
    assert len({round(d, 6) for d in delays[10:]}) > 1  # not lockstep once capped


def test_huge_attempt_counts_do_not_overflow() -> None:
    b = Backoff(initial=0.5, maximum=30.0, jitter=0.0)
    assert b.base_delay(10_000) == 30.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0.0}, {"initial": 5.0, "maximum": 1.0}, {"factor": 0.5}, {"jitter": 1.0}],
)
def test_invalid_parameters_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**kwargs)  # type: ignore[arg-type]
