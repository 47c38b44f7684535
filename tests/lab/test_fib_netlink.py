"""NetlinkFib against the real kernel, inside a throwaway namespace ``v4v6-fib-*``.

The namespace holds a veth pair v0/v1 (link-local IPv6 only) and 192.0.2.1/32 on
lo (for ``src``). Every test runs in nexthop-object mode and in forced inline mode.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

import pytest
from interop_peers import wait_for

from v4via6.fib import nlmsg
from v4via6.fib.backend import FibOp, FibUnavailable, OpKind
from v4via6.fib.foreignrefs import ROUTE_GROUPS, ForeignRefs, open_monitor_socket
from v4via6.fib.netlink import NH_ID_FIRST, NH_ID_LAST, NetlinkFib
from v4via6.fib.nlsocket import SO_RCVBUFFORCE, open_route_socket
from v4via6.model import PROTO_NUMBER, Hop, NextHop, Route

pytestmark = pytest.mark.lab

_counter = itertools.count()
A = NextHop.parse("fe80::1%v0")
B = NextHop.parse("fe80::2%v1")
PROTO = r"proto (46|v4via6)"


@dataclass
class Ns:
    name: str

    def ip(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["ip", "-n", self.name, *args], capture_output=True, text=True, check=False
        )
        if check and proc.returncode:
            raise AssertionError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def routes(self, *extra: str) -> str:
        return self.ip("-4", "route", "show", *extra)

    def nexthops(self) -> str:
        return self.ip("nexthop", "show")


@pytest.fixture
def ns() -> Iterator[Ns]:
    name = f"v4v6-fib-{os.getpid() % 100000}-{next(_counter)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        n = Ns(name)
        n.ip("link", "add", "v0", "type", "veth", "peer", "name", "v1")
        for dev in ("lo", "v0", "v1"):
            n.ip("link", "set", dev, "up")
        n.ip("addr", "add", "192.0.2.1/32", "dev", "lo")
        yield n
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture(params=[True, False], ids=["nhobj", "inline"])
def fib(request: pytest.FixtureRequest, ns: Ns) -> Iterator[NetlinkFib]:
    backend = NetlinkFib(netns=ns.name, nexthop_objects=request.param)
    try:
        yield backend
    finally:
        backend.close()


def add(route: Route) -> FibOp:
    return FibOp(OpKind.ADD, route)


def test_install_replace_delete(ns: Ns, fib: NetlinkFib) -> None:
    route = Route.simple("198.51.100.0/24", A)
    res = fib.apply([add(route)])
    assert (res.ok, res.errors) == (1, [])
    assert re.search(rf"^198\.51\.100\.0/24 .*via inet6 fe80::1 dev v0 {PROTO}", ns.routes(), re.M)
    assert ("nhid" in ns.routes()) == fib.nexthop_objects

    res = fib.apply([FibOp(OpKind.REPLACE, Route.simple("198.51.100.0/24", B))])
    assert res.ok == 1
    assert re.search(rf"via inet6 fe80::2 dev v1 {PROTO}", ns.routes())
    assert "fe80::1" not in ns.routes()

    [kr] = fib.list_routes()
    assert kr.own and kr.protocol == 46 and kr.route.nexthops == (B,)

    res = fib.apply([FibOp(OpKind.DELETE, kr.route)])
    assert res.ok == 1
    assert ns.routes("proto", "46") == ""
    assert ns.nexthops() == ""  # the object nothing uses any more is gone


def test_ecmp_weights_src_table_metric(ns: Ns, fib: NetlinkFib) -> None:
    prefix = IPv4Network("203.0.113.0/24")
    ecmp = Route(prefix, (Hop(A, 1), Hop(B, 3)), metric=100, src=None, table=1000)
    with_src = Route.simple("198.51.100.0/24", A, src="192.0.2.1")
    res = fib.apply([add(ecmp), add(with_src)])
    assert (res.ok, res.errors) == (2, [])
    out = ns.routes("table", "1000")
    assert re.search(rf"203\.0\.113\.0/24 .*{PROTO} metric 100", out)
    assert re.search(r"nexthop via inet6 fe80::1 dev v0 weight 1", out)
    assert re.search(r"nexthop via inet6 fe80::2 dev v1 weight 3", out)
    assert re.search(r"198\.51\.100\.0/24 .*via inet6 fe80::1 dev v0 .*src 192\.0\.2\.1", ns.routes())
    listed = {kr.route.prefix: kr.route for kr in fib.list_routes()}
    assert listed[prefix] == ecmp
    assert listed[with_src.prefix] == with_src
    assert fib.list_routes(table=1000) == [kr for kr in fib.list_routes() if kr.route.table == 1000]


def test_foreign_route_is_never_changed(ns: Ns, fib: NetlinkFib) -> None:
    ns.ip("route", "add", "198.51.100.0/24", "via", "inet6", "fe80::9", "dev", "v0", "proto", "static")
    before = ns.routes()
    mine = Route.simple("198.51.100.0/24", A)
    res = fib.apply(
        [add(mine), FibOp(OpKind.REPLACE, mine), FibOp(OpKind.DELETE, mine)]
    )
    assert res.ok == 0
    assert [f.errno for f in res.errors] == [errno.EEXIST, errno.EEXIST, errno.ESRCH]
    assert "clash with proto static" in res.errors[1].message
    # Same prefix with another metric is a different route: that one is ours.
    assert fib.apply([add(Route.simple("198.51.100.0/24", A, metric=50))]).ok == 1
    assert fib.flush().ok == 1
    assert ns.routes() == before
    [kr] = fib.list_routes(own_only=False)
    assert kr.protocol_name == "static" and not kr.own
    assert kr.route.nexthops == (NextHop.parse("fe80::9%v0"),)


def test_bad_routes_fail_one_by_one_while_good_ones_land(ns: Ns, fib: NetlinkFib) -> None:
    good = [Route.simple(f"198.51.100.{i * 16}/28", A) for i in range(8)]
    bad = [
        add(Route.simple("203.0.113.0/25", "fe80::1%nosuch0")),  # unknown interface
        add(good[0]),  # added twice in this batch
        FibOp(OpKind.DELETE, Route.simple("192.0.2.128/25", A)),  # not there
        add(Route.simple("203.0.113.128/25", A, src="203.0.113.1")),  # src not local
    ]
    ops = [add(r) for r in good[:4]] + bad + [add(r) for r in good[4:]]
    res = fib.apply(ops)
    assert res.ok == 8
    got = {(str(f.op.route.prefix), f.errno) for f in res.errors}
    assert got == {
        ("203.0.113.0/25", errno.ENODEV),
        ("198.51.100.0/28", errno.EEXIST),
        ("192.0.2.128/25", errno.ESRCH),
        ("203.0.113.128/25", errno.EINVAL),
    }
    enodev = next(f for f in res.errors if f.errno == errno.ENODEV)
    assert "nosuch0" in enodev.message
    assert fib.check_interfaces([op.route for op in ops]) == ["nosuch0"]
    assert sorted(kr.route.prefix for kr in fib.list_routes()) == [r.prefix for r in good]


@pytest.mark.parametrize("errors_only", [True, False], ids=["errors-only", "ack-each"])
def test_many_routes_in_small_chunks_with_errors(ns: Ns, errors_only: bool) -> None:
    """5,000 ops over many sendmsg chunks: every failure is matched to its op."""
    fib = NetlinkFib(netns=ns.name, chunk_bytes=8192, errors_only_acks=errors_only)
    try:
        routes = [Route(IPv4Network(((240 << 24) + (i << 8), 24)), (Hop(A),)) for i in range(5000)]
        first = fib.apply([add(r) for r in routes[::7]])
        assert first.ok == len(routes[::7])
        res = fib.apply([add(r) for r in routes])
        assert res.ok == 5000 - len(routes[::7])
        assert [f.op.route for f in res.errors] == routes[::7]
        assert all(f.errno == errno.EEXIST for f in res.errors)
        assert len(fib.list_routes()) == 5000
        assert fib.flush().ok == 5000
        assert fib.list_routes() == [] and ns.nexthops() == ""
    finally:
        fib.close()


def test_withdraw_nexthop_removes_all_its_routes(ns: Ns, fib: NetlinkFib) -> None:
    via_a = [Route.simple(f"198.51.100.{i * 4}/30", A) for i in range(20)]
    via_b = Route.simple("192.0.2.128/25", B)
    both = Route(IPv4Network("203.0.113.0/24"), (Hop(A, 2), Hop(B, 1)))
    assert fib.apply([add(r) for r in [*via_a, via_b, both]]).ok == 22
    assert fib.withdraw_nexthop(A) == 20
    left = {kr.route.prefix: kr.route for kr in fib.list_routes()}
    assert set(left) == {via_b.prefix, both.prefix}
    assert left[both.prefix].nexthops == (B,)
    assert "fe80::1" not in ns.routes()
    assert fib.withdraw_nexthop(A) == 0
    # Everything still works afterwards: A comes back.
    assert fib.apply([add(via_a[0])]).ok == 1
    # B is now the last next hop of `both`, so both its routes go.
    assert fib.withdraw_nexthop(B) == 2
    assert [kr.route.prefix for kr in fib.list_routes()] == [via_a[0].prefix]


def test_nexthop_objects_use_documented_ids_and_protocol(ns: Ns) -> None:
    ns.ip("nexthop", "add", "id", str(NH_ID_FIRST), "via", "fe80::7", "dev", "v0")  # someone else's
    fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
    try:
        ecmp = Route(IPv4Network("203.0.113.0/24"), (Hop(A, 1), Hop(B, 2)))
        assert fib.apply([add(ecmp)]).ok == 1
        ids = [int(m) for m in re.findall(r"^id (\d+) .*proto (?:46|v4via6)", ns.nexthops(), re.M)]
        assert len(ids) == 3 and all(NH_ID_FIRST < i <= NH_ID_LAST for i in ids)
        assert re.search(r"group \d+/\d+,2 ", ns.nexthops())
        assert fib.list_routes()[0].route == ecmp
        fib.flush()
        assert ns.nexthops().startswith(f"id {NH_ID_FIRST} via fe80::7 dev v0")
        assert len(ns.nexthops().splitlines()) == 1
    finally:
        fib.close()


def test_foreign_route_on_our_nexthop_object_survives(ns: Ns) -> None:
    """Deleting an object would take every route using it: not while a foreign one does."""
    fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
    try:
        mine = [Route.simple(f"198.51.100.{i * 4}/30", A) for i in range(5)]
        assert fib.apply([add(r) for r in mine]).ok == 5
        [nh_id] = re.findall(r"^id (\d+) via fe80::1 dev v0", ns.nexthops(), re.M)
        ns.ip("route", "add", "192.0.2.0/26", "nhid", nh_id, "proto", "static")
        assert fib.withdraw_nexthop(A) == 5
        assert fib.list_routes() == []
        assert fib.apply([add(mine[0])]).ok == 1
        fib.flush()
        assert re.search(rf"^192\.0\.2\.0/26 nhid {nh_id} .*proto static", ns.routes(), re.M)
        assert ns.nexthops().startswith(f"id {nh_id} ")
    finally:
        fib.close()


def test_unknown_namespace_is_a_clear_error() -> None:
    with pytest.raises(FibUnavailable, match="v4v6-fib-does-not-exist"):
        NetlinkFib(netns="v4v6-fib-does-not-exist")


def test_without_permission_one_line_error() -> None:
    code = (
        "from v4via6.fib.netlink import NetlinkFib\n"
        "from v4via6.fib.backend import FibUnavailable\n"
        "try:\n    NetlinkFib()\nexcept FibUnavailable as e:\n    print('unavailable:', e)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", code],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr
    [line] = proc.stdout.splitlines()
    assert line.startswith("unavailable:") and "CAP_NET_ADMIN" in line


def test_route_show_reflects_batch_quickly(ns: Ns, fib: NetlinkFib) -> None:
    """After apply returns, the kernel already holds the routes (no waiting needed)."""
    routes = [Route.simple(f"198.51.100.{i}/32", A) for i in range(64)]
    deadline = time.monotonic() + 5
    assert fib.apply([add(r) for r in routes]).ok == 64
    while len(ns.routes().splitlines()) < 64:
        assert time.monotonic() < deadline
    assert len(fib.list_routes()) == 64


def test_device_down_fails_per_op_then_works_once_up(ns: Ns, fib: NetlinkFib) -> None:
    ns.ip("link", "set", "v1", "down")  # v0 loses its carrier, v1 is down
    route = Route.simple("203.0.113.0/24", B)
    res = fib.apply([add(route)])
    assert res.ok == 0
    [failure] = res.errors
    assert failure.op.route == route and failure.errno == errno.ENETDOWN
    ns.ip("link", "set", "v1", "up")
    deadline = time.monotonic() + 10
    while "LOWER_UP" not in ns.ip("link", "show", "v1"):
        assert time.monotonic() < deadline, "v1 did not come back up"
    assert fib.apply([add(route)]).ok == 1
    assert re.search(rf"203\.0\.113\.0/24 .*via inet6 fe80::2 dev v1 {PROTO}", ns.routes())


# --- foreign-route monitor (route notifications through a cBPF filter) ---------------------------


def own_routes(n: int) -> list[Route]:
    """``n`` distinct own routes via A in documentation space: 198.51.100.x/32 at metrics 1, 2, ..."""
    return [Route.simple(f"198.51.100.{i % 256}/32", A, metric=1 + i // 256) for i in range(n)]


def object_id(ns: Ns, gateway: str = "fe80::1") -> str:
    [nh_id] = re.findall(rf"^id (\d+) via {gateway} dev", ns.nexthops(), re.M)
    return nh_id


def monitor(fib: NetlinkFib) -> ForeignRefs:
    mon = fib._monitor
    assert mon is not None, "the route monitor did not open"
    return mon


def test_monitor_filter_keeps_own_notifications_out(ns: Ns) -> None:
    """20,000 own installs queue nothing on the filtered socket; a foreign route does arrive."""
    plain = open_route_socket(ns.name)  # the same subscription without the filter, as a control
    try:
        plain.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
        plain.bind((0, ROUTE_GROUPS))
        plain.setblocking(False)
        fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
        try:
            mon = monitor(fib)
            resyncs = mon.resyncs
            assert fib.apply([add(r) for r in own_routes(20_000)]).ok == 20_000
            mon.drain()
            # none of the 20,000 own notifications got through (the kernel may announce a
            # few routes of its own, e.g. IPv6 link routes, which carry no nexthop object)
            assert mon.messages < 100 and mon.routes == 0 and mon.valid
            unfiltered = 0
            buf = bytearray(1 << 16)
            while True:
                try:
                    n = plain.recv_into(buf)
                except BlockingIOError:
                    break
                # own route notifications only (the kernel may announce others, e.g. IPv6 link routes)
                unfiltered += sum(1 for m in nlmsg.iter_messages(buf, n)
                                  if m.type == nlmsg.RTM_NEWROUTE and buf[m.start + 5] == PROTO_NUMBER)
            assert unfiltered == 20_000  # the kernel did announce every own route
            nh_id = object_id(ns)
            ns.ip("route", "add", "203.0.113.0/24", "nhid", nh_id, "proto", "static")
            ns.ip("route", "add", "192.0.2.0/26", "via", "inet6", "fe80::9", "dev", "v0", "proto", "static")

            def both_seen() -> bool:
                mon.drain()
                return mon.messages >= 2

            wait_for(both_seen, 10, "the two foreign route notifications")
            assert int(nh_id) in mon.nh_ids() and mon.resyncs == resyncs  # learned, no dump
        finally:
            fib.close()
    finally:
        plain.close()


def test_withdraw_with_foreign_route_added_after_open_keeps_it(ns: Ns) -> None:
    fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
    try:
        mine = own_routes(20_000)
        assert fib.apply([add(r) for r in mine]).ok == 20_000
        nh_id = object_id(ns)
        ns.ip("route", "add", "203.0.113.0/24", "nhid", nh_id, "proto", "static")
        assert fib.withdraw_nexthop(A) == 20_000  # per route: the object stays
        assert fib.list_routes() == []
        assert re.search(rf"^203\.0\.113\.0/24 nhid {nh_id} .*proto static", ns.routes(), re.M)
        assert ns.nexthops().startswith(f"id {nh_id} ")
        assert ns.routes("proto", "46") == ""
    finally:
        fib.close()
    assert re.search(rf"^203\.0\.113\.0/24 nhid {nh_id} .*proto static", ns.routes(), re.M)


def test_withdraw_without_foreign_routes_does_not_dump(ns: Ns, monkeypatch: pytest.MonkeyPatch) -> None:
    fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
    try:
        # A foreign route elsewhere (own object of its own) is no reason to dump.
        ns.ip("nexthop", "add", "id", "7", "via", "fe80::7", "dev", "v1", "proto", "static")
        ns.ip("route", "add", "192.0.2.64/26", "nhid", "7", "proto", "static")
        assert fib.apply([add(r) for r in own_routes(20_000)]).ok == 20_000
        mon = monitor(fib)
        resyncs = mon.resyncs

        def no_dump(*_args: object, **_kw: object) -> object:
            raise AssertionError("withdraw_nexthop dumped the routes")

        monkeypatch.setattr(fib._sock, "dump_other_protocols", no_dump)
        monkeypatch.setattr(fib, "_foreign_nh_refs", no_dump)
        started = time.monotonic()
        assert fib.withdraw_nexthop(A) == 20_000
        seconds = time.monotonic() - started
        assert mon.resyncs == resyncs
        assert ns.routes("proto", "46") == "" and "fe80::1" not in ns.nexthops()
        assert "192.0.2.64/26 nhid 7" in ns.routes()
        print(f"withdraw_nexthop routes=20000 seconds={seconds:.3f}")
    finally:
        fib.close()


def test_monitor_overrun_resyncs_from_a_dump(ns: Ns, tmp_path: Path) -> None:
    fib = NetlinkFib(netns=ns.name, nexthop_objects=True)
    try:
        assert fib.apply([add(Route.simple("198.51.100.0/24", A))]).ok == 1
        nh_id = object_id(ns)
        small = ForeignRefs(open_monitor_socket(ns.name), fib._foreign_route_msgs, rcvbuf=4096)
        try:
            small.resync("initial")
            assert small.nh_ids() == set()
            batch = tmp_path / "routes.batch"
            batch.write_text("".join(
                f"route add 203.0.113.{i}/32 nhid {nh_id} proto static\n" for i in range(256)
            ))
            ns.ip("-batch", str(batch))
            small.drain()
            assert not small.valid and small.pending == "overrun"
            assert small.nh_ids() == {int(nh_id)} and small.routes == 256 and small.valid
        finally:
            small.close()
    finally:
        fib.close()


def rib_keys(prefixes: list[str]) -> list[int]:
    """The RIB's prefix keys ``(network_int << 8) | prefix_len``."""
    return [(int(IPv4Network(p).network_address) << 8) | IPv4Network(p).prefixlen for p in prefixes]


def test_apply_runs_tables_metrics_restart_and_withdraw(ns: Ns, fib: NetlinkFib) -> None:
    """The bulk path against the kernel: same prefix in two metrics and a table, own
    routes replaced after a restart (index rebuilt from a dump), a foreign route kept,
    skipped deletes after a withdraw."""
    mine = [f"198.51.100.{i * 16}/28" for i in range(8)]
    keys = rib_keys(mine)
    assert fib.apply_runs([(OpKind.ADD, (Hop(A),), keys)]).ok == 8
    assert fib.apply_runs([(OpKind.ADD, (Hop(B),), keys[:2])], metric=50).ok == 2
    assert fib.apply_runs([(OpKind.ADD, (Hop(B),), keys[:1])], table=1000).ok == 1
    assert len(fib.list_routes()) == 11
    assert re.search(rf"^198\.51\.100\.0/28 .*via inet6 fe80::2 dev v1 {PROTO} metric 50", ns.routes(), re.M)
    assert "fe80::2" in ns.routes("table", "1000")
    # Another protocol's route: an ADD of it fails, the kernel keeps the foreign one.
    ns.ip("route", "add", "203.0.113.0/24", "via", "inet6", "fe80::9", "dev", "v0", "proto", "static")
    [clash] = rib_keys(["203.0.113.0/24"])
    res = fib.apply_runs([(OpKind.REPLACE, (Hop(A),), [clash])])
    assert res.ok == 0 and res.failed[clash][0] == errno.EEXIST
    assert re.search(r"^203\.0\.113\.0/24 via inet6 fe80::9 dev v0 proto static", ns.routes(), re.M)
    # A restart: a new backend learns its routes from the kernel and replaces them.
    fib2 = NetlinkFib(netns=ns.name, nexthop_objects=fib.nexthop_objects)
    try:
        res = fib2.apply_runs([(OpKind.REPLACE, (Hop(B),), rib_keys(mine))])
        assert (res.ok, res.failed) == (8, {})
        listed = {(kr.route.prefix, kr.route.metric, kr.route.table): kr.route.nexthops
                  for kr in fib2.list_routes()}
        assert len(listed) == 11 and all(hops == (B,) for hops in listed.values())
        if fib2.nexthop_objects:
            assert "fe80::1" not in ns.nexthops()  # A's object lost its last route: collected
        # Withdrawing B drops every own route; the deletes that follow are skipped (nhobj) or ESRCH.
        assert fib2.withdraw_nexthop(B) == 11
        res = fib2.apply_runs([(OpKind.DELETE, (Hop(B),), rib_keys(mine))])
        assert res.failed == {} and res.ok + res.skipped == 8
        assert res.skipped == (8 if fib2.nexthop_objects else 0)
        assert ns.routes("proto", "46") == "" and ns.routes("table", "1000") == ""
        assert re.search(r"^203\.0\.113\.0/24 .*proto static", ns.routes(), re.M)
    finally:
        fib2.close()


def test_apply_runs_long_runs_mixing_new_and_held_prefixes(ns: Ns, fib: NetlinkFib,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs longer than one packing batch (made 5 prefixes here), half of them prefixes
    already held: each prefix gets the right request (replace or exclusive add), none
    fails, all end on the new hop."""
    import v4via6.fib.netlink as netlink_mod

    monkeypatch.setattr(netlink_mod, "_PACK_AT_ONCE", 5)
    first = rib_keys(["192.0.2.0/32"])
    held = rib_keys([f"198.51.100.{i}/32" for i in range(40)])
    fresh = rib_keys([f"203.0.113.{i}/32" for i in range(40)])
    assert fib.apply_runs([(OpKind.ADD, (Hop(A),), first + held)]).ok == 41
    mixed = [k for pair in zip(held, fresh, strict=True) for k in pair]  # alternate held / new
    res = fib.apply_runs([(OpKind.REPLACE, (Hop(B),), mixed)])
    assert (res.ok, res.failed) == (80, {})
    listed = {kr.route.prefix: kr.route.nexthops for kr in fib.list_routes()}
    assert len(listed) == 81
    assert sum(1 for hops in listed.values() if hops == (B,)) == 80
    res = fib.apply_runs([(OpKind.DELETE, (Hop(B),), mixed), (OpKind.DELETE, (Hop(A),), first)])
    assert (res.ok, res.failed) == (81, {})
    assert ns.routes("proto", "46") == ""
