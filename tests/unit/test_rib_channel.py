"""Channels: counters, prefix limit, soft-in/out, export rules, the FIB channel."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.fib.backend import OpKind
from v4via6.model import Hop, NextHop
from v4via6.rib.attrs import NO_ADVERTISE, NO_EXPORT
from v4via6.rib.channel import Channel, FibChannel
from v4via6.rib.keys import prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.nexthop import NextHopResolver
from v4via6.rib.path import PathRef, PeerInfo, PeerKind
from v4via6.rib.plain_attrs import LOCAL_ATTRS, PlainAttrs, PlainNextHop
from v4via6.rib.policy import REJECT_ALL, parse_policy

LL1 = PlainNextHop(None, IPv6Address("fe80::1"))
K24 = prefix_key("198.51.100.0/24")
K25 = prefix_key("198.51.100.0/25")
K_OTHER = prefix_key("203.0.113.0/24")


def peer(
    name: str, rid: int, kind: PeerKind = PeerKind.EBGP, ifname: str = "eth0", multipath: bool = False
) -> PeerInfo:
    return PeerInfo(name, kind, IPv6Address(f"fe80::{rid}"), rid, 65000 + rid, ifname, multipath=multipath)


def test_counters_received_accepted_filtered() -> None:
    rib = LocRib()
    ch = Channel(rib, peer("a", 1), import_policy=parse_policy({"prefix": ["198.51.100.0/24"]}))
    ch.announce([K24, K25, K_OTHER], PlainAttrs.with_path(65001), LL1)
    assert ch.counters.as_dict() == {
        "received": 3,
        "accepted": 1,
        "filtered": 2,
        "exported": 0,
        "limit_hits": 0,
    }
    assert set(rib.best) == {K24}


def test_reannounce_that_policy_rejects_removes_the_route() -> None:
    rib = LocRib()
    ch = Channel(rib, peer("a", 1), import_policy=parse_policy({"as_path_len_max": 1}))
    ch.announce([K24], PlainAttrs.with_path(65001), LL1)
    assert K24 in rib.best
    res = ch.announce([K24], PlainAttrs.with_path(65001, 65002), LL1)
    assert [(k, new) for k, _, new in res.changes] == [(K24, None)]
    assert ch.counters.received == 1 and ch.counters.accepted == 0


def test_prefix_limit() -> None:
    rib = LocRib()
    ch = Channel(rib, peer("a", 1), prefix_limit=2)
    assert not ch.announce([K24, K25], PlainAttrs(), LL1).limit_exceeded
    assert ch.announce([K_OTHER], PlainAttrs(), LL1).limit_exceeded
    assert ch.counters.limit_hits == 1
    with pytest.raises(ValueError, match="prefix_limit"):
        Channel(rib, peer("b", 2), prefix_limit=0)


def test_ebgp_local_pref_is_ignored() -> None:
    rib = LocRib()
    ch = Channel(rib, peer("a", 1))
    ch.announce([K24], PlainAttrs.with_path(65001, local_pref=900), LL1)
    assert ch.adj_in.routes[K24].attrs.local_pref is None


def test_soft_in_policy_change_without_session_reset() -> None:
    rib = LocRib()
    a = Channel(rib, peer("a", 1))
    b = Channel(rib, peer("b", 2, ifname="eth1"))
    a.announce([K24, K25], PlainAttrs.with_path(65001), LL1)
    b.announce([K24, K25], PlainAttrs.with_path(65002), LL1)
    assert rib.best[K24][0][0].peer.name == "a"
    res = b.set_import_policy(parse_policy({"prefix": ["198.51.100.0/24"], "set_local_pref": 300}))
    assert [k for k, _, _ in res.changes] == [K24]
    assert rib.best[K24][0][0].peer.name == "b"
    assert rib.explain(K24).reasons == ("local-pref 300 > 100",)
    assert len(b.adj_in) == 2  # pre-policy routes kept
    assert b.counters.accepted == 1
    # Back to "all": the /25 returns from the Adj-RIB-In, local-pref drops back.
    res = b.set_import_policy(parse_policy("all"))
    assert rib.best[K24][0][0].peer.name == "a"
    assert b.accepted is b.adj_in.routes
    assert b.set_import_policy(REJECT_ALL).changes == []  # a was already best everywhere


# --- export side ---------------------------------------------------------------------


def setup_export() -> tuple[LocRib, Channel, Channel, Channel]:
    rib = LocRib()
    src = Channel(rib, peer("src", 1))
    out_e = Channel(rib, peer("ebgp", 2, ifname="eth1"))
    out_i = Channel(rib, peer("ibgp", 3, PeerKind.IBGP, ifname="eth2"))
    for ch in (src, out_e, out_i):
        ch.start_export()
    return rib, src, out_e, out_i


def test_export_groups_and_split_horizon() -> None:
    _, src, out_e, out_i = setup_export()
    attrs = PlainAttrs.with_path(65001)
    src.announce([K24, K25], attrs, LL1)
    batch = out_e.take_export()
    assert list(batch.announce.values()) == [[K24, K25]]
    assert next(iter(batch.announce)).attrs == attrs
    assert batch.withdraw == []
    assert out_e.counters.exported == 2
    assert len(out_i.take_export()) == 2
    assert len(src.take_export()) == 0  # never back to where it came from


def test_ibgp_learned_not_sent_to_ibgp() -> None:
    rib = LocRib()
    src = Channel(rib, peer("i1", 1, PeerKind.IBGP))
    dst = Channel(rib, peer("i2", 2, PeerKind.IBGP))
    dst.start_export()
    src.announce([K24], PlainAttrs(), LL1)
    assert len(dst.take_export()) == 0


def test_well_known_communities() -> None:
    _, src, out_e, out_i = setup_export()
    src.announce([K24], PlainAttrs.with_path(65001, communities=(NO_EXPORT,)), LL1)
    src.announce([K25], PlainAttrs.with_path(65001, communities=(NO_ADVERTISE,)), LL1)
    assert len(out_e.take_export()) == 0
    assert list(out_i.take_export().announce.values()) == [[K24]]


def test_export_withdraw_and_coalescing() -> None:
    _, src, out_e, _ = setup_export()
    src.announce([K24], PlainAttrs.with_path(65001), LL1)
    out_e.take_export()
    src.withdraw([K24])
    src.announce([K24], PlainAttrs.with_path(65001), LL1)  # back as it was: nothing to send
    assert len(out_e.take_export()) == 0
    src.announce([K25], PlainAttrs.with_path(65001), LL1)
    src.withdraw([K25])  # never sent: no withdraw either
    assert len(out_e.take_export()) == 0
    src.withdraw_all()
    assert out_e.take_export().withdraw == [K24]
    assert out_e.counters.exported == 0


def test_export_policy_and_soft_out() -> None:
    _, src, out_e, _ = setup_export()
    src.announce([K24, K_OTHER], PlainAttrs.with_path(65001), LL1)
    out_e.take_export()
    out_e.set_export_policy(parse_policy({"prefix": ["198.51.100.0/24"], "set_med": 7}))
    batch = out_e.take_export()
    assert batch.withdraw == [K_OTHER]
    [(path, ks)] = batch.announce.items()
    assert ks == [K24] and path.attrs.med == 7
    assert out_e.counters.exported == 1


def test_export_starts_with_full_table_and_stops_clean() -> None:
    rib = LocRib()
    src = Channel(rib, peer("src", 1))
    src.announce([K24, K25], PlainAttrs(), LL1)
    late = Channel(rib, peer("late", 2))
    late.start_export()
    assert late.export_pending == 2
    late.stop_export()
    assert late.export_pending == 0 and len(late.take_export()) == 0
    src.withdraw([K24])
    assert late.export_pending == 0  # not exporting while down


def test_local_source_exported_to_peers() -> None:
    rib = LocRib()
    local = Channel(rib, PeerInfo.local())
    out = Channel(rib, peer("e", 2))
    out.start_export()
    local.announce([K24], LOCAL_ATTRS, None)
    assert list(out.take_export().announce.values()) == [[K24]]


# --- FIB channel ---------------------------------------------------------------------


def test_fib_channel_installs_and_removes_with_old_hops() -> None:
    rib = LocRib()
    fib = FibChannel(rib, src=IPv4Address("192.0.2.10"))
    a = Channel(rib, peer("a", 1, multipath=True))
    b = Channel(rib, peer("b", 2, ifname="eth1", multipath=True))
    a.announce([K24], PlainAttrs.with_path(65001), LL1)
    b.announce([K24], PlainAttrs.with_path(65001), LL1)
    batch = fib.take_batch()
    both = (Hop(NextHop(IPv6Address("fe80::1"), "eth0")), Hop(NextHop(IPv6Address("fe80::1"), "eth1")))
    # Ordered deltas: first a's single path, then the ECMP pair.
    assert batch.runs == [(OpKind.REPLACE, both[:1], [K24]), (OpKind.REPLACE, both, [K24])]
    op = batch.to_ops()[-1]
    assert op.kind is OpKind.REPLACE
    assert op.route.describe() == (
        "198.51.100.0/24 nexthop via inet6 fe80::1 dev eth0 weight 1 "
        "nexthop via inet6 fe80::1 dev eth1 weight 1 src 192.0.2.10"
    )
    a.withdraw_all()
    b.withdraw_all()
    batch = fib.take_batch()
    assert batch.runs == [(OpKind.REPLACE, both[1:], [K24]), (OpKind.DELETE, both[1:], [K24])]
    assert [o.kind for o in batch.to_ops()] == [OpKind.REPLACE, OpKind.DELETE]
    assert fib.counters.exported == 0


def test_fib_skips_locally_originated_and_filters() -> None:
    rib = LocRib()
    fib = FibChannel(rib, export_policy=parse_policy({"prefix": ["198.51.100.0/24 le 32"]}))
    Channel(rib, PeerInfo.local()).announce([K_OTHER], LOCAL_ATTRS, None)
    static = Channel(rib, PeerInfo.local("static"))
    static.announce([K24, K25], LOCAL_ATTRS, NextHop.parse("fe80::7%eth5"))
    batch = fib.take_batch()
    assert batch.runs == [(OpKind.REPLACE, (Hop(NextHop.parse("fe80::7%eth5")),), [K24, K25])]
    assert [str(r.prefix) for r in fib.desired()] == ["198.51.100.0/24", "198.51.100.0/25"]


def test_fib_follows_next_hop_moving_to_another_interface() -> None:
    where: dict[IPv6Address | IPv4Address, tuple[str | None, int]] = {IPv6Address("2001:db8::1"): ("eth0", 1)}
    rib = LocRib(NextHopResolver(where.get))
    fib = FibChannel(rib)
    ch = Channel(rib, PeerInfo("g", PeerKind.IBGP, IPv6Address("2001:db8::9"), 9, 65000))
    ch.announce([K24, K25], PlainAttrs(), PlainNextHop(IPv6Address("2001:db8::1"), None))
    fib.take_batch()
    where[IPv6Address("2001:db8::1")] = ("eth1", 1)
    assert len(rib.refresh_nexthops()) == 2
    new_hop = (Hop(NextHop(IPv6Address("2001:db8::1"), "eth1")),)
    assert fib.take_batch().runs == [(OpKind.REPLACE, new_hop, [K24, K25])]
    del where[IPv6Address("2001:db8::1")]
    rib.refresh_nexthops()
    assert fib.take_batch().runs == [(OpKind.DELETE, new_hop, [K24, K25])]
    assert fib.counters.exported == 0


def test_fib_channel_needs_ipv4() -> None:
    with pytest.raises(ValueError, match="IPv4"):
        FibChannel(LocRib(family=6))


def test_path_ref_is_immutable_and_value_equal() -> None:
    p = peer("a", 1)
    x = PathRef(PlainAttrs(), LL1, p)
    assert x == PathRef(PlainAttrs(), LL1, p) and hash(x) == hash(PathRef(PlainAttrs(), LL1, p))
    with pytest.raises(AttributeError):
        x.peer = p


def _fib_state(fib: FibChannel, state: dict[int, object]) -> dict[int, object]:
    """Apply a FIB channel's pending runs to a dict prefix -> hops (what the kernel would hold)."""
    for kind, hops, keys in fib.take_batch().runs:
        for k in keys:
            if kind is OpKind.DELETE:
                state.pop(k, None)
            else:
                state[k] = hops
    return state


@pytest.mark.parametrize("rebase_min", [0, 1024])
@pytest.mark.parametrize("other_peer", [False, True])
@pytest.mark.parametrize("policy", [None, {"as_path_len_max": 2}])
def test_announce_many_equals_announce_one_by_one(other_peer: bool, policy: dict[str, object] | None,
                                                  rebase_min: int) -> None:
    import random

    rng = random.Random(7)
    keys = [prefix_key(f"198.51.{i // 64}.{(i % 64) * 4}/30") for i in range(200)]
    hops = [PlainNextHop(None, IPv6Address(f"fe80::{i}")) for i in (1, 2)]
    # Arrival order with repeats: a key re-announced with another path within one batch.
    items = [([rng.choice(keys)] if rng.random() < 0.8 else rng.sample(keys, 5),
              PlainAttrs.with_path(*[65001 + rng.randrange(3)] * rng.randint(1, 3)), rng.choice(hops))
             for _ in range(400)]
    results = []
    for batched in (False, True):
        rib = LocRib(rebase_min=rebase_min)
        fib = FibChannel(rib)
        out = Channel(rib, peer("out", 9))
        out.start_export()
        if other_peer:
            Channel(rib, peer("b", 2)).announce(keys[::3], PlainAttrs.with_path(65002, 65003), hops[1])
        import_policy = parse_policy(policy) if policy is not None else None
        ch = Channel(rib, peer("a", 1), **({"import_policy": import_policy} if import_policy else {}))
        if batched:
            ch.announce_many(items[:150])
            ch.announce_many(items[150:])
        else:
            for k, attrs, nh in items:
                ch.announce(k, attrs, nh)
        export = out.take_export()
        results.append((
            {k: [(p.attrs, p.nexthop, p.peer.name) for p, _ in b] for k, b in rib.best.items()},
            _fib_state(fib, {}),
            ch.counters.as_dict(),
            {k: p for p, ks in export.announce.items() for k in ks},
        ))
    assert results[0] == results[1]
