"""MemoryFib: an in-memory FIB with the kernel backend's rules, for unit tests.

It knows a fixed set of interface names, can be seeded with routes of other
protocols (which it never changes), and answers each op the way the netlink
backend does: ADD of an existing key -> EEXIST, DELETE of a missing own route ->
ESRCH, REPLACE over a foreign route -> EEXIST "clash with proto X", unknown
interface -> ENODEV naming it. Failures are per op; the batch always completes.
IPv6 routes (IPv6Network prefix) live beside IPv4 ones; as in the kernel, an
IPv6 route asked with metric 0 is stored with metric 1024, and ``list_routes``
shows one family at a time (``family=4`` by default, or 6).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address

from v4via6.fib.backend import BatchResult, FibOp, KernelRoute, OpFailure, OpKind, Run, RunsResult, key_to_prefix
from v4via6.fib.protos import proto_name
from v4via6.model import MAIN_TABLE, PROTO_NUMBER, NextHop, Route

#: What the kernel stores for an IPv6 route added with metric 0 (IP6_RT_PRIO_USER).
IP6_METRIC_DEFAULT = 1024

Key = tuple[int, object, int]


class MemoryFib:
    """A FibBackend kept in a dict keyed by (table, prefix, metric)."""

    def __init__(
        self,
        interfaces: Iterable[str] = (),
        foreign: Iterable[KernelRoute | tuple[Route, int]] = (),
    ) -> None:
        self.interfaces: set[str] = set(interfaces)
        self._routes: dict[Key, KernelRoute] = {}
        self.applied: list[FibOp] = []  # every op that succeeded, in order
        self.closed = False
        for item in foreign:
            self.add_foreign(*((item.route, item.protocol) if isinstance(item, KernelRoute) else item))

    def add_foreign(self, route: Route, protocol: int) -> None:
        """Seed a route owned by another protocol (it is never changed afterwards)."""
        if protocol == PROTO_NUMBER:
            raise ValueError("a foreign route needs a protocol number other than v4via6's")
        route = _as_kernel_stores(route)
        self._routes[route.key] = KernelRoute(route, protocol, proto_name(protocol))

    def list_routes(
        self, *, own_only: bool = True, table: int | None = None, family: int = 4
    ) -> list[KernelRoute]:
        return sorted(
            (
                kr
                for kr in self._routes.values()
                if (not own_only or kr.own) and (table is None or kr.route.table == table)
                and kr.route.prefix.version == family
            ),
            key=lambda kr: (kr.route.table, kr.route.prefix, kr.route.metric, kr.protocol),
        )

    def check_interfaces(self, routes: Sequence[Route]) -> list[str]:
        return sorted(
            {
                nh.ifname
                for route in routes
                for nh in route.nexthops
                if nh.ifname is not None and nh.ifname not in self.interfaces
            }
        )

    def apply(self, ops: Sequence[FibOp]) -> BatchResult:
        result = BatchResult()
        for op in ops:
            failure = self._apply_one(op)
            if failure is None:
                result.ok += 1
                self.applied.append(op)
            else:
                result.errors.append(failure)
        return result

    def _apply_one(self, op: FibOp) -> OpFailure | None:
        route = _as_kernel_stores(op.route)
        key = route.key
        held = self._routes.get(key)
        if op.kind is OpKind.DELETE:
            if held is None or not held.own:
                return _fail(op, errno.ESRCH)
            del self._routes[key]
            return None
        missing = _missing_interface(route.nexthops, self.interfaces)
        if missing is not None:
            return _fail(op, errno.ENODEV, f"unknown interface {missing!r}")
        if route.prefix.version == 6 and any(nh.addr is not None and nh.addr.version == 4 for nh in route.nexthops):
            return _fail(op, errno.EINVAL, "IPv6 route via an IPv4 gateway")
        if held is not None and not held.own:
            return _fail(op, errno.EEXIST, f"clash with proto {held.protocol_name}")
        if op.kind is OpKind.ADD and held is not None:
            return _fail(op, errno.EEXIST)
        self._routes[key] = KernelRoute(route, PROTO_NUMBER, proto_name(PROTO_NUMBER))
        return None

    def apply_runs(
        self, runs: Sequence[Run], *, metric: int = 0, src: IPv4Address | None = None, table: int = MAIN_TABLE
    ) -> RunsResult:
        """Install (replace our own, add otherwise) or delete per key; deletes of absent routes are skipped."""
        result = RunsResult()
        for kind, hops, keys in runs:
            for key in keys:
                route = Route(key_to_prefix(key), hops, metric, src, table)
                held = self._routes.get(_as_kernel_stores(route).key)
                if kind is OpKind.DELETE:
                    if held is None or not held.own:
                        result.skipped += 1
                        continue
                    op = FibOp(OpKind.DELETE, route)
                else:
                    op = FibOp(OpKind.REPLACE if held is not None else OpKind.ADD, route)
                failure = self._apply_one(op)
                if failure is None:
                    result.ok += 1
                    self.applied.append(op)
                else:
                    result.failed[key] = (failure.errno, failure.message)
        return result

    def flush(self) -> BatchResult:
        own = [kr for kr in self._routes.values() if kr.own]
        for kr in own:
            del self._routes[kr.route.key]
        return BatchResult(ok=len(own))

    def withdraw_nexthop(self, nh: NextHop) -> int:
        """Drop ``nh`` from every own route; routes left without hops go. Returns how many went."""
        gone = 0
        for key, kr in list(self._routes.items()):
            if not kr.own or nh not in kr.route.nexthops:
                continue
            rest = tuple(h for h in kr.route.hops if h.nexthop != nh)
            if rest:
                r = kr.route
                self._routes[key] = KernelRoute(
                    Route(r.prefix, rest, r.metric, r.src, r.table), kr.protocol, kr.protocol_name
                )
            else:
                del self._routes[key]
                gone += 1
        return gone

    def close(self) -> None:
        self.closed = True


def _as_kernel_stores(route: Route) -> Route:
    """An IPv6 route with metric 0 as the kernel keeps it (metric 1024); others unchanged."""
    if route.metric == 0 and route.prefix.version == 6:
        return Route(route.prefix, route.hops, IP6_METRIC_DEFAULT, route.src, route.table, route.kind)
    return route


def _missing_interface(nexthops: Iterable[NextHop], known: set[str]) -> str | None:
    for nh in nexthops:
        if nh.ifname is not None and nh.ifname not in known:
            return nh.ifname
    return None


def _fail(op: FibOp, code: int, detail: str = "") -> OpFailure:
    text = os.strerror(code)
    return OpFailure(op, code, f"{text}: {detail}" if detail else text)
