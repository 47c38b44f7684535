"""Parsing RTM_NEWROUTE messages (pyroute2's dict form) into plain route data."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Any

from v4via6.host.route_msg import RouteHop, parse_route_message

NAMES = {1: "lo", 2: "eth0", 3: "eth1"}


def msg(attrs: list[tuple[str, Any]], **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"family": 2, "dst_len": 24, "proto": 46, "type": 1, "flags": 0}
    base.update(fields)
    base["attrs"] = attrs
    return base


def test_single_via_inet6() -> None:
    entry = parse_route_message(msg([
        ("RTA_TABLE", 254), ("RTA_DST", "198.51.100.0"), ("RTA_PRIORITY", 20),
        ("RTA_PREFSRC", "192.0.2.1"),
        ("RTA_VIA", {"family": 10, "addr": "fe80::1"}), ("RTA_OIF", 2),
    ]), NAMES)
    assert entry.prefix == IPv4Network("198.51.100.0/24")
    assert entry.kind == "unicast" and entry.protocol == 46 and entry.table == 254
    assert entry.metric == 20 and entry.prefsrc == IPv4Address("192.0.2.1")
    assert entry.hops == (RouteHop(IPv6Address("fe80::1"), "eth0"),)
    assert entry.hops[0].describe() == "via inet6 fe80::1 dev eth0"


def test_multipath_weights_and_flags() -> None:
    entry = parse_route_message(msg([
        ("RTA_TABLE", 254), ("RTA_DST", "192.0.2.64"),
        ("RTA_MULTIPATH", [
            {"attrs": [("RTA_VIA", {"family": 10, "addr": "fe80::1"})], "flags": 17,
             "hops": 0, "oif": 2},
            {"attrs": [("RTA_VIA", {"family": 10, "addr": "fe80::2"})], "flags": 0,
             "hops": 2, "oif": 3},
        ]),
    ], dst_len=26), NAMES)
    assert [(h.via, h.dev, h.weight, h.flags) for h in entry.hops] == [
        (IPv6Address("fe80::1"), "eth0", 1, ("dead", "linkdown")),
        (IPv6Address("fe80::2"), "eth1", 3, ()),
    ]


def test_blackhole_default_and_ipv4_gateway() -> None:
    hole = parse_route_message(msg([("RTA_DST", "192.0.2.128")], type=6, dst_len=25), NAMES)
    assert hole.kind == "blackhole" and hole.hops == ()
    default = parse_route_message(
        msg([("RTA_GATEWAY", "192.0.2.254"), ("RTA_OIF", 2)], dst_len=0, proto=3, table=254),
        NAMES,
    )
    assert default.prefix == IPv4Network("0.0.0.0/0")
    assert default.hops[0].family == "inet" and default.hops[0].describe() == (
        "via inet 192.0.2.254 dev eth0")


def test_unknown_interface_index_is_shown_as_number() -> None:
    entry = parse_route_message(msg([("RTA_DST", "198.51.100.0"), ("RTA_OIF", 42)]), NAMES)
    assert entry.hops == (RouteHop(None, "42"),)
    assert entry.hops[0].describe() == "dev 42"
