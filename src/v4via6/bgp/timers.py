"""Session timers as plain deadlines: no clock, the caller passes ``now``.

A timer is a name and an absolute deadline in the caller's time base (any
monotonic float seconds, e.g. ``loop.time()``). :meth:`Timers.pop_due` pops
the earliest timer whose deadline has passed, so the session can turn each one
into an FSM event (which may start or stop other timers) before the next.
"""

from __future__ import annotations

import enum


class Timer(enum.Enum):
    """The RFC 4271 §8 timers the session runs (IdleHold drives automatic restart)."""

    CONNECT_RETRY = "ConnectRetryTimer"
    HOLD = "HoldTimer"
    KEEPALIVE = "KeepaliveTimer"
    IDLE_HOLD = "IdleHoldTimer"


class Timers:
    """A set of named one-shot deadlines."""

    __slots__ = ("_deadlines",)

    def __init__(self) -> None:
        self._deadlines: dict[Timer, float] = {}

    def start(self, timer: Timer, now: float, seconds: float) -> None:
        """(Re)start ``timer`` to fire ``seconds`` after ``now``."""
        self._deadlines[timer] = now + seconds

    def stop(self, timer: Timer) -> None:
        self._deadlines.pop(timer, None)

    def stop_all(self, keep: frozenset[Timer] = frozenset()) -> None:
        for timer in list(self._deadlines):
            if timer not in keep:
                del self._deadlines[timer]

    def running(self, timer: Timer) -> bool:
        return timer in self._deadlines

    def deadline(self, timer: Timer) -> float | None:
        return self._deadlines.get(timer)

    def next_deadline(self) -> float | None:
        """The earliest deadline, or None when no timer runs."""
        return min(self._deadlines.values(), default=None)

    def pop_due(self, now: float) -> Timer | None:
        """Remove and return the earliest timer due at ``now`` (None if none is)."""
        due = [(d, t.value, t) for t, d in self._deadlines.items() if d <= now]
        if not due:
            return None
        _, _, timer = min(due)
        del self._deadlines[timer]
        return timer
