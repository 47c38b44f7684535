"""The wire codec's PathAttributes and BgpNextHop work in the RIB as they are."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PeerInfo, PeerKind
from v4via6.rib.policy import parse_policy

attributes = pytest.importorskip("v4via6.bgp.wire.attributes")
nexthop = pytest.importorskip("v4via6.bgp.wire.nexthop")
prefixes = pytest.importorskip("v4via6.bgp.wire.prefixes")


def test_wire_objects_flow_through_policy_best_path_and_fib() -> None:
    rib = LocRib()
    fib = FibChannel(rib)
    ibgp = PeerInfo("i", PeerKind.IBGP, IPv6Address("fe80::2"), 2, 65000, "eth0")
    ch = Channel(rib, ibgp, import_policy=parse_policy({"set_med": 5, "add_community": ["65000:9"]}))
    attrs = attributes.make_attributes(
        origin=0,
        as_path=((2, (65001, 65002)),),
        originator_id=IPv4Address("192.0.2.7"),
    )
    nh = nexthop.BgpNextHop(None, IPv6Address("fe80::2"))
    data = bytes([24, 198, 51, 100, 25, 203, 0, 113, 128])
    keys = prefixes.decode_prefixes(data, 0, len(data), 1)
    ch.announce(keys, attrs, nh)
    best = rib.winner(keys[0])
    assert best is not None
    assert best.attrs.med == 5 and (65000 << 16 | 9) in best.attrs.communities
    assert best.attrs.as_path_len == 2
    assert rib.explain(keys[0]).reasons == ("only path",)
    ops = fib.take_batch().to_ops()
    assert sorted(o.route.describe() for o in ops) == [
        "198.51.100.0/24 via inet6 fe80::2 dev eth0",
        "203.0.113.128/25 via inet6 fe80::2 dev eth0",
    ]


def test_originator_id_from_wire_breaks_ties() -> None:
    rib = LocRib()
    a = Channel(rib, PeerInfo("a", PeerKind.IBGP, IPv6Address("fe80::1"), 1, 65000, "eth0"))
    b = Channel(rib, PeerInfo("b", PeerKind.IBGP, IPv6Address("fe80::2"), 2, 65000, "eth1"))
    key = (int(IPv4Address("198.51.100.0")) << 8) | 24
    a.announce(
        [key],
        attributes.make_attributes(originator_id=IPv4Address("192.0.2.9")),
        nexthop.BgpNextHop(None, IPv6Address("fe80::1")),
    )
    b.announce([key], attributes.make_attributes(), nexthop.BgpNextHop(None, IPv6Address("fe80::2")))
    assert rib.explain(key).reasons == ("router-id 0.0.0.2 < 192.0.2.9",)
