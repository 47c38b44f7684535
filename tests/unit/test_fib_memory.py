"""MemoryFib follows the kernel backend's rules: own protocol only, per-op errors."""

from __future__ import annotations

import errno
from ipaddress import IPv4Network

from v4via6.fib.backend import FibBackend, FibOp, OpKind
from v4via6.fib.memory import MemoryFib
from v4via6.model import PROTO_NUMBER, Hop, NextHop, Route


def r(prefix: str, *via: str, metric: int = 0) -> Route:
    return Route.simple(prefix, *via, metric=metric)


def add(route: Route) -> FibOp:
    return FibOp(OpKind.ADD, route)


def test_is_a_fib_backend() -> None:
    fib: FibBackend = MemoryFib({"eth0"})
    assert fib.list_routes() == []


def test_add_list_replace_delete() -> None:
    fib = MemoryFib({"eth0", "eth1"})
    res = fib.apply([add(r("198.51.100.0/24", "fe80::1%eth0"))])
    assert (res.ok, res.errors) == (1, [])
    res = fib.apply([FibOp(OpKind.REPLACE, r("198.51.100.0/24", "fe80::2%eth1"))])
    assert res.ok == 1
    [kr] = fib.list_routes()
    assert kr.own and kr.protocol == PROTO_NUMBER and kr.protocol_name == "v4via6"
    assert kr.route.nexthops == (NextHop.parse("fe80::2%eth1"),)
    res = fib.apply([FibOp(OpKind.DELETE, kr.route)])
    assert res.ok == 1 and fib.list_routes() == []


def test_errors_are_per_op_and_the_batch_completes() -> None:
    fib = MemoryFib({"eth0"})
    good = r("198.51.100.0/24", "fe80::1%eth0")
    fib.apply([add(good)])
    res = fib.apply(
        [
            add(good),  # exists
            add(r("203.0.113.0/24", "fe80::1%eth9")),  # unknown interface
            FibOp(OpKind.DELETE, r("192.0.2.0/24", "fe80::1%eth0")),  # missing
            add(r("192.0.2.128/25", "fe80::1%eth0")),  # fine
        ]
    )
    assert res.ok == 1
    assert [(f.op.route.prefix.exploded, f.errno) for f in res.errors] == [
        ("198.51.100.0/24", errno.EEXIST),
        ("203.0.113.0/24", errno.ENODEV),
        ("192.0.2.0/24", errno.ESRCH),
    ]
    assert "eth9" in res.errors[1].message
    assert len(fib.list_routes()) == 2


def test_foreign_routes_are_never_changed() -> None:
    static = r("198.51.100.0/24", "192.0.2.1")
    fib = MemoryFib({"eth0"}, foreign=[(static, 4)])
    res = fib.apply(
        [
            FibOp(OpKind.REPLACE, r("198.51.100.0/24", "fe80::1%eth0")),
            FibOp(OpKind.DELETE, static),
            add(r("198.51.100.0/24", "fe80::1%eth0")),
        ]
    )
    assert res.ok == 0
    assert [f.errno for f in res.errors] == [errno.EEXIST, errno.ESRCH, errno.EEXIST]
    assert "clash with proto static" in res.errors[0].message
    assert fib.flush().ok == 0
    [kr] = fib.list_routes(own_only=False)
    assert kr.route == static and kr.protocol_name == "static"
    assert fib.list_routes() == []
    # Same prefix, other metric: a different key, so no clash.
    assert fib.apply([add(r("198.51.100.0/24", "fe80::1%eth0", metric=10))]).ok == 1


def test_flush_removes_own_only_and_table_filter() -> None:
    fib = MemoryFib({"eth0"}, foreign=[(r("192.0.2.0/24", "192.0.2.1"), 186)])
    fib.apply([add(Route.simple("198.51.100.0/24", "fe80::1%eth0", table=100))])
    assert len(fib.list_routes(table=100)) == 1 and fib.list_routes(table=254) == []
    assert fib.flush().ok == 1
    assert [kr.protocol for kr in fib.list_routes(own_only=False)] == [186]


def test_check_interfaces_lists_missing_names() -> None:
    fib = MemoryFib({"eth0"})
    routes = [r("198.51.100.0/24", "fe80::1%eth0", "fe80::1%eth2"), r("192.0.2.0/24", "fe80::1%eth1")]
    assert fib.check_interfaces(routes) == ["eth1", "eth2"]


def test_withdraw_nexthop_drops_routes_and_shrinks_ecmp() -> None:
    fib = MemoryFib({"eth0", "eth1"})
    a, b = NextHop.parse("fe80::1%eth0"), NextHop.parse("fe80::1%eth1")
    fib.apply(
        [
            add(r("198.51.100.0/24", "fe80::1%eth0")),
            add(Route(r("203.0.113.0/24").prefix, (Hop(a, 1), Hop(b, 2)))),
            add(r("192.0.2.0/24", "fe80::1%eth1")),
        ]
    )
    assert fib.withdraw_nexthop(a) == 1
    routes = {str(kr.route.prefix): kr.route for kr in fib.list_routes()}
    assert set(routes) == {"203.0.113.0/24", "192.0.2.0/24"}
    assert routes["203.0.113.0/24"].hops == (Hop(b, 2),)


def test_apply_runs_installs_replaces_deletes_and_never_overwrites_foreign() -> None:
    def key(text: str) -> int:
        net = IPv4Network(text)
        return (int(net.network_address) << 8) | net.prefixlen

    a = (Hop(NextHop.parse("fe80::1%eth0")),)
    b = (Hop(NextHop.parse("fe80::2%eth0")),)
    fib = MemoryFib(["eth0"], foreign=[(Route.simple("203.0.113.0/24", "fe80::9%eth0"), 12)])
    res = fib.apply_runs([(OpKind.REPLACE, a, [key("198.51.100.0/24"), key("203.0.113.0/24")])])
    assert res.ok == 1 and list(res.failed) == [key("203.0.113.0/24")]
    res = fib.apply_runs([(OpKind.REPLACE, b, [key("198.51.100.0/24")])])
    assert res.ok == 1
    (own,) = fib.list_routes()
    assert own.route.hops == b
    res = fib.apply_runs([(OpKind.DELETE, b, [key("198.51.100.0/24"), key("192.0.2.0/24")])])
    assert res.ok == 1 and res.skipped == 1 and fib.list_routes() == []
    assert [kr.protocol for kr in fib.list_routes(own_only=False)] == [12]
