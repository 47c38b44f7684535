"""``show routes`` views: stable JSON keys and readable lines."""

from __future__ import annotations

import json
from ipaddress import IPv6Address

from v4via6.rib.channel import Channel
from v4via6.rib.keys import prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop
from v4via6.rib.show import format_route, show_route

K = prefix_key("198.51.100.0/24")
PATH_KEYS = {
    "peer",
    "peer_type",
    "peer_address",
    "state",
    "reason",
    "next_hop",
    "interface",
    "igp_cost",
    "local_pref",
    "as_path",
    "as_path_len",
    "origin",
    "med",
    "communities",
    "large_communities",
}


def test_show_route_json_and_text() -> None:
    rib = LocRib()
    a = Channel(rib, PeerInfo("a", PeerKind.EBGP, IPv6Address("fe80::1"), 1, 65001, "eth0"))
    b = Channel(rib, PeerInfo("b", PeerKind.EBGP, IPv6Address("fe80::2"), 2, 65002, "eth1"))
    a.announce(
        [K],
        PlainAttrs.with_path(65001, 65010, communities=(65001 << 16 | 5,)),
        PlainNextHop(None, IPv6Address("fe80::1")),
    )
    b.announce([K], PlainAttrs.with_path(65002), PlainNextHop(None, IPv6Address("fe80::2")))
    view = show_route(rib, K)
    assert set(view) == {"prefix", "best_count", "reasons", "paths"}
    assert view["prefix"] == "198.51.100.0/24"
    assert view["reasons"] == ["as-path 1 < 2"]
    best, lost = view["paths"]
    assert set(best) == PATH_KEYS
    assert (best["peer"], best["state"], best["next_hop"], best["interface"]) == ("b", "best", "fe80::2", "eth1")
    assert (lost["state"], lost["reason"], lost["as_path"]) == ("lost", "as-path 2 > 1", "65001 65010")
    assert lost["communities"] == ["65001:5"]
    json.dumps(view)
    lines = format_route(view)
    assert lines[0] == "198.51.100.0/24  (as-path 1 < 2)"
    assert lines[1].startswith("  * b ")
    assert "as-path 2 > 1" in lines[2]


def test_show_unknown_prefix() -> None:
    view = show_route(LocRib(), K)
    assert view["paths"] == [] and view["best_count"] == 0
    assert format_route(view) == ["198.51.100.0/24  (no usable path)"]
