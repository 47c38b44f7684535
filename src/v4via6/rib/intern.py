"""Bounded value interner: equal immutable values share one object.

A million routes that share a hundred attribute sets should hold a hundred
objects. ``Interner.intern(x)`` returns the stored object equal to ``x`` (or
stores ``x``). The table is bounded: when full, the oldest half is forgotten.
Forgetting never breaks correctness (everything compares by value); it only
means a later equal value may become a second copy.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Interner(Generic[T]):
    """Keyed by value; ``max_size`` bounds memory for adversarial inputs."""

    __slots__ = ("_table", "hits", "max_size", "misses")

    def __init__(self, max_size: int = 1_000_000) -> None:
        if max_size < 2:
            raise ValueError(f"max_size: {max_size} is too small; expected at least 2")
        self._table: dict[T, T] = {}
        self.max_size = max_size
        self.hits = 0
        self.misses = 0

    def intern(self, value: T) -> T:
        stored = self._table.get(value)
        if stored is not None:
            self.hits += 1
            return stored
        self.misses += 1
        if len(self._table) >= self.max_size:
            self._evict_oldest_half()
        self._table[value] = value
        return value

    def _evict_oldest_half(self) -> None:
        keep = list(self._table)[len(self._table) // 2 :]
        self._table = {k: k for k in keep}

    def __len__(self) -> int:
        return len(self._table)

    def __contains__(self, value: object) -> bool:
        return value in self._table

    def clear(self) -> None:
        self._table.clear()
