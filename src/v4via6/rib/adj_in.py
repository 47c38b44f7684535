"""Adj-RIB-In: the routes one peer sent us, kept before import policy.

Stored compactly as ``dict[int, PathRef]`` (prefix key -> one shared, interned
path object), so a policy change can be re-run locally without a session reset
(RFC 4271 §3.2; BIRD's "import table"). All changes are bulk: lists of keys and
one path for all of them, as one UPDATE carries them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from v4via6.rib.path import PathRef, PeerInfo


class AdjRibIn:
    """Pre-policy routes of one peer."""

    __slots__ = ("peer", "routes")

    def __init__(self, peer: PeerInfo) -> None:
        self.peer = peer
        self.routes: dict[int, PathRef] = {}

    def announce(self, keys: Iterable[int], path: PathRef) -> None:
        """Store ``path`` for every key (replacing what the peer sent before)."""
        self.routes.update(dict.fromkeys(keys, path))

    def withdraw(self, keys: Iterable[int]) -> list[int]:
        """Forget these keys; return the ones that were present."""
        pop = self.routes.pop
        return [k for k in keys if pop(k, None) is not None]

    def withdraw_paths(self, keys: Iterable[int]) -> tuple[list[int], list[PathRef | None]]:
        """Forget these keys; return the ones that were present and the path each had."""
        pop = self.routes.pop
        gone: list[int] = []
        paths: list[PathRef | None] = []
        for k in keys:
            path = pop(k, None)
            if path is not None:
                gone.append(k)
                paths.append(path)
        return gone, paths

    def withdraw_all(self) -> list[int]:
        """Session lost: forget everything (in place); return the keys that were present."""
        keys = list(self.routes)
        self.routes.clear()
        return keys

    def get(self, key: int) -> PathRef | None:
        return self.routes.get(key)

    def __len__(self) -> int:
        return len(self.routes)

    def __contains__(self, key: object) -> bool:
        return key in self.routes

    def __iter__(self) -> Iterator[int]:
        return iter(self.routes)

    def groups(self) -> dict[PathRef, list[int]]:
        """Keys grouped by their shared path (for re-running policy in bulk)."""
        out: dict[PathRef, list[int]] = {}
        for key, path in self.routes.items():
            bucket = out.get(path)
            if bucket is None:
                out[path] = [key]
            else:
                bucket.append(key)
        return out

    def distinct_paths(self) -> int:
        """How many distinct path objects are stored (interning check)."""
        return len({id(p) for p in self.routes.values()})
