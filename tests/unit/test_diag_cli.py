"""The show/route/check commands end to end through click, on injected fakes (no root)."""

from __future__ import annotations

import errno
import json
from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest
from click.testing import CliRunner, Result

from v4via6.cli.main import cli
from v4via6.fib.backend import FibOp, FibUnavailable, OpKind
from v4via6.fib.memory import MemoryFib
from v4via6.host.lookup import RouteLookup
from v4via6.host.probe import RouteProbe
from v4via6.host.route_msg import KernelEntry, RouteHop
from v4via6.host.snapshot import (
    SCOPE_HOST,
    SCOPE_LINK,
    Address,
    HostSnapshot,
    KernelVersion,
    Link,
    Neighbour,
)
from v4via6.model import Route

LL1 = IPv6Address("fe80::1")


def snapshot(*, with_ipv4: bool = True) -> HostSnapshot:
    addresses = [
        Address("lo", IPv4Address("127.0.0.1"), 8, SCOPE_HOST),
        Address("eth0", IPv6Address("fe80::10"), 64, SCOPE_LINK),
        Address("eth1", IPv6Address("fe80::11"), 64, SCOPE_LINK),
    ]
    if with_ipv4:
        addresses.append(Address("lo", IPv4Address("192.0.2.1"), 32))
    return HostSnapshot(
        KernelVersion(6, 18),
        (Link(1, "lo", loopback=True), Link(2, "eth0"), Link(3, "eth1")),
        tuple(addresses),
        (Neighbour(LL1, "eth0", "REACHABLE", "02:00:00:00:00:01"),),
        {
            "net/ipv4/ip_forward": "1",
            "net/ipv6/conf/all/forwarding": "1",
            "net/ipv4/conf/all/rp_filter": "0",
        },
    )


def fib() -> MemoryFib:
    backend = MemoryFib(
        interfaces=["eth0", "eth1"],
        foreign=[(Route.simple("203.0.113.0/24", "fe80::2%eth1"), 12)],
    )
    routes = [
        Route.simple("198.51.100.0/24", "fe80::1%eth0"),
        Route.simple("192.0.2.64/26", "fe80::1%eth0", "fe80::2%eth1", src="192.0.2.1"),
    ]
    result = backend.apply([FibOp(OpKind.ADD, r) for r in routes])
    assert not result.errors
    return backend


def run(args: list[str], **obj: object) -> Result:
    obj.setdefault("snapshot", snapshot)
    obj.setdefault("fib", fib)
    return CliRunner().invoke(cli, args, obj=obj)


def test_show_routes_lists_own_routes_with_neighbour_state() -> None:
    result = run(["show", "routes"])
    assert result.exit_code == 0, result.output
    assert "198.51.100.0/24" in result.output
    assert "via inet6 fe80::1 dev eth0" in result.output
    assert "REACHABLE" in result.output
    assert "203.0.113.0/24" not in result.output  # another protocol's route


def test_show_routes_all_includes_foreign_routes_with_owner() -> None:
    result = run(["show", "routes", "--all"])
    assert result.exit_code == 0, result.output
    assert "203.0.113.0/24" in result.output and "bird" in result.output


def test_show_routes_json_has_stable_keys() -> None:
    result = run(["show", "routes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["scope"] == "own" and data["count"] == 2
    ecmp = next(r for r in data["routes"] if r["prefix"] == "192.0.2.64/26")
    assert set(ecmp) == {"prefix", "type", "protocol", "protocol_name", "own", "table",
                         "metric", "src", "nexthops"}
    assert ecmp["src"] == "192.0.2.1" and ecmp["protocol_name"] == "v4via6"
    assert [(h["via"], h["dev"], h["neigh_state"]) for h in ecmp["nexthops"]] == [
        ("fe80::1", "eth0", "REACHABLE"), ("fe80::2", "eth1", "none")]
    assert set(ecmp["nexthops"][0]) == {"via", "family", "dev", "weight", "flags",
                                        "neigh_state", "neigh_mac"}


def test_show_routes_empty() -> None:
    result = run(["show", "routes"], fib=lambda: MemoryFib())
    assert result.exit_code == 0
    assert "no v4via6 routes installed" in result.output


def test_show_routes_backend_unavailable_is_one_line_error() -> None:
    def broken() -> MemoryFib:
        raise FibUnavailable("netlink socket refused")

    result = run(["show", "routes"], fib=broken)
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "netlink socket refused" in result.output


def test_check_json_and_exit_code() -> None:
    result = run(["check", "--json"])
    data = json.loads(result.output)
    assert result.exit_code == data["exit_code"] == 1  # fe80::2%eth1 has no neighbour entry
    assert data["summary"]["fail"] == 0 and data["summary"]["warn"] == 1
    warn = [r for r in data["results"] if r["status"] == "warn"]
    assert warn[0]["check"] == "nexthop-neighbours" and warn[0]["subject"] == "fe80::2%eth1"


def test_check_without_ipv4_warns_about_192_0_0_8() -> None:
    result = run(["check"], snapshot=lambda: snapshot(with_ipv4=False))
    assert result.exit_code == 1
    assert "192.0.0.8" in result.output
    assert "fix: give the box an IPv4 address of its own on a loopback" in result.output


def test_check_runs_without_routes_and_without_backend() -> None:
    def broken() -> MemoryFib:
        raise FibUnavailable("no netlink here")

    result = run(["check", "--json"], fib=broken)
    data = json.loads(result.output)
    assert any(r["check"] == "own-routes" and "no netlink here" in r["message"]
               for r in data["results"])
    empty = run(["check"], fib=lambda: MemoryFib())
    assert empty.exit_code == 0, empty.output


def probe_ok(dst: IPv4Address, src: IPv4Address | None, iif: str | None,
             snap: HostSnapshot) -> RouteProbe:
    entry = KernelEntry(IPv4Network("198.51.100.0/24"), "unicast", 46,
                        hops=(RouteHop(LL1, "eth0"),))
    answer = KernelEntry(IPv4Network(f"{dst}/32"), "unicast", 0,
                         prefsrc=IPv4Address("192.0.2.1"), hops=(RouteHop(LL1, "eth0"),))
    return RouteProbe(dst, src, iif, RouteLookup(dst, src, iif, entry=answer),
                      RouteLookup(dst, src, iif, True, entry), table=(entry,))


def probe_rp(dst: IPv4Address, src: IPv4Address | None, iif: str | None,
             snap: HostSnapshot) -> RouteProbe:
    back = KernelEntry(IPv4Network(f"{src}/32"), "unicast", 0,
                       hops=(RouteHop(IPv6Address("fe80::2"), "eth1"),))
    assert src is not None
    return RouteProbe(dst, src, iif, RouteLookup(dst, src, iif, errno=errno.EINVAL),
                      reverse=RouteLookup(src, entry=back))


def test_route_get_human_output() -> None:
    result = run(["route", "get", "198.51.100.7"], probe=probe_ok)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "matched: 198.51.100.0/24 proto v4via6 table main" in out
    assert "next hop: via inet6 fe80::1 dev eth0" in out
    assert "neighbour: 02:00:00:00:00:01 REACHABLE" in out
    assert "source: 192.0.2.1" in out


def test_route_get_json_rp_filter_trap_exits_1() -> None:
    snap = snapshot()
    rp = HostSnapshot(snap.kernel, snap.links, snap.addresses, snap.neighbours,
                      {**snap.sysctls, "net/ipv4/conf/all/rp_filter": "2"})
    result = run(["route", "get", "198.51.100.7", "--from", "203.0.113.1", "--iif", "eth0",
                  "--json"], probe=probe_rp, snapshot=lambda: rp)
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["verdict"] == "rp-filter" and data["drop"] is True
    assert "Invalid cross-device link" in data["explanation"]
    assert data["query"] == {"dst": "198.51.100.7", "from": "203.0.113.1", "iif": "eth0"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["route", "get", "not-an-ip"], "is not an IPv4 address"),
        (["route", "get", "2001:db8::1"], "is an IPv6 address"),
        (["route", "get", "198.51.100.7", "--from", "x"], "--from 'x' is not an IPv4"),
        (["route", "get", "198.51.100.7", "--iif", "eth0"], "--iif needs --from"),
        (["route", "get", "198.51.100.7", "--from", "203.0.113.1", "--iif", "eth9"],
         "unknown interface 'eth9'"),
    ],
)
def test_route_get_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = run(args, probe=probe_ok)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("v4via6: error:")
    assert message in lines[0]
