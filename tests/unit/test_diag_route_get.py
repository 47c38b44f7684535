"""Route-get verdicts on hand-built kernel answers: each way a packet passes or drops."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

from v4via6.diag.route_get import explain_route, longest_match
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

DST = IPv4Address("198.51.100.7")
SRC = IPv4Address("203.0.113.1")
LL1 = IPv6Address("fe80::1")
LL2 = IPv6Address("fe80::2")
LOOP4 = Address("lo", IPv4Address("127.0.0.1"), 8, SCOPE_HOST)
ROUTER_ID = Address("lo", IPv4Address("192.0.2.1"), 32)
LINKS = (Link(1, "lo", loopback=True), Link(2, "eth0"), Link(3, "eth1"))


def snapshot(
    *,
    addresses: Sequence[Address] = (LOOP4, ROUTER_ID),
    neighbours: Sequence[Neighbour] = (),
    sysctls: dict[str, str] | None = None,
) -> HostSnapshot:
    values = {
        "net/ipv4/ip_forward": "1",
        "net/ipv4/conf/all/rp_filter": "0",
        "net/ipv4/conf/eth0/rp_filter": "0",
        "net/ipv4/conf/eth0/forwarding": "1",
        "net/ipv4/conf/eth1/rp_filter": "0",
    }
    values.update(sysctls or {})
    lls = (
        Address("eth0", IPv6Address("fe80::10"), 64, SCOPE_LINK),
        Address("eth1", IPv6Address("fe80::11"), 64, SCOPE_LINK),
    )
    return HostSnapshot(
        KernelVersion(6, 18), LINKS, tuple(addresses) + lls, tuple(neighbours), values
    )


OWN = KernelEntry(IPv4Network("198.51.100.0/24"), "unicast", 46, hops=(RouteHop(LL1, "eth0"),))
BACK = KernelEntry(IPv4Network("203.0.113.0/24"), "unicast", 46, hops=(RouteHop(LL2, "eth1"),))
TABLE = (OWN, BACK)


def answer(dst: IPv4Address, *hops: RouteHop, src: IPv4Address | None = None,
           kind: str = "unicast") -> KernelEntry:
    return KernelEntry(IPv4Network(f"{dst}/32"), kind, 0, prefsrc=src, hops=hops)


def refused(dst: IPv4Address, code: int, *, src: IPv4Address | None = None,
            iif: str | None = None, fib_match: bool = False) -> RouteLookup:
    return RouteLookup(dst, src, iif, fib_match, None, code)


ROUTER = IPv4Address("192.0.2.1")


def ok_probe(src: IPv4Address | None = ROUTER) -> RouteProbe:
    return RouteProbe(
        DST, None, None,
        path=RouteLookup(DST, entry=answer(DST, RouteHop(LL1, "eth0"), src=src)),
        match=RouteLookup(DST, fib_match=True, entry=OWN),
        table=TABLE,
    )


def test_output_path_names_matched_route_nexthop_neighbour_and_source() -> None:
    neigh = Neighbour(LL1, "eth0", "REACHABLE", "02:00:00:00:00:01")
    expl = explain_route(ok_probe(), snapshot(neighbours=(neigh,)))
    assert expl.verdict == "output" and not expl.drop
    assert expl.matched is not None and expl.matched.entry.prefix == OWN.prefix
    assert expl.matched.source == "kernel"
    assert expl.dev == "eth0"
    assert expl.source == IPv4Address("192.0.2.1")
    assert [h.describe() for h in expl.nexthops] == ["via inet6 fe80::1 dev eth0"]
    data = expl.to_json()
    assert data["nexthops"][0]["neigh_state"] == "REACHABLE"
    assert data["nexthops"][0]["neigh_mac"] == "02:00:00:00:00:01"
    assert data["matched"]["protocol"] == 46 and data["matched"]["own"] is True
    assert data["matched"]["nexthops"][0]["neigh_state"] == "REACHABLE"
    assert data["kernel_error"] is None
    assert set(data) == {
        "query", "verdict", "drop", "explanation", "fix", "kernel_error", "matched",
        "nexthops", "dev", "src", "icmp_source", "notes",
    }


def test_neighbour_failed_is_a_drop() -> None:
    neigh = Neighbour(LL1, "eth0", "FAILED", None)
    expl = explain_route(ok_probe(), snapshot(neighbours=(neigh,)))
    assert expl.verdict == "neighbour-failed" and expl.drop
    assert expl.fix is not None and "ping -6 -c1 fe80::1%eth0" in expl.fix


def test_missing_neighbour_is_a_note_not_a_drop() -> None:
    expl = explain_route(ok_probe(), snapshot())
    assert expl.verdict == "output"
    assert any("no neighbour entry for fe80::1%eth0" in n for n in expl.notes)


def test_box_without_ipv4_reports_192_0_0_8_as_icmp_source() -> None:
    expl = explain_route(ok_probe(src=None), snapshot(addresses=(LOOP4,)))
    assert expl.icmp.address == IPv4Address("192.0.0.8") and expl.icmp.dummy
    assert "/32 dev lo" in expl.icmp.note
    assert any("192.0.0.8" in n for n in expl.notes)
    assert expl.to_json()["icmp_source"]["address"] == "192.0.0.8"


def test_icmp_source_follows_route_back_to_sender() -> None:
    probe = RouteProbe(
        DST, SRC, None,
        path=RouteLookup(DST, SRC, entry=answer(DST, RouteHop(LL1, "eth0"))),
        reverse=RouteLookup(SRC, entry=answer(SRC, RouteHop(LL2, "eth1"),
                                              src=IPv4Address("192.0.2.1"))),
        table=TABLE,
    )
    expl = explain_route(probe, snapshot())
    assert expl.icmp.address == IPv4Address("192.0.2.1") and not expl.icmp.dummy


def test_no_route() -> None:
    probe = RouteProbe(DST, None, None, path=refused(DST, errno.ENETUNREACH), table=())
    expl = explain_route(probe, snapshot())
    assert expl.verdict == "no-route" and expl.drop and expl.matched is None
    assert expl.to_json()["kernel_error"] == {
        "errno": errno.ENETUNREACH, "name": "ENETUNREACH", "message": "Network is unreachable",
    }


def _special(kind: str, code: int) -> RouteProbe:
    entry = KernelEntry(IPv4Network("198.51.100.0/25"), kind, 3)
    return RouteProbe(DST, None, None, path=refused(DST, code),
                      match=refused(DST, code, fib_match=True), table=(*TABLE, entry))


def test_blackhole_unreachable_prohibit() -> None:
    for kind, code in (("blackhole", errno.EINVAL), ("unreachable", errno.EHOSTUNREACH),
                       ("prohibit", errno.EACCES)):
        expl = explain_route(_special(kind, code), snapshot())
        assert expl.verdict == kind and expl.drop
        assert expl.matched is not None and expl.matched.source == "table"
        assert expl.matched.entry.prefix == IPv4Network("198.51.100.0/25")
        assert expl.fix is not None


def forwarded(code: int, *, reverse: RouteLookup | None = None) -> RouteProbe:
    return RouteProbe(
        DST, SRC, "eth0",
        path=refused(DST, code, src=SRC, iif="eth0"),
        match=refused(DST, code, src=SRC, iif="eth0", fib_match=True),
        output=RouteLookup(DST, entry=answer(DST, RouteHop(LL1, "eth0"))),
        reverse=reverse or RouteLookup(SRC, entry=answer(SRC, RouteHop(LL2, "eth1"))),
        table=TABLE,
    )


def test_rp_filter_trap_on_interface_without_ipv4() -> None:
    snap = snapshot(sysctls={"net/ipv4/conf/all/rp_filter": "2"})
    for code in (errno.EXDEV, errno.EINVAL):  # older kernels EXDEV, 6.18 EINVAL
        expl = explain_route(forwarded(code), snap)
        assert expl.verdict == "rp-filter" and expl.drop
        assert "Invalid cross-device link" in expl.explanation
        assert "no IPv4 address" in expl.explanation and "leaves by eth1" in expl.explanation
        assert "loose" in expl.explanation
        assert expl.fix is not None
        assert "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0" in expl.fix
        assert any("would leave via inet6 fe80::1 dev eth0" in n for n in expl.notes)


def test_strict_rp_filter_on_interface_with_ipv4() -> None:
    snap = snapshot(
        addresses=(LOOP4, ROUTER_ID, Address("eth0", IPv4Address("192.0.2.9"), 24)),
        sysctls={"net/ipv4/conf/eth0/rp_filter": "1"},
    )
    expl = explain_route(forwarded(errno.EXDEV), snap)
    assert expl.verdict == "rp-filter" and "strict" in expl.explanation
    assert expl.fix is not None and "rp_filter=2" in expl.fix


def test_loose_rp_filter_without_route_back() -> None:
    snap = snapshot(
        addresses=(LOOP4, ROUTER_ID, Address("eth0", IPv4Address("192.0.2.9"), 24)),
        sysctls={"net/ipv4/conf/all/rp_filter": "2"},
    )
    expl = explain_route(
        forwarded(errno.EXDEV, reverse=refused(SRC, errno.ENETUNREACH)), snap
    )
    assert expl.verdict == "rp-filter" and "no route back" in expl.explanation


def test_martian_source_when_rp_filter_is_off() -> None:
    expl = explain_route(forwarded(errno.EINVAL), snapshot())
    assert expl.verdict == "martian-source" and expl.drop


def test_packet_from_own_address_is_martian() -> None:
    probe = forwarded(errno.EINVAL)
    own = RouteProbe(DST, IPv4Address("192.0.2.1"), "eth0", probe.path, probe.match,
                     probe.output, probe.reverse, probe.table)
    expl = explain_route(own, snapshot(sysctls={"net/ipv4/conf/all/rp_filter": "2"}))
    assert expl.verdict == "martian-source"


def test_forwarding_disabled_on_incoming_interface() -> None:
    snap = snapshot(sysctls={"net/ipv4/conf/eth0/forwarding": "0"})
    expl = explain_route(forwarded(errno.EHOSTUNREACH), snap)
    assert expl.verdict == "forwarding-disabled"
    assert expl.fix == "sysctl -w net.ipv4.conf.eth0.forwarding=1"


def test_forwarded_path_ok() -> None:
    probe = RouteProbe(
        DST, SRC, "eth1",
        path=RouteLookup(DST, SRC, "eth1", entry=answer(DST, RouteHop(LL1, "eth0"))),
        match=RouteLookup(DST, SRC, "eth1", True, OWN),
        output=RouteLookup(DST, entry=answer(DST, RouteHop(LL1, "eth0"), src=IPv4Address(
            "192.0.2.1"))),
        reverse=RouteLookup(SRC, entry=answer(SRC, RouteHop(LL2, "eth1"))),
        table=TABLE,
    )
    expl = explain_route(probe, snapshot())
    assert expl.verdict == "forward" and not expl.drop
    assert expl.source == SRC  # forwarded packets keep their source


def test_local_destination() -> None:
    me = IPv4Address("192.0.2.1")
    local = KernelEntry(IPv4Network("192.0.2.1/32"), "local", 2, table=255,
                        hops=(RouteHop(None, "lo"),))
    probe = RouteProbe(me, None, None,
                       path=RouteLookup(me, entry=answer(me, RouteHop(None, "lo"), kind="local")),
                       table=(*TABLE, local))
    expl = explain_route(probe, snapshot())
    assert expl.verdict == "local" and not expl.drop
    assert expl.matched is not None and expl.matched.entry.table == 255


def test_other_kernel_errors_are_reported_verbatim() -> None:
    probe = RouteProbe(DST, None, None, path=refused(DST, errno.ENOBUFS))
    expl = explain_route(probe, snapshot())
    assert expl.verdict == "error" and "No buffer space" in expl.explanation


def test_longest_match_prefers_local_table_then_longest_prefix() -> None:
    wide = KernelEntry(IPv4Network("0.0.0.0/0"), "unicast", 3, hops=(RouteHop(LL1, "eth0"),))
    high_metric = KernelEntry(IPv4Network("198.51.100.0/24"), "unicast", 4, metric=100)
    table = (wide, OWN, high_metric)
    found = longest_match(table, DST)
    assert found is OWN
    assert longest_match(table, IPv4Address("192.0.2.200")) is wide
    assert longest_match((OWN,), IPv4Address("192.0.2.200")) is None
    assert ip_address("198.51.100.7") in OWN.prefix
