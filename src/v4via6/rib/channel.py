"""Channels: the only way a protocol talks to the RIB (BIRD's ``struct channel``).

A ``Channel`` joins one BGP peer (or the local/static source) to one Loc-RIB:
import side (Adj-RIB-In before policy, import policy, prefix limit) and export
side (split horizon, well-known communities, export policy, pending deltas the
session drains with ``take_export``). A ``FibChannel`` is an export-only channel
that turns Loc-RIB deltas into kernel routes (``take_batch`` / ``to_ops``).
Counters: received, accepted, filtered, exported (sent / installed).
Everything is bulk: lists of int keys and one shared path object per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Generic, TypeVar

from v4via6.fib.backend import FibOp, OpKind
from v4via6.model import MAIN_TABLE, Hop, Route
from v4via6.rib.adj_in import AdjRibIn
from v4via6.rib.attrs import NO_ADVERTISE, NO_EXPORT, PathAttrs
from v4via6.rib.keys import key_to_ipv4, key_to_network
from v4via6.rib.loc_rib import BestSet, Change, LocRib
from v4via6.rib.path import PathNextHop, PathRef, PeerInfo, PeerKind, Resolution, new_path
from v4via6.rib.policy import ACCEPT_ALL, AttrsReplacer, Policy, replace_attrs

V = TypeVar("V")

_NOTHING = object()

#: Bound on per-channel policy caches (distinct paths); cleared when reached.
POLICY_CACHE_SIZE = 200_000


@dataclass(slots=True)
class ChannelCounters:
    """received: in Adj-RIB-In; accepted: after import policy; exported: sent/installed."""

    received: int = 0
    accepted: int = 0
    exported: int = 0
    limit_hits: int = 0

    @property
    def filtered(self) -> int:
        return self.received - self.accepted

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "accepted": self.accepted,
            "filtered": self.filtered,
            "exported": self.exported,
            "limit_hits": self.limit_hits,
        }


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Loc-RIB deltas caused by an import call; ``limit_exceeded``: prefix limit crossed."""

    changes: list[Change]
    limit_exceeded: bool = False


@dataclass(slots=True)
class ExportBatch:
    """What to send a peer: keys grouped by path (one UPDATE per group), and withdrawals."""

    announce: dict[PathRef, list[int]] = field(default_factory=dict)
    withdraw: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(len(v) for v in self.announce.values()) + len(self.withdraw)


class _Pending(Generic[V]):
    """Deltas not yet drained, coalesced per key (A -> B -> A sends nothing)."""

    __slots__ = ("before", "now")

    def __init__(self) -> None:
        self.before: dict[int, V | None] = {}
        self.now: dict[int, V | None] = {}

    def take(self) -> tuple[dict[V, list[int]], dict[V, list[int]]]:
        """(install: new value -> keys, remove: old value -> keys); values are interned,
        so grouping is by identity (hashing a next-hop set per key would cost more)."""
        by_id: dict[int, V] = {}
        install: dict[int, list[int]] = {}
        remove: dict[int, list[int]] = {}
        before = self.before
        last_new: V | None = None
        last_old: V | None = None
        new_bucket: list[int] = []
        old_bucket: list[int] = []
        for key, value in self.now.items():
            old = before[key]
            if value is old:
                continue
            if value is None:
                if old is not last_old:
                    assert old is not None
                    last_old = old
                    old_bucket = remove.setdefault(id(old), [])
                    by_id[id(old)] = old
                old_bucket.append(key)
            else:
                if old is not None and value == old:
                    continue
                if value is not last_new:
                    last_new = value
                    new_bucket = install.setdefault(id(value), [])
                    by_id[id(value)] = value
                new_bucket.append(key)
        self.clear()
        return (
            {by_id[i]: ks for i, ks in install.items()},
            {by_id[i]: ks for i, ks in remove.items()},
        )

    def clear(self) -> None:
        self.before.clear()
        self.now.clear()

    def __len__(self) -> int:
        return len(self.now)


class Channel:
    """One peer (or local source) <-> one Loc-RIB."""

    def __init__(
        self,
        rib: LocRib,
        peer: PeerInfo,
        *,
        import_policy: Policy = ACCEPT_ALL,
        export_policy: Policy = ACCEPT_ALL,
        prefix_limit: int | None = None,
        replace: AttrsReplacer = replace_attrs,
        reject_asn: int | None = None,
    ) -> None:
        if peer in rib.sources:
            raise ValueError(f"peer {peer.name!r} already has a channel on this table")
        if prefix_limit is not None and prefix_limit < 1:
            raise ValueError(f"prefix_limit: expected a positive integer, got {prefix_limit}")
        self.rib = rib
        self.peer = peer
        self.import_policy = import_policy
        self.export_policy = export_policy
        self.prefix_limit = prefix_limit
        #: AS-loop detection (RFC 4271 §9.1.2): a path whose AS_PATH holds this AS is
        #: not accepted, and announcing it withdraws the prefixes. Set at construction.
        self.reject_asn = reject_asn
        self._ebgp = peer.is_ebgp
        self.counters = ChannelCounters()
        self.adj_in = AdjRibIn(peer)
        self._replace = replace
        self._accepted: dict[int, PathRef] = self.adj_in.routes if import_policy.passthrough else {}
        self._import_cache: dict[PathRef, PathRef | None] = {}
        self._export_cache: dict[PathRef, PathRef | None] = {}
        self._pending: _Pending[PathRef] = _Pending()
        self._exporting = False
        self._last_intake: tuple[object, object, PathRef | None] = (_NOTHING, _NOTHING, None)
        rib.attach(peer, self._accepted)
        rib.subscribe(self)

    # --- import side --------------------------------------------------------------

    @property
    def accepted(self) -> dict[int, PathRef]:
        """Post-policy routes (the same dict as the Adj-RIB-In when policy is "all")."""
        return self._accepted

    def _aliased(self) -> bool:
        return self._accepted is self.adj_in.routes

    def _intake(self, attrs: PathAttrs, nexthop: PathNextHop) -> PathRef | None:
        """The interned raw path of an announcement; None: it loops (a withdrawal)."""
        last = self._last_intake
        if attrs is last[0] and nexthop is last[1]:
            return last[2]  # consecutive UPDATEs with one attribute set
        path = self._intake_new(attrs, nexthop)
        self._last_intake = (attrs, nexthop, path)
        return path

    def _intake_new(self, attrs: PathAttrs, nexthop: PathNextHop) -> PathRef | None:
        if self.reject_asn is not None and attrs.contains_asn(self.reject_asn):
            return None
        if self._ebgp and attrs.local_pref is not None:
            # RFC 4271 §5.1.5: LOCAL_PREF from an external peer is ignored.
            attrs = self._replace(attrs, local_pref=None)
        if getattr(attrs, "CODEC_INTERNED", False):
            # One object per distinct attribute block already, and its next hop one per
            # distinct bytes: consecutive repeats are caught by ``_intake``, the rest
            # (rare) may become a second equal path, which compares equal.
            return new_path(attrs, nexthop, self.peer)
        attrs = self.rib.attrs_interner.intern(attrs)
        return self.rib.path_interner.intern(PathRef(attrs, nexthop, self.peer))

    def _import_path(self, raw: PathRef) -> PathRef | None:
        cache = self._import_cache
        if raw in cache:
            return cache[raw]
        if len(cache) >= POLICY_CACHE_SIZE:
            cache.clear()
        out = cache[raw] = self._filtered(self.import_policy, raw)
        return out

    def _filtered(self, policy: Policy, path: PathRef) -> PathRef | None:
        """``path`` after ``policy``: None if rejected, itself if unchanged, else a new interned path."""
        attrs = policy.apply_attrs(path.attrs, self._replace)
        if attrs is None:
            return None
        if attrs is path.attrs:
            return path
        interned = self.rib.attrs_interner.intern(attrs)
        return self.rib.path_interner.intern(PathRef(interned, path.nexthop, path.peer))

    def announce(self, keys: Sequence[int], attrs: PathAttrs, nexthop: PathNextHop) -> ImportResult:
        """The peer announced ``keys`` with one attribute set and next hop (a path
        carrying ``reject_asn`` withdraws them)."""
        raw = self._intake(attrs, nexthop)
        if raw is None:
            return self.withdraw(keys)
        rib = self.rib
        if self._aliased():
            olds = list(map(self.adj_in.routes.get, keys))
            self.adj_in.announce(keys, raw)
            changes = rib.update_uniform(self.peer, keys, raw, olds)
            return ImportResult(changes, self._count_and_check_limit())
        self.adj_in.announce(keys, raw)
        out = self._import_path(raw)
        accepted: Sequence[int]
        rejected: Sequence[int]
        if out is None:
            accepted, rejected = (), keys
        else:
            accepted, rejected = self.import_policy.split_keys(list(keys), rib.family)
        routes = self._accepted
        accepted_olds = list(map(routes.get, accepted))
        rejected_olds = list(map(routes.get, rejected))
        if out is not None:
            routes.update(dict.fromkeys(accepted, out))
        pop = routes.pop
        for k in rejected:
            pop(k, None)
        changes = rib.update_uniform(self.peer, accepted, out, accepted_olds) if accepted else []
        if rejected:
            changes = changes + rib.update_uniform(self.peer, rejected, None, rejected_olds)
        return ImportResult(changes, self._count_and_check_limit())

    def announce_many(self, items: Sequence[tuple[Sequence[int], PathAttrs, PathNextHop]]) -> ImportResult:
        """Several announcements in arrival order (consecutive UPDATEs of one read), one
        Loc-RIB pass and one notification of the export channels for all of them.
        Same result as calling :meth:`announce` for each item in turn."""
        if not self._aliased():
            changes: list[Change] = []
            limit = False
            for keys, attrs, nexthop in items:
                result = self.announce(keys, attrs, nexthop)
                changes.extend(result.changes)
                limit = limit or result.limit_exceeded
            return ImportResult(changes, limit)
        intake_new = self._intake_new
        routes = self.adj_in.routes
        get = routes.get
        all_keys: list[int] = []
        paths: list[PathRef | None] = []
        olds: list[PathRef | None] = []
        last_attrs, last_nexthop, raw = self._last_intake  # _intake, inline
        for keys, attrs, nexthop in items:
            if attrs is not last_attrs or nexthop is not last_nexthop:
                last_attrs, last_nexthop = attrs, nexthop
                raw = intake_new(attrs, nexthop)
            if raw is None:  # a looped path: the keys are withdrawn, in order
                for key in dict.fromkeys(keys):
                    olds.append(routes.pop(key, None))
                    all_keys.append(key)
                    paths.append(None)
            elif len(keys) == 1:
                key = keys[0]
                olds.append(get(key))
                routes[key] = raw
                all_keys.append(key)
                paths.append(raw)
            else:
                if len(set(keys)) != len(keys):  # a prefix listed twice in one UPDATE
                    keys = list(dict.fromkeys(keys))
                olds.extend(map(get, keys))
                routes.update(dict.fromkeys(keys, raw))
                all_keys.extend(keys)
                paths.extend([raw] * len(keys))
        self._last_intake = (last_attrs, last_nexthop, raw)
        changes = self.rib.update_pairs(self.peer, all_keys, paths, olds)
        return ImportResult(changes, self._count_and_check_limit())

    def withdraw(self, keys: Iterable[int]) -> ImportResult:
        """The peer withdrew ``keys``."""
        gone, olds = self.adj_in.withdraw_paths(keys)
        if not self._aliased():
            pop = self._accepted.pop
            olds = [pop(k, None) for k in gone]
        changes = self.rib.update_uniform(self.peer, gone, None, olds)
        return ImportResult(changes, self._count_and_check_limit())

    def withdraw_all(self) -> ImportResult:
        """Session lost: drop every route of this peer; deltas for the FIB and other peers."""
        gone = list(self.adj_in.routes)
        olds: list[PathRef | None] = list(map(self._accepted.get, gone))
        self.adj_in.withdraw_all()
        if not self._aliased():
            self._accepted.clear()
        changes = self.rib.update_uniform(self.peer, gone, None, olds)
        self.rib.forget_resolutions(self.peer)
        return ImportResult(changes, self._count_and_check_limit())

    def set_import_policy(self, policy: Policy) -> ImportResult:
        """Re-run import from the Adj-RIB-In with a new policy (soft-in, no session reset)."""
        self.rib.will_change(self.peer)  # its map is replaced below
        old = self._accepted
        self.import_policy = policy
        self._import_cache.clear()
        new: dict[int, PathRef]
        if policy.passthrough:
            new = self.adj_in.routes
        else:
            new = {}
            for raw, keys in self.adj_in.groups().items():
                out = self._import_path(raw)
                if out is not None:
                    hit, _ = policy.split_keys(keys, self.rib.family)
                    new.update(dict.fromkeys(hit, out))
        changed = [k for k, p in old.items() if new.get(k) is not p]
        changed.extend(k for k in new if k not in old)
        self._accepted = new
        self.rib.attach(self.peer, new)
        changes = self.rib.update(self.peer, changed, ())
        return ImportResult(changes, self._count_and_check_limit())

    def _count_and_check_limit(self) -> bool:
        counters = self.counters
        counters.received = len(self.adj_in)
        counters.accepted = len(self._accepted)
        if self.prefix_limit is None or counters.received <= self.prefix_limit:
            return False
        counters.limit_hits += 1
        return True

    # --- export side ----------------------------------------------------------------

    def _export_path(self, policy: Policy, cache: dict[PathRef, PathRef | None], best: PathRef) -> PathRef | None:
        if best in cache:
            return cache[best]
        if len(cache) >= POLICY_CACHE_SIZE:
            cache.clear()
        out: PathRef | None = None
        src = best.peer
        comms = best.attrs.communities
        if (
            src == self.peer
            or (src.kind is PeerKind.IBGP and self.peer.kind is PeerKind.IBGP)
            or NO_ADVERTISE in comms
            or (NO_EXPORT in comms and self.peer.kind is PeerKind.EBGP)
        ):
            out = None
        else:
            out = self._filtered(policy, best)
        cache[best] = out
        return out

    def notify(self, changes: Sequence[Change]) -> None:
        """Loc-RIB deltas (called by the Loc-RIB)."""
        if not self._exporting:
            return
        self._record_all(changes, self.export_policy, self._export_cache)

    def _record_all(
        self,
        changes: Iterable[Change],
        policy: Policy,
        cache: dict[PathRef, PathRef | None],
    ) -> None:
        before = self._pending.before.setdefault
        now = self._pending.now
        export_path = self._export_path
        prefix = policy.prefix
        family = self.rib.family
        exported = 0
        # Consecutive keys mostly share a best set: remember the last answers.
        last_old: BestSet | None = None
        last_new: BestSet | None = None
        out_old: PathRef | None = None
        out_new: PathRef | None = None
        me = self.peer
        for key, old, new in changes:
            if old is None:
                o = None
            else:
                if old is not last_old:
                    last_old = old
                    first = old[0][0]
                    out_old = None if first.peer is me else export_path(policy, cache, first)
                o = out_old
            if new is None:
                n = None
            else:
                if new is not last_new:
                    last_new = new
                    first = new[0][0]  # split horizon first: no cache entry per own path
                    out_new = None if first.peer is me else export_path(policy, cache, first)
                n = out_new
            if prefix is not None and (o is not None or n is not None) and not prefix.matches(key, family):
                o = n = None
            if o is n:
                continue
            before(key, o)
            now[key] = n
            if o is None:
                exported += 1
            elif n is None:
                exported -= 1
        self.counters.exported += exported

    def start_export(self) -> None:
        """Session up: queue the whole Loc-RIB (after export rules and policy)."""
        self.stop_export()
        self._exporting = True
        self.notify([(k, None, b) for k, b in self.rib.best.items()])

    def stop_export(self) -> None:
        """Session down: nothing is sent any more, nothing is pending."""
        self._exporting = False
        self._pending.clear()
        self.counters.exported = 0

    def set_export_policy(self, policy: Policy) -> None:
        """Soft-out: queue the difference the new export policy makes."""
        old_policy, old_cache = self.export_policy, self._export_cache
        self.export_policy = policy
        self._export_cache = {}
        if not self._exporting:
            return
        # Withdraw what the old policy sent, then announce what the new one sends;
        # the pending map coalesces the two into the real difference.
        best = list(self.rib.best.items())
        self._record_all(((k, b, None) for k, b in best), old_policy, old_cache)
        self._record_all(((k, None, b) for k, b in best), policy, self._export_cache)

    def take_export(self) -> ExportBatch:
        """Drain pending deltas, grouped for packing into UPDATEs."""
        install, remove = self._pending.take()
        withdraw = [k for keys in remove.values() for k in keys]
        return ExportBatch(install, withdraw)

    @property
    def export_pending(self) -> int:
        return len(self._pending)

    def close(self) -> list[Change]:
        """Remove this channel from the RIB (peer deleted from config)."""
        self.stop_export()
        self.rib.unsubscribe(self)
        return self.rib.detach(self.peer)


# --- the FIB as a channel -------------------------------------------------------------

Hops = tuple[Hop, ...]
#: (REPLACE to install | DELETE to remove, next hops, keys), in the order they happened.
FibRun = tuple[OpKind, Hops, list[int]]


@dataclass(slots=True)
class FibBatch:
    """Kernel work as ordered runs of keys sharing one next-hop set.

    DELETE runs carry the hops the route had, so a backend can match it exactly.
    Order matters (a key may appear in a REPLACE run and a later DELETE run).
    """

    runs: list[FibRun] = field(default_factory=list)
    metric: int = 0
    src: IPv4Address | None = None
    table: int = MAIN_TABLE
    family: int = 4  # of the keys: 4, or 6 for an IPv6 Loc-RIB's FIB channel

    def __len__(self) -> int:
        return sum(len(keys) for _, _, keys in self.runs)

    def to_ops(self) -> list[FibOp]:
        """The batch as FibBackend ops, in order."""
        ops: list[FibOp] = []
        for kind, hops, keys in self.runs:
            for key in keys:
                net = key_to_ipv4(key) if self.family == 4 else key_to_network(key, self.family)
                route = Route(net, hops, self.metric, self.src, self.table)
                ops.append(FibOp(kind, route))
        return ops


class FibChannel:
    """Exports Loc-RIB best paths to the kernel FIB as ordered deltas (IPv4, or IPv6 unicast).

    The family is the Loc-RIB's; an IPv6 Loc-RIB must be asked for explicitly
    (``ipv6=True``, so the IPv6 table is never wired to the kernel by mistake) and
    takes no (IPv4) ``src``.

    No per-prefix state: deltas are appended to runs as they come (consecutive
    keys with the same next-hop set share a run) and drained with ``take_batch``.
    """

    def __init__(
        self,
        rib: LocRib,
        *,
        export_policy: Policy = ACCEPT_ALL,
        metric: int = 0,
        src: IPv4Address | None = None,
        table: int = MAIN_TABLE,
        ipv6: bool = False,
    ) -> None:
        if rib.family != (6 if ipv6 else 4):
            hint = "" if ipv6 or rib.family != 6 else " (an IPv6 FIB channel needs ipv6=True)"
            raise ValueError(f"FibChannel: expected an {'IPv6' if ipv6 else 'IPv4'} Loc-RIB, "
                             f"got family {rib.family}{hint}")
        if rib.family == 6 and src is not None:
            raise ValueError(f"FibChannel: an IPv6 FIB channel takes no IPv4 src ({src})")
        self.family = rib.family
        self.rib = rib
        self.export_policy = export_policy
        self.metric = metric
        self.src = src
        self.table = table
        self.counters = ChannelCounters()
        self._hops: dict[BestSet, Hops | None] = {}
        self._hops_by_res: dict[Resolution, Hops | None] = {}
        self._hop_sets: dict[Hops, Hops] = {}
        self._runs: list[FibRun] = []
        self._pending = 0
        rib.subscribe(self)

    def by_resolution(self) -> bool:
        """Whether a one-path best set's hops depend on its resolution only (the export
        policy looks at no attribute that differs between paths)."""
        policy = self.export_policy
        return not (policy.as_path_len_max is not None or policy.community or policy.large_community)

    def hops_for(self, best: BestSet) -> Hops | None:
        """Distinct installable next hops of a best set (None: nothing to install)."""
        if len(best) == 1 and self.by_resolution():
            # The answer depends only on where the next hop leads: few distinct values.
            res = best[0][1]
            try:
                return self._hops_by_res[res]
            except KeyError:
                if len(self._hops_by_res) >= POLICY_CACHE_SIZE:
                    self._hops_by_res.clear()
                found = self._hops_by_res[res] = self._compute_hops(best)
                return found
        if best in self._hops:
            return self._hops[best]
        if len(self._hops) >= POLICY_CACHE_SIZE:
            self._hops.clear()
        found = self._hops[best] = self._compute_hops(best)
        return found

    def _compute_hops(self, best: BestSet) -> Hops | None:
        if self.export_policy.apply_attrs(best[0][0].attrs) is None:
            return None
        seen = {res.nexthop: None for _, res in best if res.nexthop is not None}
        if not seen:
            return None
        hops = tuple(Hop(nh) for nh in seen)
        return self._hop_sets.setdefault(hops, hops)

    def wants(self, key: int) -> bool:
        """Whether the kernel should hold a route for ``key`` (best path, installable
        next hop, export policy allows it)."""
        best = self.rib.get(key)
        return best is not None and self.wants_best(key, best)

    def wants_best(self, key: int, best: BestSet) -> bool:
        """:meth:`wants` when the key's best set is known already."""
        if self.hops_for(best) is None:
            return False
        prefix = self.export_policy.prefix
        return prefix is None or prefix.matches(key, self.family)

    def notify(self, changes: Sequence[Change]) -> None:
        runs = self._runs
        hops_for = self.hops_for
        prefix = self.export_policy.prefix
        exported = 0
        last_kind: OpKind | None = None
        last_hops: Hops | None = None
        bucket: list[int] = []
        if runs:
            last_kind, last_hops, bucket = runs[-1]
        last_old: BestSet | None = None
        last_new: BestSet | None = None
        hops_old: Hops | None = None
        hops_new: Hops | None = None
        # A one-path best set's hops depend on its resolution only (see hops_for): a
        # table where each prefix has its own path still has few resolutions.
        by_res = self.by_resolution()
        res_old: object = None
        res_new: object = None
        count = 0
        for key, old, new in changes:
            if old is None:
                o = None
            else:
                if old is not last_old:
                    last_old = old
                    if not by_res or len(old) != 1 or old[0][1] is not res_old:
                        hops_old = hops_for(old)
                        res_old = old[0][1] if by_res and len(old) == 1 else None
                o = hops_old
            if new is None:
                n = None
            else:
                if new is not last_new:
                    last_new = new
                    if not by_res or len(new) != 1 or new[0][1] is not res_new:
                        hops_new = hops_for(new)
                        res_new = new[0][1] if by_res and len(new) == 1 else None
                n = hops_new
            if o is n:
                continue
            if prefix is not None and not prefix.matches(key, self.family):
                continue
            if n is None:
                kind, hops = OpKind.DELETE, o
                exported -= 1
            else:
                kind, hops = OpKind.REPLACE, n
                if o is None:
                    exported += 1
            if kind is not last_kind or hops is not last_hops:
                assert hops is not None
                bucket = []
                runs.append((kind, hops, bucket))
                last_kind, last_hops = kind, hops
            bucket.append(key)
            count += 1
        self._pending += count
        self.counters.exported += exported

    def take_batch(self) -> FibBatch:
        """Drain pending kernel work."""
        runs, self._runs, self._pending = self._runs, [], 0
        return FibBatch(runs, self.metric, self.src, self.table, self.family)

    def desired(self) -> Iterator[Route]:
        """Every route the FIB should hold now (for reconcile at start)."""
        prefix = self.export_policy.prefix
        for key, best in self.rib.best.items():
            hops = self.hops_for(best)
            if hops is not None and (prefix is None or prefix.matches(key, self.family)):
                yield Route(key_to_network(key, self.family), hops, self.metric, self.src, self.table)

    @property
    def pending(self) -> int:
        return self._pending
