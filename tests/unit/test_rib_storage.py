"""Loc-RIB storage: a prefix only the dominant source holds costs the Loc-RIB nothing;
contested prefixes keep an entry; rebasing onto a bigger source; the will_change rule."""

from __future__ import annotations

import gc
import tracemalloc
from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.fib.backend import OpKind
from v4via6.model import Hop
from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.loc_rib import REBASE_MIN, LocRib
from v4via6.rib.path import PathRef, PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop
from v4via6.rib.policy import parse_policy

LL1 = PlainNextHop(None, IPv6Address("fe80::1"))
LL2 = PlainNextHop(None, IPv6Address("fe80::2"))


def peer(name: str, rid: int) -> PeerInfo:
    return PeerInfo(name, PeerKind.EBGP, IPv6Address(f"fe80::{rid}"), rid, 65000 + rid, f"eth{rid}")


def keys(n: int, base: str = "198.51.100.0") -> list[int]:
    start = int(IPv4Address(base)) << 8
    return [start + (i << 8) + 32 for i in range(n)]  # distinct /32s (synthetic keys)


def kernel_of(fib: FibChannel, state: dict[int, tuple[Hop, ...]]) -> dict[int, tuple[Hop, ...]]:
    for kind, hops, ks in fib.take_batch().runs:
        for k in ks:
            if kind is OpKind.DELETE:
                assert state.pop(k) == hops
            else:
                state[k] = hops
    return state


def two_peers(rebase_min: int = REBASE_MIN) -> tuple[LocRib, FibChannel, Channel, Channel]:
    """A Loc-RIB with a FIB channel and two peers' channels, a and b."""
    rib = LocRib(rebase_min=rebase_min)
    fib = FibChannel(rib)
    return rib, fib, Channel(rib, peer("a", 1)), Channel(rib, peer("b", 2))


def test_one_source_stores_nothing_per_prefix() -> None:
    rib = LocRib()
    fib = FibChannel(rib)
    a = Channel(rib, peer("a", 1))
    n = 3 * REBASE_MIN
    a.announce(keys(n), PlainAttrs.with_path(65001), LL1)
    assert rib.dominant == a.peer
    assert rib.stored() == 0
    assert len(rib) == len(rib.best) == n
    winner = rib.winner(keys(1)[0])
    assert winner is not None and winner.peer == a.peer
    assert set(rib.best) == set(keys(n))
    assert len(kernel_of(fib, {})) == n
    a.withdraw(keys(10))
    assert len(rib) == n - 10 and keys(1)[0] not in rib.best
    assert rib.get(keys(1)[0]) is None


def test_a_second_source_stores_only_the_prefixes_it_holds() -> None:
    rib, fib, a, b = two_peers()
    n = 3 * REBASE_MIN
    a.announce(keys(n), PlainAttrs.with_path(65001, 65010), LL1)
    kernel = kernel_of(fib, {})
    # b has a shorter AS path for three of a's prefixes and one of its own.
    mine = keys(1, "203.0.113.0")
    b.announce([*keys(3), *mine], PlainAttrs.with_path(65002), LL2)
    assert rib.dominant == a.peer
    assert rib.stored() == 4
    for k in keys(3):
        w = rib.winner(k)
        assert w is not None and w.peer == b.peer
    w = rib.winner(keys(4)[3])
    assert w is not None and w.peer == a.peer
    kernel = kernel_of(fib, kernel)
    assert len(kernel) == n + 1
    # b leaves: its prefixes read from a's map again, nothing stored.
    b.withdraw_all()
    assert rib.stored() == 0
    w = rib.winner(keys(1)[0])
    assert w is not None and w.peer == a.peer
    assert len(kernel_of(fib, kernel)) == n == len(rib)


def test_the_biggest_source_becomes_dominant() -> None:
    rib, fib, a, b = two_peers(10)
    a.announce(keys(20), PlainAttrs.with_path(65001), LL1)
    assert rib.dominant == a.peer
    b.announce(keys(100, "203.0.113.0"), PlainAttrs.with_path(65002), LL2)
    assert rib.dominant == b.peer
    assert rib.stored() == 20  # a's prefixes
    assert len(rib) == 120
    assert len(kernel_of(fib, {})) == 120
    a.withdraw_all()
    assert rib.stored() == 0 and len(rib) == 100


def test_dominant_source_leaving_hands_over() -> None:
    rib, fib, a, b = two_peers(0)
    a.announce(keys(50), PlainAttrs.with_path(65001), LL1)
    b.announce(keys(20), PlainAttrs.with_path(65002, 65003), LL2)
    kernel = kernel_of(fib, {})
    assert rib.dominant == a.peer and rib.stored() == 20
    a.close()
    assert rib.dominant == b.peer and rib.stored() == 0
    kernel = kernel_of(fib, kernel)
    assert len(kernel) == 20 == len(rib)
    assert all(hops[0].nexthop.addr == IPv6Address("fe80::2") for hops in kernel.values())


def test_import_policy_change_on_the_dominant_source() -> None:
    rib = LocRib(rebase_min=0)
    fib = FibChannel(rib)
    a = Channel(rib, peer("a", 1))
    a.announce(keys(40), PlainAttrs.with_path(65001), LL1)
    kernel = kernel_of(fib, {})
    result = a.set_import_policy(parse_policy({"prefix": ["198.51.100.0/28 le 32"], "set_local_pref": 50}))
    # keys(40) are 198.51.100.0/32 .. 198.51.100.39/32: 16 of them are inside the /28.
    assert len(rib) == 16
    assert sum(1 for _k, _old, new in result.changes if new is None) == 24
    kernel = kernel_of(fib, kernel)
    assert len(kernel) == 16
    a.set_import_policy(parse_policy("all"))
    assert len(rib) == 40 and len(kernel_of(fib, kernel)) == 40
    assert rib.dominant == a.peer and rib.stored() == 0


def test_replacing_the_dominant_map_needs_will_change() -> None:
    rib = LocRib(rebase_min=0)
    a = Channel(rib, peer("a", 1))
    a.announce(keys(5), PlainAttrs.with_path(65001), LL1)
    with pytest.raises(RuntimeError, match="will_change"):
        rib.attach(a.peer, {})
    with pytest.raises(RuntimeError, match="will_change"):
        rib.update(a.peer, keys(1), ())
    rib.will_change(a.peer)
    assert rib.dominant is None and rib.stored() == 5
    rib.attach(a.peer, {})
    assert [(k, new) for k, _old, new in rib.update(a.peer, (), keys(5))] == [(k, None) for k in keys(5)]


def test_reannouncing_the_same_path_is_no_change() -> None:
    rib = LocRib(rebase_min=0)
    a = Channel(rib, peer("a", 1))
    attrs = PlainAttrs.with_path(65001)
    a.announce(keys(5), attrs, LL1)
    assert a.announce(keys(5), attrs, LL1).changes == []
    assert a.announce_many([(keys(5)[:1], attrs, LL1), (keys(5), attrs, LL1)]).changes == []


def test_duplicate_prefixes_in_one_update_count_once() -> None:
    rib = LocRib(rebase_min=0)
    a = Channel(rib, peer("a", 1))
    a.announce(keys(3), PlainAttrs.with_path(65001), LL1)
    k = keys(1)[0]
    changes = a.announce([k, k], PlainAttrs.with_path(65009), LL1).changes
    assert [c[0] for c in changes] == [k]
    changes = a.announce_many([([k, k], PlainAttrs.with_path(65008), LL1)]).changes
    assert [c[0] for c in changes] == [k]
    assert len(rib) == 3


def test_full_table_from_one_peer_costs_the_loc_rib_nothing() -> None:
    """Memory: 50,000 prefixes with one path keep only the Adj-RIB-In's dict entry and
    the key (about 75 B per prefix with CPython's dict); the Loc-RIB adds nothing."""
    n = 50_000
    ks = keys(n, "192.0.2.0")
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    attrs = PlainAttrs.with_path(65001)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(0, n, 500):
        a.announce(ks[i:i + 500], attrs, LL1)
    gc.collect()
    per_prefix = (tracemalloc.get_traced_memory()[0] - before) / n
    tracemalloc.stop()
    assert rib.stored() == 0 and len(rib) == n
    assert per_prefix < 100, per_prefix  # a dict entry + its index; keys were already alive


def test_path_objects_are_shared_with_the_view() -> None:
    rib = LocRib(rebase_min=0)
    a = Channel(rib, peer("a", 1))
    a.announce(keys(2), PlainAttrs.with_path(65001), LL1)
    best = rib.best
    k0, k1 = keys(2)
    path: PathRef = a.accepted[k0]
    assert best[k0][0][0] is path and best[k1][0][0] is path
    assert best.get(keys(3)[2]) is None and keys(3)[2] not in best
    with pytest.raises(KeyError):
        best[keys(3)[2]]
    assert list(best.values()) == [best[k0], best[k1]]


def test_too_many_next_hops_store_every_best_set() -> None:
    """Past the next-hop cache bound a resolution could be computed again (and differ):
    the Loc-RIB then stores every best set until next hops are refreshed."""
    rib = LocRib(cache_size=8, rebase_min=0)
    a = Channel(rib, peer("a", 1))
    for i in range(20):
        a.announce(keys(20)[i:i + 1], PlainAttrs.with_path(65001), PlainNextHop(None, IPv6Address(f"fe80::{i + 1}")))
    assert rib.dominant is None and rib.stored() == 20 and len(rib) == 20
    for i, k in enumerate(keys(20)):
        best = rib.best[k]
        assert best[0][1].nexthop is not None and str(best[0][1].nexthop.addr) == f"fe80::{i + 1}"
