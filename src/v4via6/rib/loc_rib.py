"""Loc-RIB: the best path(s) per prefix, recomputed only for prefixes that changed.

Sources (one per channel) are post-policy ``dict[int, PathRef]`` maps the
channel owns and attaches here. After changing its map a channel calls
``update_pairs`` / ``update_uniform`` (with the paths the keys had before) or
``update``; the Loc-RIB re-runs the decision for those keys only and returns
the deltas ``(key, old best set, new best set)``; subscribed export channels
(peers, the FIB) receive the same list (read-only for everyone). A best set is
a tuple of (PathRef, Resolution) pairs, winner first, then ECMP partners;
pairing the path with its next-hop resolution makes a next hop moving to
another interface a delta like any other.

Storage: a prefix that only one source holds has no decision to make, its best
set is its path's. So the Loc-RIB stores nothing for it: the biggest source is
*dominant* and a prefix only it holds reads its best set straight from that
source's map; only prefixes some other source also holds ("contested") get an
entry of their own. A full table from one peer (plus a few statics) costs no
per-prefix memory here. When another source grows past twice the dominant one
the Loc-RIB rebases onto it (one pass over the smaller sources).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping, Sequence, ValuesView
from typing import Protocol

from v4via6.rib import bestpath
from v4via6.rib.attrs import PathAttrs
from v4via6.rib.intern import Interner
from v4via6.rib.nexthop import NextHopResolver
from v4via6.rib.path import PathNextHop, PathRef, PeerInfo, Resolution

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

#: A source becomes dominant once it holds this many more prefixes than twice the
#: current dominant one (hysteresis: two sources of similar size do not flip-flop).
REBASE_MIN = 1024

_UNSET = object()


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
        rebase_min: int = REBASE_MIN,
    ) -> None:
        self.family = family
        self.resolver = resolver or NextHopResolver()
        self._sources: dict[PeerInfo, Mapping[int, PathRef]] = {}
        self._sinks: list[RibSink] = []
        self._sets: Interner[BestSet] = Interner(cache_size)
        self._by_nexthop: dict[tuple[PathNextHop, PeerInfo], Resolution | None] = {}
        self._by_nexthop_complete = True  # False once entries were forgotten for size
        self._single: dict[PathRef, BestSet | None] = {}
        self._infos: dict[PathRef, tuple[bestpath.Rank, Resolution | None]] = {}
        self._cache_size = cache_size
        self._rebase_min = rebase_min
        #: The dominant source and its map: a key only it holds has its path's best set.
        self._dom: PeerInfo | None = None
        self._dom_routes: Mapping[int, PathRef] = {}
        #: Best set of every key another source holds too (None: no usable path).
        self._explicit: dict[int, BestSet | None] = {}
        self._count = 0
        self._pinned = False  # True: never rebase (next-hop cache overflowed)
        self._storing = False  # will_change running from resolution(): cache may grow
        #: Shared by every channel of this table: equal values become one object.
        self.attrs_interner: Interner[PathAttrs] = Interner(cache_size)
        self.path_interner: Interner[PathRef] = Interner(cache_size)

    @property
    def best(self) -> BestView:
        """Read-only mapping key -> best set (only keys with a usable path)."""
        return BestView(self)

    # --- sources and sinks ------------------------------------------------------

    def attach(self, peer: PeerInfo, routes: Mapping[int, PathRef]) -> None:
        """Register (or replace) a source's post-policy routes. Call update() after.

        Replacing the dominant source's map: call :meth:`will_change` first."""
        if self._dom is not None and peer == self._dom and routes is not self._dom_routes:
            raise RuntimeError(f"Loc-RIB: call will_change({peer.name!r}) before replacing its routes")
        self._sources[peer] = routes

    def detach(self, peer: PeerInfo) -> list[Change]:
        """Remove a source entirely; returns (and publishes) the resulting deltas."""
        if peer not in self._sources:
            return []
        self.will_change(peer)
        routes = self._sources.pop(peer)
        return self.update(peer, (), list(routes))

    def will_change(self, peer: PeerInfo | None) -> None:
        """``peer``'s map is about to change other than through ``update_pairs`` /
        ``update_uniform`` (e.g. a new import policy): if it is dominant, every best
        set becomes an entry of its own first, so the next ``update`` knows the old
        values. The Loc-RIB rebases again after that update (one pass)."""
        if self._dom is None or (peer is not None and peer != self._dom):
            return
        self._explicit = dict(self._items())
        self._dom, self._dom_routes = None, {}

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
        if len(self._by_nexthop) >= self._cache_size and not self._storing:
            # A best set read from the dominant map must resolve the same way every
            # time: store them all before forgetting how (only with absurdly many
            # next hops; storage stays explicit until refresh_nexthops).
            self._storing = True
            try:
                self.will_change(None)
            finally:
                self._storing = False
            self._pinned = True
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
        # The per-path caches would answer its next session's equal paths without
        # resolving them again, so peer_resolutions would miss their next hops.
        for cache in (self._single, self._infos):
            for path in [p for p in cache if p.peer is peer or p.peer == peer]:
                del cache[path]

    def peer_resolutions(self, peer: PeerInfo) -> list[Resolution | None] | None:
        """Where the next hops of ``peer``'s paths lead: every next hop any of its paths
        used since the resolutions were last recomputed (a superset of what its routes
        use now), without looking at a single route. None when some were forgotten for
        size; the caller must then scan the routes."""
        if not self._by_nexthop_complete:
            return None
        return [res for (_nh, src), res in self._by_nexthop.items() if src is peer or src == peer]

    def recheck_nexthops(self) -> list[Change]:
        """What the resolver looks at (the host's addresses and IPv6 routes) was read
        again: if a next hop in the resolution cache now resolves differently (a global
        next hop became reachable or unreachable, or moved to another interface or
        cost), recompute every prefix (:meth:`refresh_nexthops`); else nothing. The
        check costs one resolution per distinct (next hop, peer), not per route."""
        resolve = self.resolver.resolve_nexthop
        for (nexthop, peer), res in list(self._by_nexthop.items()):
            if resolve(nexthop, peer) != res:
                return self.refresh_nexthops()
        return []

    def refresh_nexthops(self) -> list[Change]:
        """Next-hop reachability changed: forget resolutions, recompute every prefix."""
        self.will_change(None)  # old best sets, resolved the old way
        self._single.clear()
        self._infos.clear()
        self._by_nexthop.clear()
        self._by_nexthop_complete = True  # every path is resolved again just below
        self._pinned = False
        keys: set[int] = set(self._explicit)
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
        """Re-run best path for these keys after ``peer``'s map changed (None: after
        resolutions changed); publish the deltas. Not for the dominant source's own
        changes (see :meth:`will_change`)."""
        if self._dom is not None and peer is not None and peer == self._dom:
            raise RuntimeError(f"Loc-RIB: call will_change({peer.name!r}) before changing its routes")
        changes = self._contest(announced)
        changes += self._contest(withdrawn)
        return self._publish(changes)

    def update_uniform(
        self,
        peer: PeerInfo,
        keys: Sequence[int],
        path: PathRef | None,
        olds: Sequence[PathRef | None],
    ) -> list[Change]:
        """Like ``update`` after every key of ``peer``'s map was set to ``path`` (None:
        removed); ``olds[i]``: the path ``keys[i]`` had in that map before (None: none).
        An announced key listed twice counts once (its first old path); withdrawn keys
        must be distinct (they come from popping a map)."""
        if path is not None and len(set(keys)) != len(keys):
            first: dict[int, PathRef | None] = {}
            for key, old_path in zip(keys, olds, strict=True):
                first.setdefault(key, old_path)
            keys, olds = list(first), list(first.values())
        return self.update_pairs(peer, keys, [path] * len(keys), olds)

    def update_pairs(
        self,
        peer: PeerInfo,
        keys: Sequence[int],
        paths: Sequence[PathRef | None],
        olds: Sequence[PathRef | None],
    ) -> list[Change]:
        """Like ``update`` after ``peer``'s map got ``keys[i] -> paths[i]`` (None: removed)
        in this order; ``olds[i]`` is what ``keys[i]`` had just before that step. For
        the dominant source a key nobody else holds needs no lookup at all."""
        if self._dom is None or peer != self._dom:
            return self._publish(self._contest(keys))
        # A path's best set is ((path, resolution),); consecutive paths mostly share a
        # next hop (one session), so the resolution is looked up when it changes only,
        # and a path seen once (a table where every prefix has its own) is not cached.
        resolution = self.resolution
        explicit = self._explicit
        contested: list[int] = []
        changes: list[Change] = []
        append = changes.append
        last_new_path: PathRef | None = None
        last_old_path: PathRef | None = None
        new: BestSet | None = None
        old: BestSet | None = None
        last_nh: object = _UNSET
        last_peer: object = _UNSET
        res: Resolution | None = None

        delta = 0  # keys gained minus keys lost, counted here rather than in _publish
        for key, path, old_path in zip(keys, paths, olds, strict=True):
            if path is old_path:
                continue
            if key in explicit:
                contested.append(key)
                continue
            if path is not last_new_path:  # its best set, ((path, resolution),)
                last_new_path = path
                if path is None:
                    new = None
                else:
                    if path.nexthop is not last_nh or path.peer is not last_peer:
                        last_nh, last_peer, res = path.nexthop, path.peer, resolution(path)
                    new = None if res is None else ((path, res),)
            if old_path is not last_old_path:
                last_old_path = old_path
                if old_path is None:
                    old = None
                else:
                    if old_path.nexthop is not last_nh or old_path.peer is not last_peer:
                        last_nh, last_peer, res = old_path.nexthop, old_path.peer, resolution(old_path)
                    old = None if res is None else ((old_path, res),)
            if old is not new:
                append((key, old, new))
                if old is None:
                    delta += 1
                elif new is None:
                    delta -= 1
        counted = len(changes)
        if contested:
            changes += self._contest(contested)
        return self._publish(changes, counted, delta)

    def _publish(self, changes: list[Change], counted: int = 0, delta: int = 0) -> list[Change]:
        """Count and hand out ``changes``; the first ``counted`` are counted already
        (they add ``delta`` keys)."""
        if changes:
            count = self._count + delta
            for _key, old, new in changes[counted:] if counted else changes:
                if old is None:
                    count += 1
                elif new is None:
                    count -= 1
            self._count = count
            for sink in self._sinks:
                sink.notify(changes)
        self._maybe_rebase()
        return changes

    def _contest(self, keys: Iterable[int]) -> list[Change]:
        """Recompute keys against every source; keys another source than the dominant
        one holds keep an entry, the others go back to reading the dominant map."""
        dom = self._dom
        dom_routes = self._dom_routes
        explicit = self._explicit
        everyone = [routes for routes in self._sources.values() if routes]
        others = [routes for p, routes in self._sources.items() if routes and (dom is None or p != dom)]
        single = self._single_set
        changes: list[Change] = []
        append = changes.append
        for k in keys:
            if k in explicit:
                old = explicit[k]
            else:
                held = dom_routes.get(k)
                old = None if held is None else single(held)
            if any(k in routes for routes in others):
                new = explicit[k] = self._decide_key(k, everyone)
            else:
                explicit.pop(k, None)
                held = dom_routes.get(k)
                new = None if held is None else single(held)
            if old is new or old == new:
                continue
            append((k, old, new))
        return changes

    def _maybe_rebase(self) -> None:
        """Make the biggest source dominant once it clearly outgrew the current one."""
        sources = self._sources
        if self._dom is not None and self._dom not in sources:
            self.will_change(None)
        if not sources or self._pinned:
            return
        big = max(sources, key=lambda p: len(sources[p]))
        if big == self._dom or len(sources[big]) <= 2 * len(self._dom_routes) + self._rebase_min:
            return
        current = self.get
        explicit: dict[int, BestSet | None] = {}
        for p, routes in sources.items():
            if p == big:
                continue
            for k in routes:
                if k not in explicit:
                    explicit[k] = current(k)
        self._explicit = explicit
        self._dom, self._dom_routes = big, sources[big]

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

    def _items(self) -> Iterator[tuple[int, BestSet]]:
        """(key, best set) for every key with a usable path."""
        explicit = self._explicit
        resolution = self.resolution
        # As in update_pairs: a dominant key's best set is ((path, resolution),), and the
        # resolution is looked up when the next hop changes (no per-path cache entry, so
        # walking a table where every prefix has its own path stays linear and cheap).
        last_path: object = _UNSET
        last_nh: object = _UNSET
        last_peer: object = _UNSET
        res: Resolution | None = None
        found: BestSet | None = None
        for k, p in self._dom_routes.items():
            if p is not last_path:
                last_path = p
                if p.nexthop is not last_nh or p.peer is not last_peer:
                    last_nh, last_peer, res = p.nexthop, p.peer, resolution(p)
                found = None if res is None else ((p, res),)
            if found is not None and k not in explicit:
                yield k, found
        for k, s in explicit.items():
            if s is not None:
                yield k, s

    # --- queries --------------------------------------------------------------------

    def candidates(self, key: int) -> list[PathRef]:
        """Every post-policy path for this prefix, from all sources."""
        return [p for routes in self._sources.values() if (p := routes.get(key)) is not None]

    def explain(self, key: int) -> bestpath.Decision:
        """The decision for one prefix with reasons (for ``show routes``)."""
        return bestpath.explain((p, self.resolution(p)) for p in self.candidates(key))

    def get(self, key: int) -> BestSet | None:
        explicit = self._explicit
        if key in explicit:
            return explicit[key]
        held = self._dom_routes.get(key)
        return None if held is None else self._single_set(held)

    def winner(self, key: int) -> PathRef | None:
        """The best path (first of an ECMP group), or None."""
        found = self.get(key)
        return found[0][0] if found else None

    def __len__(self) -> int:
        return self._count

    def distinct_best_sets(self) -> int:
        """How many different best sets the table holds (equal sets count once)."""
        return len({s for _k, s in self._items()})

    @property
    def dominant(self) -> PeerInfo | None:
        """The source whose prefixes cost the Loc-RIB nothing (the biggest one)."""
        return self._dom

    def stored(self) -> int:
        """Keys with an entry of their own (held by more than one source, or by a
        source that is not the dominant one)."""
        return len(self._explicit)


class BestView(Mapping[int, BestSet]):
    """The Loc-RIB's best sets as a read-only mapping (computed on access)."""

    __slots__ = ("_rib",)

    def __init__(self, rib: LocRib) -> None:
        self._rib = rib

    def __getitem__(self, key: int) -> BestSet:
        found = self._rib.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def get(self, key: int, default: BestSet | None = None) -> BestSet | None:  # type: ignore[override]
        found = self._rib.get(key)
        return default if found is None else found

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self._rib.get(key) is not None

    def __len__(self) -> int:
        return len(self._rib)

    def __iter__(self) -> Iterator[int]:
        return (k for k, _s in self._rib._items())

    def items(self) -> ItemsView[int, BestSet]:
        return _Items(self)

    def values(self) -> ValuesView[BestSet]:
        return _Values(self)


class _Items(ItemsView[int, BestSet]):
    """``best.items()`` in one pass (the generic view would look every key up again)."""

    def __init__(self, view: BestView) -> None:
        super().__init__(view)
        self._view = view

    def __iter__(self) -> Iterator[tuple[int, BestSet]]:
        return self._view._rib._items()


class _Values(ValuesView[BestSet]):
    def __init__(self, view: BestView) -> None:
        super().__init__(view)
        self._view = view

    def __iter__(self) -> Iterator[BestSet]:
        return (s for _k, s in self._view._rib._items())
