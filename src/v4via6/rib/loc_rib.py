"""Loc-RIB: the best path(s) per prefix, recomputed only for prefixes that changed.

Sources (one per channel) are post-policy ``dict[int, PathRef]`` maps the
channel owns and attaches here. ``update(peer, announced, withdrawn)`` re-runs
the decision process for those keys only and returns the deltas
``(key, old best set, new best set)``; subscribed export channels (peers, the
FIB) receive the same list (read-only for everyone). A best set is a shared
tuple of (PathRef, Resolution) pairs, winner first, then ECMP partners, so a
million prefixes with one best path share one tuple and "unchanged" is an
identity test; pairing the path with its next-hop resolution makes a next hop
moving to another interface a delta like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from v4via6.rib import bestpath
from v4via6.rib.attrs import PathAttrs
from v4via6.rib.intern import Interner
from v4via6.rib.nexthop import NextHopResolver
from v4via6.rib.path import PathRef, PeerInfo, Resolution

#: A chosen path with where its next hop leads (so a resolution change is a change).
BestPath = tuple[PathRef, Resolution]
BestSet = tuple[BestPath, ...]
Change = tuple[int, BestSet | None, BestSet | None]


#: Bound on each per-path cache and interner. Equal values share one object while
#: they are in the table; sharing matters for paths many prefixes use, and those
#: arrive together (one UPDATE, one object). A full table where every prefix has
#: its own path would otherwise keep a second and third reference structure per
#: route (about 150 MB at 1M routes); past the bound, entries are simply forgotten.
CACHE_SIZE = 65_536


class RibSink(Protocol):
    """Something that follows Loc-RIB deltas (an export channel)."""

    def notify(self, changes: Sequence[Change]) -> None: ...


class LocRib:
    """Best paths of one address family."""

    def __init__(
        self,
        resolver: NextHopResolver | None = None,
        *,
        family: int = 4,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.family = family
        self.resolver = resolver or NextHopResolver()
        self.best: dict[int, BestSet] = {}
        self._sources: dict[PeerInfo, Mapping[int, PathRef]] = {}
        self._sinks: list[RibSink] = []
        self._sets: Interner[BestSet] = Interner(cache_size)
        self._by_nexthop: dict[tuple[object, PeerInfo], Resolution | None] = {}
        self._by_nexthop_complete = True  # False once entries were forgotten for size
        self._single: dict[PathRef, BestSet | None] = {}
        self._infos: dict[PathRef, tuple[bestpath.Rank, Resolution | None]] = {}
        self._cache_size = cache_size
        #: Shared by every channel of this table: equal values become one object.
        self.attrs_interner: Interner[PathAttrs] = Interner(cache_size)
        self.path_interner: Interner[PathRef] = Interner(cache_size)

    # --- sources and sinks ------------------------------------------------------

    def attach(self, peer: PeerInfo, routes: Mapping[int, PathRef]) -> None:
        """Register (or replace) a source's post-policy routes. Call update() after."""
        self._sources[peer] = routes

    def detach(self, peer: PeerInfo) -> list[Change]:
        """Remove a source entirely; returns (and publishes) the resulting deltas."""
        routes = self._sources.pop(peer, None)
        if routes is None:
            return []
        return self.update(peer, (), list(routes))

    def subscribe(self, sink: RibSink) -> None:
        self._sinks.append(sink)

    def unsubscribe(self, sink: RibSink) -> None:
        self._sinks = [s for s in self._sinks if s is not sink]

    @property
    def sources(self) -> tuple[PeerInfo, ...]:
        return tuple(self._sources)

    # --- next hops ----------------------------------------------------------------

    def resolution(self, path: PathRef) -> Resolution | None:
        """Next-hop resolution of a path (None: unresolvable).

        Cached per (next hop, peer), since that is all it depends on: paths that
        share a next hop share one Resolution object.
        """
        where = (path.nexthop, path.peer)
        try:
            return self._by_nexthop[where]
        except KeyError:
            pass
        if len(self._by_nexthop) >= self._cache_size:
            self._by_nexthop.clear()
            self._by_nexthop_complete = False
        res = self._by_nexthop[where] = self.resolver.resolve(path)
        return res

    def forget_resolutions(self, peer: PeerInfo) -> None:
        """``peer`` holds no route any more (session lost): drop its next hops from the
        resolution cache, so :meth:`peer_resolutions` of its next session starts empty."""
        gone = [where for where in self._by_nexthop if where[1] is peer or where[1] == peer]
        for where in gone:
            del self._by_nexthop[where]

    def peer_resolutions(self, peer: PeerInfo) -> list[Resolution | None] | None:
        """Where the next hops of ``peer``'s paths lead: every next hop any of its paths
        used since the resolutions were last recomputed (a superset of what its routes
        use now), without looking at a single route. None when some were forgotten for
        size; the caller must then scan the routes."""
        if not self._by_nexthop_complete:
            return None
        return [res for (_nh, src), res in self._by_nexthop.items() if src is peer or src == peer]

    def refresh_nexthops(self) -> list[Change]:
        """Next-hop reachability changed: forget resolutions, recompute every prefix."""
        self._single.clear()
        self._infos.clear()
        self._by_nexthop.clear()
        self._by_nexthop_complete = True  # every path is resolved again just below
        keys: set[int] = set(self.best)
        for routes in self._sources.values():
            keys.update(routes)
        return self.update(None, keys, ())

    def _single_set(self, path: PathRef) -> BestSet | None:
        single = self._single
        try:
            return single[path]
        except KeyError:
            pass
        if len(single) >= self._cache_size:
            single.clear()
        res = self.resolution(path)
        value = single[path] = ((path, res),) if res is not None else None
        return value

    # --- the decision -------------------------------------------------------------

    def update(
        self,
        peer: PeerInfo | None,
        announced: Iterable[int],
        withdrawn: Iterable[int],
    ) -> list[Change]:
        """Re-run best path for these keys (after the source map changed); publish deltas."""
        changes = self._recompute(announced) + self._recompute(withdrawn)
        if changes:
            for sink in self._sinks:
                sink.notify(changes)
        return changes

    def _sole_source(self, peer: PeerInfo) -> bool:
        """Whether ``peer`` is attached and no other source holds routes (then a key's
        best set is just its path's, with no decision to make)."""
        return peer in self._sources and not any(
            routes for other, routes in self._sources.items() if other is not peer)

    def update_uniform(self, peer: PeerInfo, keys: Sequence[int], path: PathRef | None) -> list[Change]:
        """Like ``update`` when every key of ``peer``'s source now maps to ``path``
        (None: removed). When no other source holds routes this runs at C speed;
        otherwise it is ``update``."""
        if not self._sole_source(peer):
            return self.update(peer, keys, ())
        new = None if path is None else self._single_set(path)
        best = self.best
        changes: list[Change]
        if new is None:
            pop = best.pop
            olds = [pop(k, None) for k in keys]
            changes = [(k, o, None) for k, o in zip(keys, olds, strict=True) if o is not None]
        else:
            fresh = dict.fromkeys(keys, new)
            if len(fresh) != len(keys):  # a key listed twice: report it once
                keys = list(fresh)
            olds = list(map(best.get, keys))
            best.update(fresh)
            changes = [(k, o, new) for k, o in zip(keys, olds, strict=True) if o is not new]
        if changes:
            for sink in self._sinks:
                sink.notify(changes)
        return changes

    def update_pairs(self, peer: PeerInfo, keys: Sequence[int], paths: Sequence[PathRef]) -> list[Change]:
        """Like ``update`` after ``peer``'s source got ``keys[i] -> paths[i]`` (in this order);
        when no other source holds routes each key's best set is its path's, no lookup."""
        if not self._sole_source(peer):
            return self.update(peer, keys, ())
        best = self.best
        get = best.get
        single = self._single_set
        changes: list[Change] = []
        append = changes.append
        last_path: PathRef | None = None
        new: BestSet | None = None
        for key, path in zip(keys, paths, strict=True):
            if path is not last_path:
                last_path, new = path, single(path)
            old = get(key)
            if old is new:
                continue
            if new is None:
                if old is None:
                    continue
                del best[key]
            else:
                best[key] = new
            append((key, old, new))
        if changes:
            for sink in self._sinks:
                sink.notify(changes)
        return changes

    def _recompute(self, keys: Iterable[int]) -> list[Change]:
        best = self.best
        changes: list[Change] = []
        append = changes.append
        sources = [routes for routes in self._sources.values() if routes]
        if len(sources) <= 1:
            routes = sources[0] if sources else {}
            last_path: PathRef | None = None
            last_set: BestSet | None = None
            for k in keys:
                path = routes.get(k)
                if path is None:
                    new = None
                elif path is last_path:
                    new = last_set
                else:
                    new = last_set = self._single_set(path)
                    last_path = path
                old = best.get(k)
                if old is new:
                    continue
                if new is None:
                    del best[k]
                else:
                    best[k] = new
                append((k, old, new))
            return changes
        for k in keys:
            new = self._decide_key(k, sources)
            old = best.get(k)
            if old is new or old == new:
                continue
            if new is None:
                del best[k]
            else:
                best[k] = new
            append((k, old, new))
        return changes

    def _info(self, path: PathRef) -> tuple[bestpath.Rank, Resolution | None]:
        infos = self._infos
        try:
            return infos[path]
        except KeyError:
            pass
        if len(infos) >= self._cache_size:
            infos.clear()
        info = infos[path] = (bestpath.rank(path), self.resolution(path))
        return info

    def _decide_key(self, key: int, sources: list[Mapping[int, PathRef]]) -> BestSet | None:
        paths = [p for routes in sources if (p := routes.get(key)) is not None]
        if not paths:
            return None
        if len(paths) == 1:
            return self._single_set(paths[0])
        # Steps 1-4 from cached ranks; most prefixes are decided here.
        info = self._info
        top: list[PathRef] = []
        top_rank: bestpath.Rank | None = None
        for p in paths:
            rank, res = info(p)
            if res is None:
                continue
            if top_rank is None or rank < top_rank:
                top_rank, top = rank, [p]
            elif rank == top_rank:
                top.append(p)
        if len(top) <= 1:
            return self._single_set(top[0]) if top else None
        chosen = bestpath.select((p, self.resolution(p)) for p in top)
        if not chosen:
            return None
        if len(chosen) == 1:
            return self._single_set(chosen[0][0])
        return self._sets.intern(chosen)

    # --- queries --------------------------------------------------------------------

    def candidates(self, key: int) -> list[PathRef]:
        """Every post-policy path for this prefix, from all sources."""
        return [p for routes in self._sources.values() if (p := routes.get(key)) is not None]

    def explain(self, key: int) -> bestpath.Decision:
        """The decision for one prefix with reasons (for ``show routes``)."""
        return bestpath.explain((p, self.resolution(p)) for p in self.candidates(key))

    def get(self, key: int) -> BestSet | None:
        return self.best.get(key)

    def winner(self, key: int) -> PathRef | None:
        """The best path (first of an ECMP group), or None."""
        found = self.best.get(key)
        return found[0][0] if found else None

    def __len__(self) -> int:
        return len(self.best)

    def distinct_best_sets(self) -> int:
        return len({id(s) for s in self.best.values()})
