"""Exponential backoff with cap and jitter for reconnect attempts (pure, seedable).

``Backoff.next_delay()`` returns ``initial * factor**n`` capped at ``maximum``
and spread by ±``jitter`` (a fraction), so routers restarted together do not
retry in lockstep. ``reset()`` after a connection that worked.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay generator: 1 s, 2 s, 4 s, ... up to ``maximum``, each ±``jitter``."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got {self.initial} and {self.maximum}")
        if self.factor < 1.0:
            raise ValueError(f"backoff factor must be >= 1, got {self.factor}")
        if not 0.0 <= self.jitter < 1.0:
            raise ValueError(f"backoff jitter must be in [0, 1), got {self.jitter}")

    def base_delay(self, attempt: int) -> float:
        """Delay before jitter for the ``attempt``-th retry (0-based), capped."""
        # Stop multiplying once past the cap so huge attempt counts cannot overflow.
        delay = self.initial
        for _ in range(attempt):
            delay *= self.factor
            if delay >= self.maximum:
                return self.maximum
        return min(delay, self.maximum)

    def next_delay(self) -> float:
        """Delay before the next attempt; advances the attempt counter."""
        base = self.base_delay(self.attempts)
        self.attempts += 1
        if self.jitter:
            base *= 1.0 + self.rng.uniform(-self.jitter, self.jitter)
        return min(base, self.maximum * (1.0 + self.jitter))

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self.attempts = 0
