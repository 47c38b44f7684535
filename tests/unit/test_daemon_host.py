"""Global next hops resolve through the kernel's IPv6 routes: on-link only, longest match."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network

from v4via6.daemon.supervisor import HostAddresses


def host() -> HostAddresses:
    return HostAddresses(
        ipv4=[("lo", IPv4Address("127.0.0.1"), 8), ("lo", IPv4Address("203.0.113.1"), 32),
              ("eth1", IPv4Address("192.0.2.1"), 24)],
        ipv6=[("eth0", IPv6Address("fe80::1"), 64), ("eth2", IPv6Address("2001:db8:2::1"), 64)],
        routes6=[
            (IPv6Network("2001:db8:2::/64"), "eth2", False, 256),
            (IPv6Network("2001:db8:5::/48"), "eth0", False, 1024),
            (IPv6Network("2001:db8:5:1::/64"), "eth0", True, 20),
            (IPv6Network("::/0"), "eth0", True, 1024),
        ],
    )


def test_on_link_route_resolves_with_its_metric() -> None:
    assert host().resolve_ipv6(IPv6Address("2001:db8:5:9::7")) == ("eth0", 1024)


def test_longest_match_behind_a_gateway_is_unresolved() -> None:
    assert host().resolve_ipv6(IPv6Address("2001:db8:5:1::7")) is None
    assert host().resolve_ipv6(IPv6Address("2001:db8:9::1")) is None  # only the default route


def test_addresses_router_id_loopback_and_connected() -> None:
    h = host()
    assert h.router_id() == IPv4Address("203.0.113.1")
    assert h.loopback_src() == IPv4Address("203.0.113.1")
    assert [str(n) for n in h.connected()] == ["192.0.2.0/24", "203.0.113.1/32"]
    assert h.link_local("eth0") == IPv6Address("fe80::1")
    assert h.globals_on("eth2") == [IPv6Address("2001:db8:2::1")]
