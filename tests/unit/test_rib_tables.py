"""Adj-RIB-In, Loc-RIB deltas, withdraw_all, interning, next-hop resolution."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.model import NextHop
from v4via6.rib.adj_in import AdjRibIn
from v4via6.rib.channel import Channel
from v4via6.rib.intern import Interner
from v4via6.rib.keys import format_key, key_to_ipv4, prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.nexthop import NextHopResolver
from v4via6.rib.path import PathRef, PeerInfo, PeerKind, Resolution
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop
from v4via6.rib.policy import parse_policy

LL1 = PlainNextHop(None, IPv6Address("fe80::1"))


def peer(name: str, rid: int, ifname: str = "eth0", multipath: bool = False) -> PeerInfo:
    return PeerInfo(name, PeerKind.EBGP, IPv6Address(f"fe80::{rid}"), rid, 65000 + rid, ifname, multipath=multipath)


def keys(n: int, base: str = "198.51.100.0") -> list[int]:
    start = int(IPv4Address(base)) << 8
    return [start + (i << 8) + 32 for i in range(n)]  # distinct /32s


def test_prefix_key_roundtrip() -> None:
    key = prefix_key("198.51.100.0/24")
    assert key == (int(IPv4Address("198.51.100.0")) << 8) | 24
    assert str(key_to_ipv4(key)) == "198.51.100.0/24"
    assert format_key(prefix_key("2001:db8::/32"), 6) == "2001:db8::/32"
    with pytest.raises(ValueError):
        prefix_key("198.51.100.1/24")


# --- Adj-RIB-In ---------------------------------------------------------------------


def test_adj_in_bulk_announce_withdraw() -> None:
    p = peer("a", 1)
    adj = AdjRibIn(p)
    path = PathRef(PlainAttrs(), LL1, p)
    adj.announce(keys(10), path)
    assert len(adj) == 10
    assert adj.distinct_paths() == 1
    assert adj.withdraw([*keys(3), prefix_key("203.0.113.0/24")]) == keys(3)
    assert len(adj) == 7
    assert sorted(adj.withdraw_all()) == keys(10)[3:]
    assert len(adj) == 0


def test_adj_in_groups_by_path() -> None:
    p = peer("a", 1)
    adj = AdjRibIn(p)
    x, y = PathRef(PlainAttrs(med=1), LL1, p), PathRef(PlainAttrs(med=2), LL1, p)
    adj.announce(keys(4), x)
    adj.announce(keys(2), y)
    assert adj.groups() == {y: keys(2), x: keys(4)[2:]}


# --- Loc-RIB deltas -----------------------------------------------------------------


def test_update_reports_only_changed_prefixes() -> None:
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    first = a.announce(keys(5), PlainAttrs.with_path(65001), LL1).changes
    assert [c[0] for c in first] == keys(5)
    assert all(old is None and new is not None for _, old, new in first)
    # The same again: nothing changed, no deltas.
    assert a.announce(keys(5), PlainAttrs.with_path(65001), LL1).changes == []
    # One prefix gets other attributes: one delta.
    again = a.announce(keys(1), PlainAttrs.with_path(65001, med=3), LL1).changes
    assert len(again) == 1


def test_key_listed_twice_is_one_change() -> None:
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    k = keys(1)[0]
    assert len(a.announce([k, k], PlainAttrs(), LL1).changes) == 1
    assert len(a.withdraw([k, k]).changes) == 1


def test_fast_path_used_while_other_sources_are_empty() -> None:
    rib = LocRib()
    a, b = Channel(rib, peer("a", 1)), Channel(rib, peer("b", 2, "eth1"))
    a.announce(keys(3), PlainAttrs.with_path(65001, 65002), LL1)
    assert len(rib) == 3
    # b then sends a better path for one prefix: the general decision takes over.
    b.announce(keys(1), PlainAttrs.with_path(65002), LL1)
    assert rib.winner(keys(1)[0]) is b.accepted[keys(1)[0]]
    assert rib.winner(keys(2)[1]) is a.accepted[keys(2)[1]]


def test_best_sets_are_shared() -> None:
    rib = LocRib()
    Channel(rib, peer("a", 1)).announce(keys(1000), PlainAttrs.with_path(65001), LL1)
    assert len(rib) == 1000
    assert rib.distinct_best_sets() == 1


def test_withdraw_all_deltas_fall_back_to_other_peer() -> None:
    rib = LocRib()
    a, b = Channel(rib, peer("a", 1)), Channel(rib, peer("b", 2, "eth1"))
    shared, only_a = keys(3), keys(2, "203.0.113.0")
    a.announce(shared + only_a, PlainAttrs.with_path(65001), LL1)  # a wins (router id 1)
    b.announce(shared, PlainAttrs.with_path(65002), LL1)
    assert b.counters.accepted == 3
    result = a.withdraw_all()
    by_key = {k: (old, new) for k, old, new in result.changes}
    assert set(by_key) == set(shared + only_a)
    for k in shared:
        old, new = by_key[k]
        assert old is not None and old[0][0].peer.name == "a"
        assert new is not None and new[0][0].peer.name == "b"
    for k in only_a:
        assert by_key[k][1] is None
    assert a.counters.received == 0 and a.counters.accepted == 0
    assert len(rib) == 3


def test_withdraw_reports_present_keys_only() -> None:
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    a.announce(keys(2), PlainAttrs(), LL1)
    res = a.withdraw([*keys(2), prefix_key("203.0.113.0/24")])
    assert [c[0] for c in res.changes] == keys(2)
    assert len(rib) == 0


def test_unresolvable_paths_are_kept_but_not_best() -> None:
    rib = LocRib()
    lonely = PeerInfo("x", PeerKind.EBGP, IPv6Address("fe80::9"), 9, 65009, None)
    ch = Channel(rib, lonely)
    ch.announce(keys(2), PlainAttrs(), LL1)  # link-local next hop, no interface known
    assert ch.counters.accepted == 2
    assert len(rib) == 0
    assert rib.explain(keys(1)[0]).candidates[0].state == "unresolved"


def test_refresh_nexthops_recomputes() -> None:
    reachable: dict[IPv6Address | IPv4Address, tuple[str | None, int]] = {}
    rib = LocRib(NextHopResolver(lambda addr: reachable.get(addr)))
    ch = Channel(rib, PeerInfo("g", PeerKind.IBGP, IPv6Address("2001:db8::9"), 9, 65000))
    nh = PlainNextHop(IPv6Address("2001:db8::1"), None)
    ch.announce(keys(3), PlainAttrs(), nh)
    assert len(rib) == 0
    reachable[IPv6Address("2001:db8::1")] = ("eth2", 5)
    changes = rib.refresh_nexthops()
    assert len(changes) == 3 and len(rib) == 3
    res = rib.best[keys(1)[0]][0][1]
    assert res == Resolution(NextHop(IPv6Address("2001:db8::1"), "eth2"), 5)


def test_recheck_nexthops_recomputes_only_when_a_next_hop_moved() -> None:
    """After the host's routes are read again, a global next hop that became reachable,
    changed cost or interface, or became unreachable is recomputed; if none moved,
    nothing is (the cached resolutions stay the same objects)."""
    reachable: dict[IPv6Address | IPv4Address, tuple[str | None, int]] = {}
    rib = LocRib(NextHopResolver(lambda addr: reachable.get(addr)))
    ch = Channel(rib, PeerInfo("g", PeerKind.IBGP, IPv6Address("2001:db8::9"), 9, 65000))
    local = Channel(rib, peer("a", 1))  # a link-local next hop: not the host's business
    ch.announce(keys(3), PlainAttrs(), PlainNextHop(IPv6Address("2001:db8::1"), None))
    local.announce(keys(2, "203.0.113.0"), PlainAttrs(), LL1)
    assert len(rib) == 2 and rib.recheck_nexthops() == []
    reachable[IPv6Address("2001:db8::1")] = ("eth2", 5)
    changes = rib.recheck_nexthops()
    assert sorted(k for k, _old, _new in changes) == sorted(keys(3)) and len(rib) == 5
    first = rib.best[keys(1)[0]][0][1]
    assert first == Resolution(NextHop(IPv6Address("2001:db8::1"), "eth2"), 5)
    assert rib.recheck_nexthops() == [] and rib.best[keys(1)[0]][0][1] is first
    reachable[IPv6Address("2001:db8::1")] = ("eth3", 5)
    assert len(rib.recheck_nexthops()) == 3
    assert rib.best[keys(1)[0]][0][1].nexthop == NextHop(IPv6Address("2001:db8::1"), "eth3")
    del reachable[IPv6Address("2001:db8::1")]
    assert len(rib.recheck_nexthops()) == 3 and len(rib) == 2


def test_detach_removes_source() -> None:
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    a.announce(keys(4), PlainAttrs(), LL1)
    assert len(a.close()) == 4
    assert len(rib) == 0 and rib.sources == ()


# --- interning ----------------------------------------------------------------------


def test_100k_routes_with_100_attribute_sets_store_100_objects() -> None:
    rib = LocRib()
    ch = Channel(rib, peer("a", 1), import_policy=parse_policy({"set_local_pref": 200, "add_community": ["65010:7"]}))
    all_keys = keys(100_000, "10.0.0.0")
    for i in range(100):
        # A fresh (equal) object each time, as a decoder without interning would give.
        attrs = PlainAttrs.with_path(65001, 64512 + i, med=i)
        ch.announce(all_keys[i * 1000 : (i + 1) * 1000], attrs, LL1)
    for i in range(100):  # the same sets again, new objects: still 100
        ch.announce(all_keys[i * 1000 : i * 1000 + 10], PlainAttrs.with_path(65001, 64512 + i, med=i), LL1)
    assert len(ch.adj_in) == 100_000
    assert len({id(p.attrs) for p in ch.adj_in.routes.values()}) == 100
    post = {id(p.attrs) for p in ch.accepted.values()}
    assert len(post) == 100
    assert all(p.attrs.local_pref == 200 for p in ch.accepted.values())
    assert rib.distinct_best_sets() == 100
    assert len({id(p) for p in ch.accepted.values()}) == 100


def test_interner_is_bounded() -> None:
    it: Interner[tuple[int, ...]] = Interner(max_size=4)
    first = it.intern((1,))
    for i in range(2, 10):
        it.intern((i,))
    assert len(it) <= 4
    again = (9,)
    assert it.intern(again) == again
    assert it.intern((1,)) == first  # evicted ones still compare equal
    with pytest.raises(ValueError, match="max_size"):
        Interner(1)


# --- next-hop encodings -------------------------------------------------------------


@pytest.mark.parametrize(
    ("glob", "ll", "expect"),
    [
        (None, "fe80::2", NextHop(IPv6Address("fe80::2"), "eth3")),  # [LL] 16 bytes
        ("2001:db8::2", "fe80::2", NextHop(IPv6Address("fe80::2"), "eth3")),  # [global, LL]
        ("::", "fe80::2", NextHop(IPv6Address("fe80::2"), "eth3")),  # BIRD [::, LL]
        ("fe80::2", "fe80::2", NextHop(IPv6Address("fe80::2"), "eth3")),  # FRR [LL, LL]
        ("fe80::2", None, NextHop(IPv6Address("fe80::2"), "eth3")),  # LL in the global slot
        ("2001:db8::2", None, NextHop(IPv6Address("2001:db8::2"), None)),  # global only
    ],
)
def test_resolver_accepts_wild_encodings(glob: str | None, ll: str | None, expect: NextHop) -> None:
    p = PeerInfo("s", PeerKind.EBGP, IPv6Address("fe80::2"), 2, 65002, "eth3")
    nh = PlainNextHop(IPv6Address(glob) if glob else None, IPv6Address(ll) if ll else None)
    assert NextHopResolver().resolve(PathRef(PlainAttrs(), nh, p)) == Resolution(expect, 0)


def test_resolver_global_lookup_and_failure() -> None:
    p = PeerInfo("s", PeerKind.IBGP, IPv6Address("2001:db8::9"), 9, 65000)
    path = PathRef(PlainAttrs(), PlainNextHop(IPv6Address("2001:db8::1"), None), p)
    assert NextHopResolver(lambda a: None).resolve(path) is None
    assert NextHopResolver(lambda a: ("eth0", 7)).resolve(path) == Resolution(
        NextHop(IPv6Address("2001:db8::1"), "eth0"), 7
    )
    static = PathRef(PlainAttrs(), NextHop.parse("fe80::5%eth1"), PeerInfo.local())
    assert NextHopResolver().resolve(static) == Resolution(NextHop.parse("fe80::5%eth1"), 0)
    assert NextHopResolver().resolve(PathRef(PlainAttrs(), None, PeerInfo.local())) == Resolution(None, 0)
