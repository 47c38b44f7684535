"""IPv6 unicast routes in the FIB layer, without root.

Hand-checked bytes of an IPv6 route with a plain RTA_GATEWAY and with RTA_NH_ID
(<linux/rtnetlink.h>: host-order structs, network-order addresses), the dump
request and parser for AF_INET6, NetlinkFib's IPv6 rules against a fake kernel
(metric 0 sent as 1024, foreign REPLACE refused, shared nexthop objects, flush),
MemoryFib's IPv6 behaviour, the IPv6 FibChannel and connected IPv6 prefixes.
"""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address, IPv6Network

import pytest
from test_fib_netlink_fake import FakeRtnl, open_fib

from v4via6.daemon.supervisor import HostAddresses
from v4via6.fib import nlmsg
from v4via6.fib.backend import FibOp, KernelRoute, OpKind
from v4via6.fib.memory import MemoryFib
from v4via6.fib.netlink import IP6_RT_PRIO_USER, kernel_metric6, route_key, route_key6
from v4via6.model import Hop, ModelError, NextHop, Route
from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.keys import prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop

LO3 = IPv6Network("2001:db8:ffff::3/128")
GW = IPv6Address("fe80::3")
F_ADD_ACK = nlmsg.NLM_F_REQUEST | nlmsg.NLM_F_CREATE | nlmsg.NLM_F_EXCL | nlmsg.NLM_F_ACK  # 0x605


def h(text: str) -> bytes:
    """Hex with spaces and ``#`` comments, one field per line."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()))


# nlmsghdr, rtmsg and RTA_DST / RTA_TABLE / RTA_PRIORITY shared by both encodings.
def _head(length: int) -> str:
    return f"""
        {length:02x} 00 00 00       # nlmsg_len
        18 00                       # RTM_NEWROUTE (24)
        05 06                       # REQUEST|ACK|EXCL|CREATE
        01 00 00 00  00 00 00 00    # seq 1, pid 0
        0a 80 00 00                 # AF_INET6, dst_len 128, src_len 0, tos 0
        fe 2e 00 01                 # table main, protocol 46, scope universe, RTN_UNICAST
        00 00 00 00                 # rtm_flags
        14 00 01 00  20 01 0d b8 ff ff 00 00 00 00 00 00 00 00 00 03   # RTA_DST 2001:db8:ffff::3
        08 00 0f 00  fe 00 00 00    # RTA_TABLE 254
        08 00 06 00  00 04 00 00    # RTA_PRIORITY 1024
    """


def test_ipv6_route_with_gateway_is_plain_rta_gateway() -> None:
    hop = nlmsg.HopSpec(3, nlmsg.AF_INET6, GW.packed)
    got = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, F_ADD_ACK, 1, LO3.network_address.packed, 128, 254, 1024, 46,
                           nlmsg.nexthop_tail6((hop,)))
    want = h(_head(92) + """
        08 00 04 00  03 00 00 00    # RTA_OIF 3
        14 00 05 00  fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 03   # RTA_GATEWAY fe80::3
    """)
    assert got == want
    # never RTA_VIA (18) on an IPv6 route: the kernel refuses it there
    assert b"\x18\x00\x12\x00" not in got


def test_ipv6_route_with_nexthop_object_is_rta_nh_id() -> None:
    got = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, F_ADD_ACK, 1, LO3.network_address.packed, 128, 254, 1024, 46,
                           nlmsg.nhid_tail(0x46000000))
    want = h(_head(72) + """
        08 00 1e 00  00 00 00 46    # RTA_NH_ID 0x46000000
    """)
    assert got == want


def test_ipv6_delete_and_multipath_and_dump_request() -> None:
    delete = nlmsg.pack_route(nlmsg.RTM_DELROUTE, nlmsg.NLM_F_REQUEST, 7, bytes(16), 0, 254, 1024, 46)
    assert len(delete) == 16 + 12 + 20 + 8 + 8
    assert delete[16:28] == h("0a 00 00 00  fe 2e ff 00  00 00 00 00")  # scope nowhere, type unspec
    two = nlmsg.nexthop_tail6((nlmsg.HopSpec(2, nlmsg.AF_INET6, GW.packed),
                               nlmsg.HopSpec(3, nlmsg.AF_INET6, IPv6Address("fe80::4").packed, 3)))
    assert two == h("""
        3c 00 09 00                                  # RTA_MULTIPATH, 4 + 2 * 28 = 60 bytes
        1c 00 00 00  02 00 00 00                     # rtnexthop len 28, hops 0 (weight 1), ifindex 2
        14 00 05 00  fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 03
        1c 00 00 02  03 00 00 00                     # weight 3 -> rtnh_hops 2, ifindex 3
        14 00 05 00  fe 80 00 00 00 00 00 00 00 00 00 00 00 00 00 04
    """)
    dump = nlmsg.pack_route_dump(5, 46, family=nlmsg.AF_INET6)
    assert dump[16] == nlmsg.AF_INET6 and dump[21] == 46
    assert nlmsg.pack_route_dump(5)[16] == nlmsg.AF_INET  # IPv4 stays the default


def test_parse_route_reads_an_ipv6_route_back() -> None:
    hop = nlmsg.HopSpec(3, nlmsg.AF_INET6, GW.packed)
    msg = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 1, LO3.network_address.packed, 128, 254, 1024, 46,
                           nlmsg.nexthop_tail6((hop,)))
    [m] = nlmsg.iter_messages(msg, len(msg))
    rm = nlmsg.parse_route(msg, m)
    assert (rm.dst, rm.dst_len, rm.table, rm.metric, rm.protocol) == (LO3.network_address.packed, 128, 254, 1024, 46)
    assert rm.hops == (hop,)
    assert nlmsg.parse_route_key(msg, m) == (254, LO3.network_address.packed, 128, 1024, 0)


def test_ipv6_keys_never_meet_ipv4_keys() -> None:
    assert kernel_metric6(0) == IP6_RT_PRIO_USER == 1024 and kernel_metric6(5) == 5
    dst4, dst6 = bytes(4), bytes(16)
    assert route_key6(254, dst6, 0, 0) != route_key(254, dst4, 0, 0)
    # metric and table never bleed into the 128-bit address
    assert route_key6(254, b"\xff" * 16, 128, 0) != route_key6(255, b"\xff" * 16, 128, 0)
    assert route_key6(254, b"\xff" * 16, 128, 1) != route_key6(254, b"\xff" * 16, 128, 0)


# --- NetlinkFib against a fake kernel --------------------------------------------------------


class FakeRtnl6(FakeRtnl):
    """The shared fake, with route dumps filtered by family as the kernel does."""

    def _handle(self, m: nlmsg.Message, data: bytes, body: bytes) -> int | None:
        if m.type == nlmsg.RTM_GETROUTE:
            family, want = body[0], body[5]
            for proto, rt in self.routes.values():
                if rt[0] == family and (not want or want == proto):
                    self._emit(nlmsg.RTM_NEWROUTE, m.seq, rt)
            self._done(m.seq)
            return None
        return super()._handle(m, data, body)


A = NextHop.parse("fe80::1%v0")
B = NextHop.parse("fe80::2%v1")


def v6(text: str, *via: NextHop, metric: int = 0) -> Route:
    return Route(IPv6Network(text), tuple(Hop(n) for n in via), metric)


def test_netlink_ipv6_inline_bytes_metric_and_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl6(nexthops=False)
    fib = open_fib(monkeypatch, kernel, errors_only_acks=False)
    res = fib.apply([FibOp(OpKind.ADD, v6("2001:db8:ffff::3/128", A)),
                     FibOp(OpKind.ADD, Route.simple("198.51.100.0/24", A))])
    assert (res.ok, res.errors) == (2, [])
    six = [r for r in kernel.requests if r[16] == nlmsg.AF_INET6]
    assert len(six) == 1
    seq = int.from_bytes(six[0][8:12], "little")
    assert six[0] == nlmsg.pack_route(nlmsg.RTM_NEWROUTE, F_ADD_ACK, seq, LO3.network_address.packed, 128, 254,
                                      1024, 46, nlmsg.nexthop_tail6((nlmsg.HopSpec(2, nlmsg.AF_INET6,
                                                                                   A.addr.packed),)))  # type: ignore[union-attr]
    [kr] = fib.list_routes(family=6)
    assert kr.route == v6("2001:db8:ffff::3/128", A, metric=1024) and kr.own
    assert [k.route.prefix.version for k in fib.list_routes()] == [4]  # IPv4 listing unchanged
    # flush takes IPv6 routes too
    assert fib.flush().ok == 2 and kernel.routes == {}


def test_netlink_ipv6_replace_over_foreign_route_never_reaches_the_kernel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    kernel = FakeRtnl6(nexthops=False)
    held = nlmsg.pack_route(nlmsg.RTM_NEWROUTE, 0, 0, LO3.network_address.packed, 128, 254, 1024, 186,
                            nlmsg.u32_attr(nlmsg.RTA_OIF, 2))
    kernel.routes[(254, LO3.network_address.packed, 128, 1024)] = (186, held[16:])
    fib = open_fib(monkeypatch, kernel)
    res = fib.apply([FibOp(OpKind.REPLACE, v6("2001:db8:ffff::3/128", A)),  # metric 0 = the kernel's 1024
                     FibOp(OpKind.REPLACE, v6("2001:db8:ffff::4/128", A))])
    assert res.ok == 1
    [failure] = res.errors
    assert failure.errno == errno.EEXIST and "clash with proto bgp" in failure.message
    assert kernel.routes[(254, LO3.network_address.packed, 128, 1024)][0] == 186
    assert len(kernel.requests) == 1
    assert fib.flush().ok == 1 and list(kernel.routes) == [(254, LO3.network_address.packed, 128, 1024)]


def test_netlink_ipv6_shares_nexthop_objects_with_ipv4(monkeypatch: pytest.MonkeyPatch) -> None:
    kernel = FakeRtnl6()
    fib = open_fib(monkeypatch, kernel)
    assert fib.mode == "nhobj"
    res = fib.apply([FibOp(OpKind.ADD, Route.simple("198.51.100.0/24", A)),
                     FibOp(OpKind.ADD, v6("2001:db8:ffff::3/128", A)),
                     FibOp(OpKind.ADD, v6("2001:db8:ffff::4/128", A, B))])
    assert (res.ok, res.errors) == (3, [])
    assert len(kernel.objects) == 3  # A, B and the group {A, B}
    ids = {nlmsg.parse_route_key(rt, nlmsg.Message(24, 0, 0, 0, len(rt)))[4] for _p, rt in kernel.routes.values()}
    assert len(ids) == 2 and all(ids)  # IPv4 and IPv6 routes via A point at one object
    listed = {kr.route.prefix: kr.route for kr in fib.list_routes(family=6)}
    assert listed[IPv6Network("2001:db8:ffff::4/128")].nexthops == (A, B)
    # the IPv4 route going must not free the object the IPv6 route still uses
    fib.apply([FibOp(OpKind.DELETE, Route.simple("198.51.100.0/24", A))])
    assert len(kernel.objects) == 3
    still = {kr.route.prefix: kr.route for kr in fib.list_routes(family=6)}
    assert still[LO3].nexthops == (A,)
    # a gateway of the wrong family fails before the kernel
    bad = fib.apply([FibOp(OpKind.ADD, v6("2001:db8::/32", NextHop(IPv4Address("192.0.2.1"), "v0")))])
    assert bad.errors[0].errno == errno.EINVAL
    assert fib.flush().ok == 2 and kernel.routes == {} and kernel.objects == {}


# --- MemoryFib -----------------------------------------------------------------------------------


def test_memory_fib_ipv6_rules() -> None:
    foreign = Route(IPv6Network("2001:db8:1::/64"), (Hop(A),), 1024)
    fib = MemoryFib(["v0", "v1"], [KernelRoute(foreign, 3, "boot")])
    res = fib.apply([
        FibOp(OpKind.ADD, v6("2001:db8:ffff::3/128", A)),
        FibOp(OpKind.REPLACE, v6("2001:db8:1::/64", B)),  # metric 0 is the foreign route's 1024
        FibOp(OpKind.ADD, Route.simple("198.51.100.0/24", A)),
        FibOp(OpKind.ADD, v6("2001:db8:2::/64", NextHop(IPv4Address("192.0.2.1"), "v0"))),
    ])
    assert res.ok == 2
    assert [(f.op.route.prefix, f.errno) for f in res.errors] == [
        (IPv6Network("2001:db8:1::/64"), errno.EEXIST), (IPv6Network("2001:db8:2::/64"), errno.EINVAL)]
    assert [kr.route for kr in fib.list_routes(family=6)] == [v6("2001:db8:ffff::3/128", A, metric=1024)]
    assert [kr.route.prefix for kr in fib.list_routes(own_only=False, family=6)] == [
        IPv6Network("2001:db8:1::/64"), LO3]
    assert [str(kr.route.prefix) for kr in fib.list_routes()] == ["198.51.100.0/24"]
    assert fib.withdraw_nexthop(A) == 2  # both families go with the next hop
    assert fib.apply([FibOp(OpKind.ADD, v6("2001:db8:ffff::3/128", A))]).ok == 1
    assert fib.flush().ok == 1 and fib.list_routes(family=6) == []
    assert [kr.protocol for kr in fib.list_routes(own_only=False, family=6)] == [3]


def test_route_model_takes_ipv6_prefixes_without_src() -> None:
    r = Route.simple(LO3, "fe80::3%to-r3")
    assert r.prefix == LO3 and r.key == (254, LO3, 0)
    assert r.describe() == "2001:db8:ffff::3/128 via inet6 fe80::3 dev to-r3"
    with pytest.raises(ModelError, match="no IPv4 src"):
        Route.simple(LO3, "fe80::3%to-r3", src="203.0.113.1")


# --- FIB channel and origination ------------------------------------------------------------------


def test_fib_channel_on_the_ipv6_rib() -> None:
    rib = LocRib(family=6)
    with pytest.raises(ValueError, match="ipv6=True"):
        FibChannel(rib)
    with pytest.raises(ValueError, match="no IPv4 src"):
        FibChannel(rib, ipv6=True, src=IPv4Address("203.0.113.1"))
    with pytest.raises(ValueError, match="IPv6 Loc-RIB"):
        FibChannel(LocRib(family=4), ipv6=True)
    fib = FibChannel(rib, ipv6=True)
    r3 = Channel(rib, PeerInfo("r3", PeerKind.EBGP, address=GW, router_id=3, asn=65003, ifname="to-r3"))
    key = prefix_key(LO3)
    r3.announce([key], PlainAttrs.with_path(65003), PlainNextHop(None, GW))
    batch = fib.take_batch()
    assert batch.family == 6
    [op] = batch.to_ops()
    assert op.kind is OpKind.REPLACE and op.route == Route.simple(LO3, "fe80::3%to-r3")
    assert list(fib.desired()) == [op.route]
    r3.withdraw([key])
    [gone] = fib.take_batch().to_ops()
    assert gone.kind is OpKind.DELETE and gone.route.prefix == LO3


def test_connected6_is_global_prefixes_only() -> None:
    host = HostAddresses(ipv6=[
        ("lo", IPv6Address("::1"), 128),
        ("lo", IPv6Address("2001:db8:ffff::3"), 128),
        ("to-r2", IPv6Address("fe80::3"), 64),
        ("eth0", IPv6Address("2001:db8:5::9"), 64),
    ])
    assert [str(n) for n in host.connected6()] == ["2001:db8:5::/64", "2001:db8:ffff::3/128"]
