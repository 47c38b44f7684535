"""NetlinkFib: the Linux FIB over a raw NETLINK_ROUTE socket, batched.

Routes go in as hand-packed RTM_NEWROUTE/RTM_DELROUTE messages, many per
``sendmsg`` (see ``nlsocket``), all with ``rtm_protocol = PROTO_NUMBER``:
add = CREATE|EXCL, replace = CREATE|REPLACE, delete names the protocol so the
kernel only matches v4via6's own route. A REPLACE whose key (table, prefix,
metric) another protocol holds is refused up front ("clash with proto X"),
since the kernel would otherwise replace the foreign route.

Nexthop objects (Linux >= 5.3, probed at open; ``nexthop_objects`` forces a
mode): each distinct next hop becomes an object with protocol PROTO_NUMBER and
an id in ``NH_ID_FIRST..NH_ID_LAST`` (0x46000000..0x46FFFFFF, skipping ids other
software uses); each distinct ECMP set becomes a group object with weights; a
route points at one by ``RTA_NH_ID``. Objects no route uses any more are deleted
after each batch. An object is never deleted while a route of another protocol
points at it: ``foreignrefs.ForeignRefs`` knows those routes from route
notifications (own ones filtered out in the kernel), so deleting one needs no
route dump unless its map names the object (then a dump confirms); without the
monitor socket (or in read-only mode) every check dumps. Without objects, next
hops go inline: ``RTA_OIF`` + ``RTA_VIA`` (``RTA_GATEWAY`` for IPv4) or
``RTA_MULTIPATH``.

IPv6 unicast routes (``Route.prefix`` an ``IPv6Network``, from BGP) take the
same rules: own protocol only, foreign keys guarded on REPLACE, the same
nexthop objects (an object with an IPv6 gateway is AF_INET6, which IPv6 routes
accept) or inline ``RTA_OIF`` + plain ``RTA_GATEWAY``; metric 0 is sent as 1024,
the value the kernel stores; ``flush`` removes them too; ``list_routes(family=6)``.

Not thread-safe: one caller at a time.
"""

from __future__ import annotations

import errno
import logging
import os
import struct
import sys
import time
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache, partial
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from itertools import chain, compress, repeat

from v4via6.fib import nlmsg
from v4via6.fib.backend import (
    BatchResult,
    FibException,
    FibOp,
    FibUnavailable,
    KernelRoute,
    OpFailure,
    OpKind,
    RunsResult,
)
from v4via6.fib.foreignrefs import ForeignRefs, open_monitor_socket
from v4via6.fib.nhobjects import NH_ID_FIRST, NH_ID_LAST, NexthopRegistry, NoFreeId
from v4via6.fib.nlmsg import HopSpec
from v4via6.fib.nlsocket import Answer, DumpError, NlSocket
from v4via6.fib.protos import proto_name
from v4via6.model import PROTO_NUMBER, Hop, ModelError, NextHop, Route

log = logging.getLogger(__name__)


CAP_NET_ADMIN = 12
_OWN_KEY = struct.Struct("=I4sBII")  # table, dst, dst_len, metric, nh id

_F_ADD = nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_CREATE | nlmsg.NLM_F_EXCL
_F_REPLACE = nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_CREATE | nlmsg.NLM_F_REPLACE
_F_DELETE = nlmsg.NLM_F_REQUEST
_KINDS = {k: v for k, v in nlmsg.RTN_NAMES.items() if v in ("unicast", "blackhole",
          "unreachable", "prohibit", "throw")}



def route_key(table: int, dst: bytes, dst_len: int, metric: int) -> int:
    """A compact int for (table, prefix, metric): what identifies a kernel route."""
    return (table << 72) | (metric << 40) | (int.from_bytes(dst, "big") << 8) | dst_len


#: Metric the kernel gives an IPv6 route added with metric 0 (IP6_RT_PRIO_USER).
IP6_RT_PRIO_USER = 1024
_V6_KEY = 1 << 208


def route_key6(table: int, dst: bytes, dst_len: int, metric: int) -> int:
    """Like :func:`route_key` for an IPv6 route; never equal to an IPv4 key."""
    return _V6_KEY | (table << 176) | (metric << 144) | (int.from_bytes(dst, "big") << 8) | dst_len


def kernel_metric6(metric: int) -> int:
    """The metric the kernel stores for an IPv6 route asked with ``metric`` (0 -> 1024)."""
    return metric or IP6_RT_PRIO_USER


def has_net_admin() -> bool:
    """Whether this process holds CAP_NET_ADMIN (needed to change routes)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


class _Failure:
    """Why every route using some next hops fails (unknown interface, object refused)."""

    __slots__ = ("code", "message")

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message


#: The own-route index splits each (family, table, metric) by the network's top byte.
SHARDS = 256


def shard_shift(family: int) -> int:
    """``key >> shard_shift(family)`` is the top byte of a prefix key's network."""
    return 32 if family == 4 else 128


class _OwnIndex:
    """Own routes in nexthop mode: per (family, table, metric), 256 dicts prefix key -> nexthop id.

    A prefix key is ``(network_int << 8) | prefix_len``, the RIB's own key, so
    :meth:`NetlinkFib.apply_runs` stores the very int objects the caller holds
    (no new int per route). Values are the one int object per nexthop id the
    ``NexthopRegistry`` holds (``_tail_for`` hands it out), never one per route.

    The dicts are split by the network's top byte (``key >> shard_shift``): one
    dict of a million keys grows by copying itself into a table twice the size
    (21 MB and 42 MB at once at 699,051 keys), the peak of a full table's memory;
    256 dicts of a few thousand keys each grow by a few hundred KB at a time.
    """

    __slots__ = ("tables",)

    def __init__(self) -> None:
        self.tables: dict[tuple[int, int, int], list[dict[int, int]]] = {}

    def shards(self, family: int, table: int, metric: int) -> list[dict[int, int]]:
        """The dicts of one (family, table, metric), created when missing; a key goes
        to ``shards[key >> shard_shift(family)]``."""
        slot = (family, table, metric)
        found = self.tables.get(slot)
        if found is None:
            found = self.tables[slot] = [{} for _ in range(SHARDS)]
        return found

    def own(self, family: int, table: int, metric: int, key: int) -> dict[int, int]:
        """The dict that holds (or will hold) ``key``."""
        return self.shards(family, table, metric)[key >> shard_shift(family)]

    def merged(self, family: int, table: int, metric: int) -> dict[int, int]:
        """One (family, table, metric) as a single new dict (same key objects)."""
        out: dict[int, int] = {}
        for part in self.tables.get((family, table, metric), ()):
            out.update(part)
        return out

    def dicts(self) -> Iterator[dict[int, int]]:
        for parts in self.tables.values():
            yield from parts

    def __len__(self) -> int:
        return sum(len(d) for d in self.dicts())

    def drop_ids(self, dropped: set[int]) -> int:
        """Forget every route using one of the ``dropped`` objects; how many went."""
        gone = 0
        for own in self.dicts():
            if not own:
                continue
            doomed = list(compress(own, map(dropped.__contains__, own.values())))
            if len(doomed) == len(own):
                own.clear()
            else:
                for key in doomed:
                    del own[key]
            gone += len(doomed)
        return gone


class _Track:
    """Per request of an :meth:`NetlinkFib.apply` batch: index dict, prefix key, nexthop id."""

    __slots__ = ("dicts", "index", "keys", "nh_ids")

    def __init__(self, index: _OwnIndex) -> None:
        self.index = index
        self.dicts: list[dict[int, int]] = []
        self.keys: list[int] = []
        self.nh_ids: list[int] = []


class NetlinkFib:
    """FibBackend for the Linux kernel.

    ``netns`` opens the socket inside ``/run/netns/<name>``; ``nexthop_objects``
    None = use them when the kernel has them; ``readonly`` skips the
    CAP_NET_ADMIN check (listing works unprivileged); ``errors_only_acks`` asks
    the kernel to answer failures only (plus one ACK per chunk): fewer receive
    calls, same per-op error reporting.
    """

    def __init__(
        self,
        *,
        netns: str | None = None,
        nexthop_objects: bool | None = None,
        readonly: bool = False,
        chunk_bytes: int = 200_000,
        errors_only_acks: bool = True,
    ) -> None:
        if not readonly and not has_net_admin():
            raise FibUnavailable(
                "changing kernel routes needs CAP_NET_ADMIN: run as root "
                "(or use a read-only command)"
            )
        self._sock = NlSocket(netns, chunk_bytes=chunk_bytes)
        self.errors_only_acks = errors_only_acks
        # Nexthop object state: own objects only, plus every id in use.
        self._nh = NexthopRegistry()
        # Own routes -> nexthop id they use (nexthop mode), and route counts per id.
        self._index: _OwnIndex | None = None
        self._refs: dict[int, int] = {}
        # Route hops -> packed tail (or failure); by identity first, then by value.
        self._tail_by_id: dict[int, tuple[tuple[Hop, ...], bytes | _Failure, int]] = {}
        self._tail: dict[tuple[Hop, ...], tuple[bytes | _Failure, int]] = {}
        self._retry_objects = False
        self._links: dict[str, int] = {}
        self._names: dict[int, str] = {}
        # Foreign routes on nexthop objects, from route notifications (None: dump each time).
        self._monitor: ForeignRefs | None = None
        try:
            self._refresh_links()
            supported = self._load_nexthops()
            if nexthop_objects and not supported:
                raise FibUnavailable("this kernel has no nexthop objects (needs Linux >= 5.3)")
            self.nexthop_objects: bool = supported if nexthop_objects is None else nexthop_objects
            if self.nexthop_objects and not readonly:
                self._monitor = self._open_monitor(netns)
        except BaseException:
            if self._monitor is not None:
                self._monitor.close()
            self._sock.close()
            raise

    def _open_monitor(self, netns: str | None) -> ForeignRefs | None:
        """Subscribe to foreign route changes, then take the initial dump (None if unavailable)."""
        try:
            sock = open_monitor_socket(netns)
        except (FibUnavailable, OSError) as exc:
            log.warning("event=fib_foreign_monitor state=unavailable error=%r", str(exc))
            return None
        try:
            monitor = ForeignRefs(sock, self._foreign_route_msgs)
        except FibUnavailable as exc:
            sock.close()
            log.warning("event=fib_foreign_monitor state=unavailable error=%r", str(exc))
            return None
        try:
            monitor.resync("initial")
        except BaseException:
            monitor.close()
            raise
        return monitor

    # --- interfaces -----------------------------------------------------------------

    def _refresh_links(self) -> None:
        links: dict[str, int] = {}
        for buf, msg in self._sock.dump(nlmsg.pack_link_dump):
            if msg.type == nlmsg.RTM_NEWLINK:
                index, name = nlmsg.parse_link(buf, msg)
                links[name] = index
        self._links = links
        self._names = {i: n for n, i in links.items()}
        self._tail_by_id.clear()
        self._tail.clear()

    def check_interfaces(self, routes: Sequence[Route]) -> list[str]:
        self._refresh_links()
        return sorted(
            {
                nh.ifname
                for r in routes
                for nh in r.nexthops
                if nh.ifname is not None and nh.ifname not in self._links
            }
        )

    def _ifname(self, index: int) -> str:
        name = self._names.get(index)
        if name is None and index:
            self._refresh_links()
            name = self._names.get(index)
        return name if name is not None else f"if{index}"

    # --- nexthop objects --------------------------------------------------------------

    def _load_nexthops(self) -> bool:
        """Learn every nexthop object; False when the kernel has none (no support)."""
        try:
            objs = self._dump_nexthops()
        except DumpError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOENT):
                self._nh.load(())
                return False
            raise
        self._nh.load(objs)
        return True

    def _dump_nexthops(self) -> list[nlmsg.NexthopMsg]:
        return [
            nlmsg.parse_nexthop(buf, msg)
            for buf, msg in self._sock.dump(nlmsg.pack_nexthop_dump)
            if msg.type == nlmsg.RTM_NEWNEXTHOP
        ]

    def _create_object(self, make: Callable[[int], bytes]) -> tuple[int, int, str]:
        """Create one object with a fresh id (retrying on a taken id): (id, errno, text)."""
        for _ in range(8):
            try:
                nh_id = self._nh.alloc_id()
            except NoFreeId as exc:
                return 0, errno.ENOSPC, str(exc)
            ans = self._sock.request(make(nh_id))
            if ans.errno != errno.EEXIST:
                if ans.errno:
                    self._nh.forget(nh_id)
                return nh_id, ans.errno, ans.text
        return 0, errno.EEXIST, "could not find a free nexthop id"

    def _hop_spec(self, hop: Hop) -> HopSpec | _Failure:
        nh = hop.nexthop
        ifindex = 0
        if nh.ifname is not None:
            found = self._links.get(nh.ifname)
            if found is None:
                return _Failure(errno.ENODEV, _msg(errno.ENODEV, f"unknown interface {nh.ifname!r}"))
            ifindex = found
        if nh.addr is None:
            return HopSpec(ifindex, nlmsg.AF_UNSPEC, b"", hop.weight)
        family = nlmsg.AF_INET6 if nh.addr.version == 6 else nlmsg.AF_INET
        return HopSpec(ifindex, family, nh.addr.packed, hop.weight)

    def _object_for(self, hops: tuple[Hop, ...]) -> int | _Failure:
        """The nexthop object id for ``hops``, creating single/group objects as needed."""
        members: list[tuple[int, int]] = []
        for hop in hops:
            spec = self._hop_spec(hop)
            if isinstance(spec, _Failure):
                return spec
            key = (spec.ifindex, spec.family, spec.gateway)
            nh_id = self._nh.single.get(key)
            if nh_id is None:
                new_id, code, text = self._create_object(partial(_pack_single, spec=spec))
                if code:
                    return _Failure(code, _msg(code, text or f"nexthop {hop.nexthop}"))
                nh_id = new_id
                self._nh.add_single(key, nh_id)
            members.append((nh_id, hop.weight))
        if len(members) == 1:
            return members[0][0]
        gkey = tuple(sorted(members))
        gid = self._nh.group.get(gkey)
        if gid is None:
            new_id, code, text = self._create_object(
                lambda i: nlmsg.pack_nexthop_group(0, _F_ADD, i, PROTO_NUMBER, gkey)
            )
            if code:
                return _Failure(code, _msg(code, text or "nexthop group"))
            gid = new_id
            self._nh.add_group(gkey, gid)
        return gid

    def _tail_for(self, hops: tuple[Hop, ...]) -> tuple[bytes | _Failure, int]:
        """Packed next-hop attributes for a route, and the object id (0 when inline)."""
        hit = self._tail.get(hops)
        if hit is not None:
            return hit
        result: tuple[bytes | _Failure, int]
        if not hops:
            result = (b"", 0)
        elif self.nexthop_objects and all(h.nexthop.ifname for h in hops):
            obj = self._object_for(hops)
            if isinstance(obj, _Failure):
                # The kernel refused an object (e.g. device down): retry next batch.
                self._retry_objects = True
                return (obj, 0)
            result = (nlmsg.nhid_tail(obj), obj)
        else:
            specs = []
            for hop in hops:
                spec = self._hop_spec(hop)
                if isinstance(spec, _Failure):
                    result = (spec, 0)
                    break
                specs.append(spec)
            else:
                result = (nlmsg.nexthop_tail(tuple(specs)), 0)
        self._tail[hops] = result
        return result

    # --- own-route index (nexthop mode) ---------------------------------------------------

    def _ensure_index(self) -> _OwnIndex:
        """The own-route index, rebuilt from a kernel dump when unknown (start, after flush)."""
        if self._index is None:
            index = _OwnIndex()
            # One int object per nexthop id: the registry's where it has one.
            canon = {i: i for i in (*self._nh.single_of, *self._nh.members)}
            intern = canon.setdefault
            from_bytes = int.from_bytes
            for family, rows in ((4, self._own_route_keys()), (6, iter(self._own_route6_keys()))):
                last: tuple[int, int] | None = None
                shards: list[dict[int, int]] = []
                shift = shard_shift(family)
                for table, dst, dst_len, metric, nh_id in rows:
                    if not nh_id:
                        continue
                    if last != (table, metric):
                        last = (table, metric)
                        shards = index.shards(family, table, metric)
                    key = (from_bytes(dst, "big") << 8) | dst_len
                    shards[key >> shift][key] = intern(nh_id, nh_id)
            self._index = index
            self._recount_refs()
        return self._index

    def _recount_refs(self) -> None:
        """Route counts per object, from the own-route index."""
        refs: dict[int, int] = {}
        if self._index is not None:
            for own in self._index.dicts():
                for nh_id, count in Counter(own.values()).items():
                    refs[nh_id] = refs.get(nh_id, 0) + count
        self._refs = refs

    # --- apply -------------------------------------------------------------------------------

    def apply(self, ops: Sequence[FibOp]) -> BatchResult:
        result = BatchResult()
        if not ops:
            return result
        if any(type(op.route.prefix) is IPv6Network for op in ops):
            return self._apply_mixed(ops)
        started = time.monotonic()
        if self._monitor is not None:
            self._monitor.drain()
        self._refresh_if_unknown(ops)
        foreign: dict[int, int] = {}
        if any(op.kind is OpKind.REPLACE for op in ops):
            foreign = self._foreign_keys()
        index = None
        if self.nexthop_objects:
            index = self._ensure_index()
            self._prepare_objects(ops)

        sent = array("I")  # request number -> op index
        failed: dict[int, tuple[int, str]] = {}  # op index -> (errno, message)
        seq0 = self._sock.begin()
        track = _Track(index) if index is not None else None
        requests = self._requests(ops, seq0, sent, failed, foreign, track)

        def on_answer(a: Answer) -> None:
            if a.errno:
                failed[sent[a.index]] = (a.errno, _msg(a.errno, a.text))

        self._sock.bulk(seq0, requests, on_answer, errors_only=self.errors_only_acks)

        for i in sorted(failed):
            code, message = failed[i]
            result.errors.append(OpFailure(ops[i], code, message))
        result.ok = len(ops) - len(failed)
        if track is not None:
            self._update_index(sent, failed, track.dicts, track.keys, track.nh_ids)
        if self._retry_objects:
            self._retry_objects = False
            self._tail_by_id.clear()
        log.debug(
            "event=fib_apply ops=%d ok=%d failed=%d mode=%s seconds=%.3f",
            len(ops), result.ok, result.failed, self.mode, time.monotonic() - started,
        )
        return result

    def apply_runs(
        self,
        runs: Sequence[tuple[OpKind, tuple[Hop, ...], Sequence[int]]],
        *,
        metric: int = 0,
        src: IPv4Address | None = None,
        table: int = 254,
    ) -> RunsResult:
        """Bulk IPv4 changes straight from prefix keys, no Route/FibOp per prefix.

        ``runs``: ``(kind, hops, keys)``; a key is ``(network_int << 8) | prefix_len``
        (the RIB's key). ADD and REPLACE both mean "install with these hops": a
        prefix v4via6 already holds (own-route index) is replaced, any other is
        added with CREATE|EXCL, so a foreign route is never overwritten and no
        route dump is needed; a prefix that turns out to be held already (own
        leftover or foreign route) is retried through :meth:`apply` as a checked
        REPLACE. DELETE skips prefixes the index says are gone already (e.g. after
        :meth:`withdraw_nexthop`) and sends the rest highest first. In inline
        mode (no index) every delete is sent and ENOENT counts as done.

        An install run goes to the kernel in key order. A peer sends its table in
        its own order (BIRD: hash order); installed in that order, the kernel's
        FIB trie nodes end up scattered over memory, and deleting the routes later
        (one nexthop object for a million routes when a session goes down) walks
        and frees them 1.7x slower (a million routes in slices of 20,000: 1.65-1.76 s
        shuffled, 0.99-1.07 s with each slice sorted). Sorting whole batches of
        hundreds of thousands instead crowds each slice into one corner of the trie,
        which costs the kernel more on insert.
        """
        result = RunsResult()
        if not runs:
            return result
        started = time.monotonic()
        if self._monitor is not None:
            self._monitor.drain()
        index = self._ensure_index() if self.nexthop_objects else None
        # The index dicts of this (table, metric): keys are the caller's own key objects.
        own = index.shards(4, table, metric) if index is not None else None
        head = _ROUTE_HEAD_DST_INT.pack
        head_size = _ROUTE_HEAD_DST_INT.size
        ack = 0 if self.errors_only_acks else nlmsg.NLM_F_ACK
        f_add, f_rep, f_del = _F_ADD | ack, _F_REPLACE | ack, _F_DELETE | ack
        new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
        unicast, nowhere = nlmsg.RTN_UNICAST, nlmsg.RT_SCOPE_NOWHERE
        a_dst, a_table, a_prio = nlmsg.RTA_DST, nlmsg.RTA_TABLE, nlmsg.RTA_PRIORITY
        inet, proto = nlmsg.AF_INET, PROTO_NUMBER
        rtm_table = table if table < 256 else 0
        src_tail = nlmsg.RTATTR.pack(8, nlmsg.RTA_PREFSRC) + src.packed if src is not None else b""
        # per request: the caller's key object, kind code (0 add, 1 replace, 2 delete);
        # per run (segment of requests): first request, nexthop id object (0: delete)
        sent_keys: list[int] = []
        sent_kind = array("B")
        seg_start: list[int] = []
        seg_nh: list[int] = []
        seg_replaces: list[bool] = []  # whether a segment's installs replace routes of ours
        route_block = _route_block if _LITTLE_ENDIAN else _route_block_portable
        links = self._links
        if any(h.nexthop.ifname is not None and h.nexthop.ifname not in links
               for kind, hops, _keys in runs if kind is not OpKind.DELETE for h in hops):
            self._refresh_links()

        def requests() -> Iterator[tuple[bytes | bytearray, int]]:
            # One block of same-size messages per run (or part of one), built column by
            # column (a run of a full table is thousands of routes; this thread shares the
            # GIL with the RIB).
            seq = seq0
            held = own if own is not None and any(own) else None
            # The index changes after the batch: a key installed by an earlier run of this
            # batch is not in it yet, and a later delete of that key must still go out.
            earlier: list[list[int]] = []
            fresh: set[int] = set()
            for kind, hops, keys in runs:
                if kind is OpKind.DELETE:
                    todo = sorted(keys, reverse=True)
                    if own is not None:
                        if earlier:
                            fresh.update(chain.from_iterable(earlier))
                            earlier.clear()
                        kept = [k for k in todo if (held is not None and k in held[k >> 32]) or k in fresh]
                        result.skipped += len(todo) - len(kept)
                        todo = kept
                    seg_start.append(len(sent_keys))
                    seg_nh.append(0)
                    seg_replaces.append(False)
                    if not todo:
                        continue
                    sent_keys.extend(todo)
                    sent_kind.extend(repeat(2, len(todo)))
                    template = head(head_size, delete, f_del, 0, 0, inet, 0, 0, 0, rtm_table, proto,
                                    nowhere, 0, 0, 8, a_dst, 0, 8, a_table, table, 8, a_prio, metric)
                    for at in range(0, len(todo), _PACK_AT_ONCE):
                        part = todo[at : at + _PACK_AT_ONCE]
                        yield route_block(template, part, seq, None), head_size
                        seq += len(part)
                    continue
                tail, nh_id = self._tail_for(hops)
                if isinstance(tail, _Failure):
                    for key in keys:
                        result.failed[key] = (tail.code, tail.message)
                    continue
                tail = src_tail + tail
                size = head_size + len(tail)
                template = _route_with_tail(len(tail))(size, new, f_add, 0, 0, inet, 0, 0, 0, rtm_table, proto, 0,
                                                       unicast, 0, 8, a_dst, 0, 8, a_table, table, 8, a_prio,
                                                       metric, tail)
                seg_start.append(len(sent_keys))
                seg_nh.append(nh_id)
                if not keys:
                    seg_replaces.append(False)
                    continue
                # A run's keys share kind and hops, so their order is free: in key order,
                # the kernel allocates the FIB trie's nodes of a slice together.
                keys = sorted(keys)
                if own is not None:
                    earlier.append(keys)
                flags: list[int] | None = None
                present = _present_sorted(held, keys) if held is not None else None
                if present:  # some of these are ours already: replaced, the rest added
                    kinds = [1 if k in present else 0 for k in keys]
                    flags = [f_rep if c else f_add for c in kinds]
                    sent_kind.extend(kinds)
                else:  # none held (a first full table): all adds, the template's flags
                    sent_kind.extend(repeat(0, len(keys)))
                seg_replaces.append(bool(present))
                sent_keys.extend(keys)
                for at in range(0, len(keys), _PACK_AT_ONCE):  # a few hundred KB of messages at a time
                    chunk = keys[at : at + _PACK_AT_ONCE]
                    yield route_block(template, chunk, seq, flags[at : at + _PACK_AT_ONCE] if flags else None), size
                    seq += len(chunk)

        answers: dict[int, tuple[int, str]] = {}

        def on_answer(a: Answer) -> None:
            if a.errno:
                answers[a.index] = (a.errno, _msg(a.errno, a.text))

        seq0 = self._sock.begin()
        self._sock.bulk_blocks(seq0, requests(), on_answer, errors_only=self.errors_only_acks)
        retry: list[FibOp] = []
        retry_keys: list[int] = []
        failed_at: dict[int, tuple[int, str]] = {}
        wanted: dict[int, tuple[Hop, ...]] | None = None
        for i, (code, message) in answers.items():
            key, kind_code = sent_keys[i], sent_kind[i]
            if kind_code == 2 and code in (errno.ENOENT, errno.ESRCH):
                continue  # already gone: that is what a delete wants
            failed_at[i] = (code, message)
            if kind_code == 0 and code == errno.EEXIST:
                if wanted is None:  # rare path (clash or own leftover): key -> hops asked for
                    wanted = {k: h for kd, h, ks in runs if kd is not OpKind.DELETE for k in ks}
                hops = wanted.get(key)
                if hops is not None:
                    route = Route(IPv4Network((key >> 8, key & 0xFF)), hops, metric, src, table)
                    retry.append(FibOp(OpKind.REPLACE, route))
                    retry_keys.append(key)
                    continue
            result.failed[key] = (code, message)
        result.ok = len(sent_keys) - len(failed_at)
        if own is not None:
            self._update_index_runs(own, sent_keys, seg_start, seg_nh, seg_replaces, sent_kind, failed_at)
        if retry:
            again = self.apply(retry)
            for failure in again.errors:
                r = failure.op.route
                result.failed[(int(r.prefix.network_address) << 8) | r.prefix.prefixlen] = (
                    failure.errno, failure.message)
            result.ok += again.ok
            if own is not None:  # apply() indexed new key ints: keep the caller's objects instead
                for key in retry_keys:
                    part = own[key >> 32]
                    nh_id = part.pop(key, 0)
                    if nh_id:
                        part[key] = nh_id
        if self._retry_objects:
            self._retry_objects = False
            self._tail_by_id.clear()
        log.debug(
            "event=fib_apply_runs requests=%d ok=%d failed=%d skipped=%d retried=%d mode=%s seconds=%.3f",
            len(sent_keys), result.ok, len(result.failed), result.skipped, len(retry), self.mode,
            time.monotonic() - started,
        )
        return result

    @property
    def mode(self) -> str:
        """``nhobj`` (routes point at nexthop objects) or ``inline``."""
        return "nhobj" if self.nexthop_objects else "inline"

    def _prepare_objects(self, ops: Sequence[FibOp]) -> None:
        """Create the nexthop objects a batch needs before its routes stream out."""
        by_id = self._tail_by_id
        for op in ops:
            if op.kind is OpKind.DELETE:
                continue
            hops = op.route.hops
            hit = by_id.get(id(hops))
            if hit is None or hit[0] is not hops:
                tail, nh_id = self._tail_for(hops)
                if len(by_id) > 4096:
                    by_id.clear()
                by_id[id(hops)] = (hops, tail, nh_id)

    def _refresh_if_unknown(self, ops: Sequence[FibOp]) -> None:
        links = self._links
        seen: set[int] = set()
        for op in ops:
            hops = op.route.hops
            if id(hops) in seen:
                continue
            seen.add(id(hops))
            for hop in hops:
                name = hop.nexthop.ifname
                if name is not None and name not in links:
                    self._refresh_links()
                    return

    def _requests(
        self,
        ops: Sequence[FibOp],
        seq0: int,
        sent: array[int],
        failed: dict[int, tuple[int, str]],
        foreign: dict[int, int],
        track: _Track | None,
    ) -> Iterator[bytes]:
        """Pack one request per op (skipping ops that fail before the kernel).

        This is the hot loop: the header is packed inline (same bytes as
        ``nlmsg.pack_route``). With ``track``, the index dict, prefix key and object
        id of every request are appended to its lists (for the own-route index).
        """
        head = nlmsg.ROUTE_HEAD.pack
        head_size = nlmsg.ROUTE_HEAD.size
        ack = 0 if self.errors_only_acks else nlmsg.NLM_F_ACK
        f_add, f_rep, f_del = _F_ADD | ack, _F_REPLACE | ack, _F_DELETE | ack
        new, delete = nlmsg.RTM_NEWROUTE, nlmsg.RTM_DELROUTE
        unicast, nowhere = nlmsg.RTN_UNICAST, nlmsg.RT_SCOPE_NOWHERE
        a_dst, a_table, a_prio = nlmsg.RTA_DST, nlmsg.RTA_TABLE, nlmsg.RTA_PRIORITY
        src_attr = nlmsg.RTATTR.pack(8, nlmsg.RTA_PREFSRC)
        inet, proto = nlmsg.AF_INET, PROTO_NUMBER
        by_id = self._tail_by_id
        add_sent = sent.append
        index = track.index if track is not None else None
        dicts_append = track.dicts.append if track is not None else None
        keys_append = track.keys.append if track is not None else None
        ids_append = track.nh_ids.append if track is not None else None
        shards: list[dict[int, int]] = []
        own_slot: tuple[int, int] | None = None
        from_bytes = int.from_bytes
        seq = seq0
        kind_delete, kind_replace = OpKind.DELETE, OpKind.REPLACE
        for i in _send_order(ops):
            op = ops[i]
            r = op.route
            prefix = r.prefix
            dst = prefix.network_address.packed
            plen = prefix.prefixlen
            table = r.table
            metric = r.metric
            rtm_table = table if table < 256 else 0
            if op.kind is kind_delete:
                msg = head(
                    head_size, delete, f_del, seq, 0, inet, plen, 0, 0, rtm_table, proto, nowhere, 0,
                    0, 8, a_dst, dst, 8, a_table, table, 8, a_prio, metric,
                )
                nh_id = 0
            else:
                hops = r.hops
                hit = by_id.get(id(hops))
                if hit is None or hit[0] is not hops:
                    tail0, nh0 = self._tail_for(hops)
                    if len(by_id) > 4096:
                        by_id.clear()
                    hit = by_id[id(hops)] = (hops, tail0, nh0)
                tail = hit[1]
                nh_id = hit[2]
                if isinstance(tail, _Failure):
                    failed[i] = (tail.code, tail.message)
                    continue
                flags = f_add
                if op.kind is kind_replace:
                    flags = f_rep
                    holder = foreign.get(route_key(table, dst, plen, metric))
                    if holder is not None:
                        failed[i] = (
                            errno.EEXIST,
                            _msg(errno.EEXIST, f"clash with proto {proto_name(holder)}"),
                        )
                        continue
                src = r.src
                if src is not None:
                    tail = src_attr + src.packed + tail
                msg = head(
                    head_size + len(tail), new, flags, seq, 0, inet, plen, 0, 0, rtm_table, proto, 0,
                    unicast, 0, 8, a_dst, dst, 8, a_table, table, 8, a_prio, metric,
                ) + tail
            add_sent(i)
            if index is not None and dicts_append is not None and keys_append is not None \
                    and ids_append is not None:
                if own_slot != (table, metric):
                    own_slot = (table, metric)
                    shards = index.shards(4, table, metric)
                key = (from_bytes(dst, "big") << 8) | plen
                dicts_append(shards[key >> 32])
                keys_append(key)
                ids_append(nh_id)
            seq += 1
            yield msg

    def _update_index(
        self,
        sent: array[int],
        failed: dict[int, tuple[int, str]],
        dicts: list[dict[int, int]],
        keys: list[int],
        nh_ids: list[int],
    ) -> None:
        """Track which object each own route uses; delete objects nothing uses any more.

        One entry per request sent (``sent``: request -> op index): the index dict
        of the route's (family, table, metric), its prefix key and the object id
        (0: inline next hops, the route leaves the index). Failed ops are skipped.
        """
        if failed:
            keep = [j for j, i in enumerate(sent) if i not in failed]
            dicts = [dicts[j] for j in keep]
            keys = [keys[j] for j in keep]
            nh_ids = [nh_ids[j] for j in keep]
        released: list[int] = []
        drop = released.append
        for own, key, nh_id in zip(dicts, keys, nh_ids, strict=True):
            old = own.pop(key, 0)
            if nh_id:
                own[key] = nh_id
            if old:
                drop(old)
        self._account(Counter(nh_ids), released)

    def _update_index_runs(
        self,
        own: list[dict[int, int]],
        sent_keys: list[int],
        starts: list[int],
        nh_ids: list[int],
        replaces: list[bool],
        kinds: array[int],
        failed: dict[int, tuple[int, str]],
    ) -> None:
        """:meth:`_update_index` for :meth:`apply_runs`: one (table, metric), requests in segments.

        Segment ``s`` covers requests ``starts[s]`` up to the next start, all with
        object ``nh_ids[s]`` (0: delete or inline, the routes leave the index).
        The index gets the caller's key objects from ``sent_keys`` (a key already
        there is popped first, so its old object goes) and the shared id object.
        An install segment's keys are in ascending order; only its replace requests
        (kind 1) can find a key in the index (``replaces[s]``: it has some): an add
        that succeeded was of a key the kernel did not hold, and the index holds
        what this segment's predecessors left.
        """
        released: list[int] = []
        added: dict[int, int] = {}
        stale = 0
        ends = [*starts[1:], len(sent_keys)]
        for start, end, nh_id, replacing in zip(starts, ends, nh_ids, replaces, strict=True):
            if failed:
                done = [j for j in range(start, end) if j not in failed]
                keys = [sent_keys[j] for j in done]
            else:
                done = None
                keys = sent_keys[start:end]
            if not nh_id:
                released.extend(filter(None, [own[k >> 32].pop(k, 0) for k in keys]))
                continue
            if replacing:
                codes = [kinds[j] for j in done] if done is not None else kinds[start:end]
                released.extend(filter(None, [own[k >> 32].pop(k, 0) for k in compress(keys, codes)]))
            count, overwritten = _insert_sorted(own, keys, nh_id)  # distinct keys, like one-by-one updates
            added[nh_id] = added.get(nh_id, 0) + count
            stale += overwritten
        if stale:  # an add the kernel accepted for a key the index held: count again
            log.warning("event=fib_index_recount overwritten=%d", stale)
            self._recount_refs()
            self._collect_garbage()
            return
        self._account(added, released)

    def _account(self, added: dict[int, int], released: list[int]) -> None:
        """Route counts per object: ``added`` routes (id -> count) and ``released`` ones; then GC."""
        refs = self._refs
        for nh_id, count in added.items():
            if nh_id:
                refs[nh_id] = refs.get(nh_id, 0) + count
        for nh_id, count in Counter(released).items():
            refs[nh_id] = refs.get(nh_id, 0) - count
        # Objects nothing uses: released ones, and ones created for ops that failed.
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Delete own objects no route uses (unless a foreign route points at them)."""
        dead = self._nh.unused(self._refs)
        if not dead:
            return
        pinned = self._pinned(dead)
        for nh_id in dead:
            if nh_id in pinned:
                continue
            ans = self._sock.request(nlmsg.pack_del_nexthop(0, 0, nh_id))
            if ans.errno in (0, errno.ENOENT):
                self._forget_object(nh_id)

    def _forget_object(self, nh_id: int) -> None:
        self._nh.forget(nh_id)
        self._refs.pop(nh_id, None)
        self._tail.clear()
        self._tail_by_id.clear()

    # --- dumps ---------------------------------------------------------------------------------

    def _dump_route_msgs(
        self, *, own_only: bool, table: int | None = None, family: int = 4
    ) -> list[nlmsg.RouteMsg]:
        proto = PROTO_NUMBER if own_only and self._sock.strict else 0
        tbl = (table or 0) if self._sock.strict else 0
        af = nlmsg.AF_INET6 if family == 6 else nlmsg.AF_INET
        out = []
        for buf, msg in self._sock.dump(lambda seq: nlmsg.pack_route_dump(seq, proto, tbl, af)):
            if msg.type != nlmsg.RTM_NEWROUTE:
                continue
            if own_only and nlmsg.route_protocol(buf, msg) != PROTO_NUMBER:
                continue
            rm = nlmsg.parse_route(buf, msg)
            if table is None or rm.table == table:
                out.append(rm)
        return out

    def _foreign_keys(self) -> dict[int, int]:
        """Key -> protocol of every route another protocol holds (own routes skipped fast)."""
        keys: dict[int, int] = {}
        for buf, msg in self._sock.dump(lambda seq: nlmsg.pack_route_dump(seq)):
            if msg.type != nlmsg.RTM_NEWROUTE:
                continue
            proto = nlmsg.route_protocol(buf, msg)
            if proto == PROTO_NUMBER:
                continue
            table, dst, dst_len, metric, _nh = nlmsg.parse_route_key(buf, msg)
            keys[route_key(table, dst, dst_len, metric)] = proto
        return keys

    def _own_route_keys(self) -> Iterator[tuple[int, bytes, int, int, int]]:
        """(table, dst, dst_len, metric, nh id) of every own route."""
        yield from _OWN_KEY.iter_unpack(self._own_routes_packed())

    def _own_routes_packed(self) -> bytearray:
        """Every own route's ``_OWN_KEY`` record (17 bytes each), in dump order.

        The dump is read to the end first, so the caller may then send requests.
        """
        proto = PROTO_NUMBER if self._sock.strict else 0
        packed = bytearray()
        pack = _OWN_KEY.pack
        for buf, msg in self._sock.dump(lambda seq: nlmsg.pack_route_dump(seq, proto)):
            if msg.type == nlmsg.RTM_NEWROUTE and nlmsg.route_protocol(buf, msg) == PROTO_NUMBER:
                table, dst, dst_len, metric, nh_id = nlmsg.parse_route_key(buf, msg)
                packed += pack(table, dst, dst_len, metric, nh_id)
        return packed

    def _foreign_route_msgs(self) -> Iterator[tuple[bytearray, nlmsg.Message]]:
        """Every IPv4 and IPv6 route message of other protocols (own routes skipped fast)."""
        for af in (nlmsg.AF_INET, nlmsg.AF_INET6):
            yield from self._sock.dump_other_protocols(partial(nlmsg.pack_route_dump, family=af),
                                                       PROTO_NUMBER)

    def _foreign_nh_refs(self) -> set[int]:
        """Nexthop ids that routes of other protocols (IPv4 or IPv6) point at, by a full dump."""
        ids: set[int] = set()
        for buf, msg in self._foreign_route_msgs():
            if msg.type == nlmsg.RTM_NEWROUTE:
                nh_id = nlmsg.parse_route_key(buf, msg)[4]
                if nh_id:
                    ids.add(nh_id)
        # A foreign route on one of our groups also pins the group's members.
        return self._nh.with_members(ids)

    def _pinned(self, candidates: Iterable[int]) -> set[int]:
        """The ``candidates`` (own object ids) that foreign routes use, so must not be deleted.

        With the route monitor no dump is needed when its map names none of them;
        a hit is confirmed by a fresh dump (the map may hold routes the kernel
        removed silently). Without the monitor: a dump every time.
        """
        wanted = set(candidates)
        if not wanted:
            return set()
        monitor = self._monitor
        if monitor is None:
            return self._foreign_nh_refs() & wanted
        if not self._nh.with_members(monitor.nh_ids()) & wanted:
            return set()
        monitor.resync("confirm")
        return self._nh.with_members(monitor.nh_ids()) & wanted

    # --- listing ----------------------------------------------------------------------------------

    def list_routes(
        self, *, own_only: bool = True, table: int | None = None, family: int = 4
    ) -> list[KernelRoute]:
        """Unicast-ish routes of ``family`` 4 (default) or 6; own protocol only unless ``own_only`` is False."""
        msgs = self._dump_route_msgs(own_only=own_only, table=table, family=family)
        objects: dict[int, nlmsg.NexthopMsg] | None = None
        if any(rm.nh_id for rm in msgs):
            try:
                objects = {nh.id: nh for nh in self._dump_nexthops()}
            except DumpError:
                objects = None
        names: dict[int, str] = {}
        hop_cache: dict[HopSpec, Hop] = {}
        out: list[KernelRoute] = []
        for rm in msgs:
            kind = _KINDS.get(rm.type)
            if kind is None:
                continue
            specs = rm.hops
            if rm.nh_id and objects is not None and rm.nh_id in objects:
                specs = _resolve(objects, rm.nh_id) or specs
            hops: list[Hop] = []
            seen: set[NextHop] = set()
            for spec in specs:
                hop = hop_cache.get(spec)
                if hop is None:
                    hop = Hop(self._nexthop(spec), spec.weight)
                    hop_cache[spec] = hop
                if hop.nexthop not in seen:
                    seen.add(hop.nexthop)
                    hops.append(hop)
            name = names.get(rm.protocol)
            if name is None:
                name = names[rm.protocol] = proto_name(rm.protocol)
            try:
                route = Route(
                    IPv6Network((int.from_bytes(rm.dst, "big"), rm.dst_len)) if family == 6
                    else IPv4Network((int.from_bytes(rm.dst, "big"), rm.dst_len)),
                    tuple(hops),
                    rm.metric,
                    IPv4Address(rm.prefsrc) if rm.prefsrc and family != 6 else None,
                    rm.table,
                    kind,
                )
            except (ModelError, ValueError):
                continue
            out.append(KernelRoute(route, rm.protocol, name))
        return out

    def _nexthop(self, spec: HopSpec) -> NextHop:
        ifname = self._ifname(spec.ifindex) if spec.ifindex else None
        if spec.family == nlmsg.AF_INET6:
            return NextHop(IPv6Address(spec.gateway), ifname)
        if spec.family == nlmsg.AF_INET:
            return NextHop(IPv4Address(spec.gateway), ifname)
        return NextHop(None, ifname)

    # --- withdraw / flush ----------------------------------------------------------------------------

    def withdraw_nexthop(self, nh: NextHop) -> int:
        """Remove next hop ``nh`` from every own route; return how many routes went.

        With nexthop objects this deletes the object: the kernel drops every route
        using it (and shrinks groups holding it) in one go. Routes on a group keep
        their other next hops. Falls back to per-route changes when the object is
        unknown or a foreign route uses it. The foreign-route check comes from the
        route monitor (no dump) and is confirmed by a dump only on a hit.
        """
        spec = self._hop_spec(Hop(nh))
        if isinstance(spec, _Failure):
            return 0
        nh_id = self._nh.single.get((spec.ifindex, spec.family, spec.gateway))
        if not self.nexthop_objects or nh_id is None:
            return self._withdraw_per_route(nh)
        index = self._ensure_index()
        if self._pinned({nh_id, *self._nh.groups_with(nh_id)}):
            return self._withdraw_per_route(nh)
        ans = self._sock.request(nlmsg.pack_del_nexthop(0, 0, nh_id))
        if ans.errno and ans.errno != errno.ENOENT:
            raise FibException(f"deleting nexthop object {nh_id}: {_msg(ans.errno, ans.text)}")
        dropped = self._nh.remove_member(nh_id)
        gone = index.drop_ids(dropped)
        for g in dropped:
            self._refs.pop(g, None)
        self._tail.clear()
        self._tail_by_id.clear()
        log.info("event=fib_withdraw_nexthop nexthop=%s id=%d routes=%d", nh.spec(), nh_id, gone)
        return gone

    def _withdraw_per_route(self, nh: NextHop) -> int:
        ops: list[FibOp] = []
        for kr in [*self.list_routes(own_only=True), *self.list_routes(own_only=True, family=6)]:
            r = kr.route
            if nh not in r.nexthops:
                continue
            rest = tuple(h for h in r.hops if h.nexthop != nh)
            if rest:
                ops.append(FibOp(OpKind.REPLACE, Route(r.prefix, rest, r.metric, r.src, r.table)))
            else:
                ops.append(FibOp(OpKind.DELETE, r))
        result = self.apply(ops)
        failed = {id(f.op) for f in result.errors}
        gone = sum(1 for op in ops if op.kind is OpKind.DELETE and id(op) not in failed)
        log.info("event=fib_withdraw_nexthop nexthop=%s id=none routes=%d", nh.spec(), gone)
        return gone

    def flush(self) -> BatchResult:
        """Delete every own route, then every own nexthop object no foreign route uses."""
        result = BatchResult()
        packed = self._own_routes_packed()
        size = _OWN_KEY.size
        count = len(packed) // size

        def key(i: int) -> tuple[int, bytes, int, int, int]:
            # Dumps come in ascending order: delete from the top (see _send_order).
            return _OWN_KEY.unpack_from(packed, (count - 1 - i) * size)

        seq0 = self._sock.begin()
        ack = 0 if self.errors_only_acks else nlmsg.NLM_F_ACK
        requests = (
            nlmsg.pack_route(
                nlmsg.RTM_DELROUTE, _F_DELETE | ack, seq0 + i, dst, dst_len, table, metric,
                PROTO_NUMBER,
            )
            for i in range(count)
            for table, dst, dst_len, metric, _nh in (key(i),)
        )
        failed: list[Answer] = []

        def on_answer(a: Answer) -> None:
            if a.errno:
                failed.append(a)

        self._sock.bulk(seq0, requests, on_answer, errors_only=self.errors_only_acks)
        for a in failed:
            table, dst, dst_len, metric, _nh = key(a.index)
            route = Route(IPv4Network((int.from_bytes(dst, "big"), dst_len)), (),
                          metric, None, table)
            result.errors.append(OpFailure(FibOp(OpKind.DELETE, route), a.errno,
                                           _msg(a.errno, a.text)))
        result.ok = count - len(failed)
        gone6 = self._flush6()
        result.ok += gone6.ok
        result.errors.extend(gone6.errors)
        if self._load_nexthops():
            pinned = self._pinned(self._nh.all_own())
            for nh_id in self._nh.all_own():
                if nh_id not in pinned:
                    ans = self._sock.request(nlmsg.pack_del_nexthop(0, 0, nh_id))
                    if ans.errno in (0, errno.ENOENT):
                        self._forget_object(nh_id)
        self._index = None  # rebuilt from the kernel on next use
        self._refs = {}
        self._tail.clear()
        self._tail_by_id.clear()
        log.info("event=fib_flush routes=%d failed=%d", result.ok, result.failed)
        return result

    # --- IPv6 routes ------------------------------------------------------------------------------

    def _apply_mixed(self, ops: Sequence[FibOp]) -> BatchResult:
        """A batch holding IPv6 routes: IPv4 ops through :meth:`apply`, IPv6 ops through :meth:`_apply6`."""
        v4 = [op for op in ops if op.route.prefix.version == 4]
        v6 = [op for op in ops if op.route.prefix.version == 6]
        result = self.apply(v4) if v4 else BatchResult()
        more = self._apply6(v6)
        result.ok += more.ok
        result.errors.extend(more.errors)
        return result

    def _tail6_for(self, hops: tuple[Hop, ...]) -> tuple[bytes | _Failure, int]:
        """Next-hop attributes of an IPv6 route: a shared nexthop object, or inline RTA_GATEWAY."""
        for hop in hops:
            addr = hop.nexthop.addr
            if addr is not None and addr.version != 6:
                return (_Failure(errno.EINVAL, _msg(errno.EINVAL, f"IPv6 route via IPv4 gateway {addr}")), 0)
        if hops and self.nexthop_objects and all(h.nexthop.ifname and h.nexthop.addr for h in hops):
            return self._tail_for(hops)  # RTA_NH_ID: the object IPv4 routes use too
        specs: list[HopSpec] = []
        for hop in hops:
            spec = self._hop_spec(hop)
            if isinstance(spec, _Failure):
                return (spec, 0)
            specs.append(spec)
        return (nlmsg.nexthop_tail6(tuple(specs)) if specs else b"", 0)

    def _apply6(self, ops: Sequence[FibOp]) -> BatchResult:
        """IPv6 route ops, with :meth:`apply`'s rules (own protocol, foreign REPLACE refused)."""
        result = BatchResult()
        if not ops:
            return result
        started = time.monotonic()
        if self._monitor is not None:
            self._monitor.drain()
        self._refresh_if_unknown(ops)
        foreign = self._foreign_keys6() if any(op.kind is OpKind.REPLACE for op in ops) else {}
        index = self._ensure_index() if self.nexthop_objects else None
        # objects first: creating one is a request of its own on the same socket
        tails: dict[tuple[Hop, ...], tuple[bytes | _Failure, int]] = {}
        for op in ops:
            if op.kind is not OpKind.DELETE and op.route.hops not in tails:
                tails[op.route.hops] = self._tail6_for(op.route.hops)
        ack = 0 if self.errors_only_acks else nlmsg.NLM_F_ACK
        sent = array("I")
        dicts: list[dict[int, int]] = []
        keys: list[int] = []
        nh_ids: list[int] = []
        failed: dict[int, tuple[int, str]] = {}
        seq0 = self._sock.begin()

        def requests() -> Iterator[bytes]:
            seq = seq0
            for i in _send_order(ops):
                op = ops[i]
                r = op.route
                dst, plen = r.prefix.network_address.packed, r.prefix.prefixlen
                table, metric = r.table, kernel_metric6(r.metric)
                nh_id = 0
                if op.kind is OpKind.DELETE:
                    msg = nlmsg.pack_route(nlmsg.RTM_DELROUTE, _F_DELETE | ack, seq, dst, plen, table, metric,
                                           PROTO_NUMBER)
                else:
                    tail, nh_id = tails[r.hops]
                    if isinstance(tail, _Failure):
                        failed[i] = (tail.code, tail.message)
                        continue
                    flags = _F_ADD
                    if op.kind is OpKind.REPLACE:
                        holder = foreign.get(route_key6(table, dst, plen, metric))
                        if holder is not None:
                            failed[i] = (errno.EEXIST, _msg(errno.EEXIST, f"clash with proto {proto_name(holder)}"))
                            continue
                        flags = _F_REPLACE
                    msg = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, flags | ack, seq, dst, plen, table, metric,
                                           PROTO_NUMBER, tail)
                sent.append(i)
                if index is not None:
                    key = (int.from_bytes(dst, "big") << 8) | plen
                    dicts.append(index.own(6, table, metric, key))
                    keys.append(key)
                    nh_ids.append(nh_id)
                seq += 1
                yield msg

        def on_answer(a: Answer) -> None:
            if a.errno:
                failed[sent[a.index]] = (a.errno, _msg(a.errno, a.text))

        self._sock.bulk(seq0, requests(), on_answer, errors_only=self.errors_only_acks)
        for i in sorted(failed):
            code, message = failed[i]
            result.errors.append(OpFailure(ops[i], code, message))
        result.ok = len(ops) - len(failed)
        if index is not None:
            self._update_index(sent, failed, dicts, keys, nh_ids)
        if self._retry_objects:
            self._retry_objects = False
            self._tail_by_id.clear()
        log.debug("event=fib_apply6 ops=%d ok=%d failed=%d mode=%s seconds=%.3f",
                  len(ops), result.ok, result.failed, self.mode, time.monotonic() - started)
        return result

    def _foreign_keys6(self) -> dict[int, int]:
        """IPv6 key -> protocol of every IPv6 route another protocol holds."""
        keys: dict[int, int] = {}
        for buf, msg in self._sock.dump(lambda seq: nlmsg.pack_route_dump(seq, family=nlmsg.AF_INET6)):
            if msg.type != nlmsg.RTM_NEWROUTE:
                continue
            proto = nlmsg.route_protocol(buf, msg)
            if proto != PROTO_NUMBER:
                table, dst, dst_len, metric, _nh = nlmsg.parse_route_key(buf, msg)
                keys[route_key6(table, dst, dst_len, metric)] = proto
        return keys

    def _own_route6_keys(self) -> list[tuple[int, bytes, int, int, int]]:
        """(table, dst (16 bytes), dst_len, metric, nh id) of every own IPv6 route, dump read to the end."""
        proto = PROTO_NUMBER if self._sock.strict else 0
        out: list[tuple[int, bytes, int, int, int]] = []
        for buf, msg in self._sock.dump(lambda seq: nlmsg.pack_route_dump(seq, proto, family=nlmsg.AF_INET6)):
            if msg.type == nlmsg.RTM_NEWROUTE and nlmsg.route_protocol(buf, msg) == PROTO_NUMBER:
                table, dst, dst_len, metric, nh_id = nlmsg.parse_route_key(buf, msg)
                out.append((table, dst.rjust(16, b"\0") if len(dst) != 16 else dst, dst_len, metric, nh_id))
        return out

    def _flush6(self) -> BatchResult:
        """Delete every own IPv6 route (highest first); a route already gone counts as done."""
        result = BatchResult()
        own = self._own_route6_keys()[::-1]
        if not own:
            return result
        seq0 = self._sock.begin()
        ack = 0 if self.errors_only_acks else nlmsg.NLM_F_ACK
        requests = (
            nlmsg.pack_route(nlmsg.RTM_DELROUTE, _F_DELETE | ack, seq0 + i, dst, dst_len, table, metric,
                             PROTO_NUMBER)
            for i, (table, dst, dst_len, metric, _nh) in enumerate(own)
        )
        failed: list[Answer] = []

        def on_answer(a: Answer) -> None:
            if a.errno and a.errno not in (errno.ENOENT, errno.ESRCH):
                failed.append(a)

        self._sock.bulk(seq0, requests, on_answer, errors_only=self.errors_only_acks)
        for a in failed:
            table, dst, dst_len, metric, _nh = own[a.index]
            route = Route(IPv6Network((int.from_bytes(dst, "big"), dst_len)), (), metric, None, table)
            result.errors.append(OpFailure(FibOp(OpKind.DELETE, route), a.errno, _msg(a.errno, a.text)))
        result.ok = len(own) - len(failed)
        return result

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
        self._sock.close()

    def __enter__(self) -> NetlinkFib:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()




def _send_order(ops: Sequence[FibOp]) -> Iterator[int]:
    """Op indices in the order to send them: each run of consecutive deletes reversed.

    Deletes of different keys commute, so a run may go in any order. Reversed is
    much cheaper for the kernel when the run is sorted ascending (as reconcile and
    dumps produce it): after removing a leaf, fib_trie's update_suffix() rescans
    the parent's children from index 0, so removing the lowest prefixes first
    costs a scan over ever more empty slots (measured: 100k /24s take 4.3 s of
    kernel time ascending, 1.5 s descending; the gap grows with the table).
    """
    delete = OpKind.DELETE
    start = 0
    n = len(ops)
    while start < n:
        end = start + 1
        is_delete = ops[start].kind is delete
        while end < n and (ops[end].kind is delete) == is_delete:
            end += 1
        yield from (range(end - 1, start - 1, -1) if is_delete else range(start, end))
        start = end


#: Route messages packed in one go by :meth:`NetlinkFib.apply_runs` (about 200 KB).
_PACK_AT_ONCE = 2048

#: ``nlmsg.ROUTE_HEAD`` with the IPv4 destination as a native int: packed from
#: ``socket.htonl(address)``, so it lands in network byte order without a bytes object.
_ROUTE_HEAD_DST_INT = struct.Struct(nlmsg.ROUTE_HEAD.format.replace("HH4s", "HHI"))
assert _ROUTE_HEAD_DST_INT.size == nlmsg.ROUTE_HEAD.size


#: Header fields are in host byte order: the column-wise packer takes them from
#: ``array`` bytes, which are, so it is used on little-endian hosts (the portable one
#: elsewhere).
_LITTLE_ENDIAN = sys.byteorder == "little"
#: Offsets in a route request (``nlmsg.ROUTE_HEAD``): nlmsg_flags, nlmsg_seq,
#: rtm_dst_len and the RTA_DST value.
_AT_FLAGS, _AT_SEQ, _AT_DST_LEN, _AT_DST = 6, 8, 17, 32
_STAMP_FLAGS = struct.Struct("=H").pack_into
_STAMP_SEQ = struct.Struct("=I").pack_into
_STAMP_DST = struct.Struct("!I").pack_into


def _route_block(template: bytes, keys: Sequence[int], seq: int, flags: Sequence[int] | None) -> bytearray:
    """Route requests for the IPv4 ``keys`` (``network << 8 | length``), back to back.

    ``template`` is one request with every other field set; request ``i`` gets
    ``seq + i`` and, if ``flags`` is given, ``flags[i]`` (else the template's).
    Built column by column: the template repeated, then each field's bytes written
    with one strided slice assignment per byte, taken from the keys as one array of
    8-byte little-endian ints (byte 0 the length, bytes 4..1 the address, most
    significant first). No Python work per request; a full table sent one prefix
    per UPDATE makes a million of them. Little-endian hosts only.
    """
    size = len(template)
    buf = bytearray(template) * len(keys)
    raw = array("Q", keys).tobytes()
    buf[_AT_DST_LEN::size] = raw[0::8]
    buf[_AT_DST::size] = raw[4::8]
    buf[_AT_DST + 1::size] = raw[3::8]
    buf[_AT_DST + 2::size] = raw[2::8]
    buf[_AT_DST + 3::size] = raw[1::8]
    seqs = array("I", range(seq, seq + len(keys))).tobytes()
    for byte in range(4):
        buf[_AT_SEQ + byte::size] = seqs[byte::4]
    if flags is not None:
        values = array("H", flags).tobytes()
        buf[_AT_FLAGS::size] = values[0::2]
        buf[_AT_FLAGS + 1::size] = values[1::2]
    return buf


def _route_block_portable(template: bytes, keys: Sequence[int], seq: int,
                          flags: Sequence[int] | None) -> bytearray:
    """:func:`_route_block` one request at a time, any byte order (and its reference in tests)."""
    size = len(template)
    buf = bytearray(template) * len(keys)
    for i, key in enumerate(keys):
        at = i * size
        buf[at + _AT_DST_LEN] = key & 0xFF
        _STAMP_DST(buf, at + _AT_DST, key >> 8)
        _STAMP_SEQ(buf, at + _AT_SEQ, seq + i)
        if flags is not None:
            _STAMP_FLAGS(buf, at + _AT_FLAGS, flags[i])
    return buf


def _shard_spans(keys: Sequence[int], shift: int) -> Iterator[tuple[int, int, int]]:
    """(shard, start, end) of the ascending ``keys``: ``keys[start:end]`` are the ones with
    ``key >> shift == shard``. A few hundred spans for thousands of keys."""
    at, n = 0, len(keys)
    while at < n:
        shard = keys[at] >> shift
        end = bisect_left(keys, (shard + 1) << shift, at)
        yield shard, at, end
        at = end


def _present_sorted(shards: list[dict[int, int]], keys: list[int]) -> set[int]:
    """The ascending IPv4 ``keys`` the own-route index holds (one C-level set
    intersection per shard, not a lookup per key: during a first full table, none)."""
    out: set[int] = set()
    for shard, start, end in _shard_spans(keys, 32):
        part = shards[shard]
        if part:
            hit = part.keys() & keys[start:end]
            if hit:
                out |= hit
    return out


def _insert_sorted(shards: list[dict[int, int]], keys: list[int], nh_id: int) -> tuple[int, int]:
    """Index the ascending IPv4 ``keys`` with ``nh_id``, one dict update per shard.

    Returns (distinct keys, how many of them the index held already: their old ids
    were overwritten, so the caller must recount; never expected, see
    ``_update_index_runs``)."""
    count = overwritten = 0
    for shard, start, end in _shard_spans(keys, 32):
        part = shards[shard]
        fresh = dict.fromkeys(keys[start:end], nh_id)
        before = len(part)
        part.update(fresh)
        count += len(fresh)
        overwritten += before + len(fresh) - len(part)
    return count, overwritten


@cache
def _route_with_tail(tail_size: int) -> Callable[..., bytes]:
    """``pack`` of the route head (destination as ``htonl`` int) and ``tail_size`` bytes."""
    return struct.Struct(_ROUTE_HEAD_DST_INT.format + f"{tail_size}s").pack


def _pack_single(nh_id: int, *, spec: HopSpec) -> bytes:
    return nlmsg.pack_nexthop(0, _F_ADD, nh_id, PROTO_NUMBER, spec)


def _resolve(objects: dict[int, nlmsg.NexthopMsg], nh_id: int) -> tuple[HopSpec, ...]:
    """The hops a nexthop object stands for (a group's members with their weights)."""
    obj = objects[nh_id]
    if obj.hop is not None:
        return (obj.hop,)
    hops = []
    for mid, weight in obj.group:
        member = objects.get(mid)
        if member is not None and member.hop is not None:
            hops.append(member.hop._replace(weight=weight))
    return tuple(hops)


def _msg(code: int, detail: str = "") -> str:
    text = os.strerror(code)
    return f"{text}: {detail}" if detail else text


__all__ = ["IP6_RT_PRIO_USER", "NH_ID_FIRST", "NH_ID_LAST", "NetlinkFib", "has_net_admin", "kernel_metric6",
           "route_key", "route_key6"]
