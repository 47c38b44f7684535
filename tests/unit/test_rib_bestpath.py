"""RFC 4271 §9.1 decision steps: one test per tie-breaker, winner and reason."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from v4via6.model import NextHop
from v4via6.rib import bestpath
from v4via6.rib.attrs import ORIGIN_IGP, ORIGIN_INCOMPLETE
from v4via6.rib.path import PathRef, PeerInfo, PeerKind, Resolution
from v4via6.rib.plain_attrs import LOCAL_ATTRS, PlainAttrs, PlainNextHop


def peer(
    name: str,
    kind: PeerKind = PeerKind.EBGP,
    *,
    rid: str = "192.0.2.1",
    addr: str | None = None,
    ifname: str = "eth0",
    multipath: bool = False,
) -> PeerInfo:
    address = IPv6Address(addr) if addr else IPv6Address(f"2001:db8::{len(name)}{ord(name[0])}")
    return PeerInfo(name, kind, address, int(IPv4Address(rid)), 65000, ifname, multipath=multipath)


def cand(p: PeerInfo, attrs: PlainAttrs, *, cost: int = 0, ll: str = "fe80::1") -> tuple[PathRef, Resolution]:
    path = PathRef(attrs, PlainNextHop(None, IPv6Address(ll)), p)
    return path, Resolution(NextHop(IPv6Address(ll), p.ifname), cost)


def decide(*cands: tuple[PathRef, Resolution | None]) -> bestpath.Decision:
    decision = bestpath.explain(cands)
    # select() (hot path) must agree with explain().
    assert tuple(p for p, _ in bestpath.select(cands)) == decision.best
    return decision


A1 = PlainAttrs.with_path(65001)


def test_only_path() -> None:
    c = cand(peer("a"), A1)
    d = decide(c)
    assert d.best == (c[0],)
    assert d.reasons == ("only path",)


def test_source_preference_local_beats_bgp() -> None:
    bgp = cand(peer("a"), PlainAttrs.with_path(65001, local_pref=500))
    local = (PathRef(LOCAL_ATTRS, None, PeerInfo.local()), Resolution(None, 0))
    d = decide(bgp, local)
    assert d.best == (local[0],)
    assert d.reasons == ("preference 200 > 100",)


def test_highest_local_pref_wins() -> None:
    low = cand(peer("a"), PlainAttrs.with_path(65001, local_pref=100))
    high = cand(peer("b"), PlainAttrs.with_path(65001, 65002, 65003, local_pref=200))
    d = decide(low, high)
    assert d.best == (high[0],)
    assert d.reasons == ("local-pref 200 > 100",)
    lost = next(c for c in d.candidates if c.path is low[0])
    assert lost.state == bestpath.LOST
    assert lost.reason == "local-pref 100 < 200"


def test_missing_local_pref_counts_as_100() -> None:
    none = cand(peer("a"), PlainAttrs.with_path(65001))
    ninety = cand(peer("b"), PlainAttrs.with_path(65001, local_pref=90))
    d = decide(ninety, none)
    assert d.best == (none[0],)
    assert d.reasons == ("local-pref 100 > 90",)


def test_shortest_as_path_wins() -> None:
    long = cand(peer("a", rid="192.0.2.1"), PlainAttrs.with_path(65001, 65002, 65003))
    short = cand(peer("b", rid="192.0.2.9"), PlainAttrs.with_path(65004))
    d = decide(long, short)
    assert d.best == (short[0],)
    assert d.reasons == ("as-path 1 < 3",)


def test_as_set_counts_as_one() -> None:
    with_set = PlainAttrs(as_path=((2, (65001,)), (1, (65010, 65011, 65012))))
    assert with_set.as_path_len == 2


def test_lowest_origin_wins() -> None:
    incomplete = cand(peer("a"), PlainAttrs.with_path(65001, origin=ORIGIN_INCOMPLETE))
    igp = cand(peer("b", rid="192.0.2.200"), PlainAttrs.with_path(65002, origin=ORIGIN_IGP))
    d = decide(incomplete, igp)
    assert d.best == (igp[0],)
    assert d.reasons == ("origin igp < incomplete",)


def test_med_compared_within_same_neighbour_as() -> None:
    high = cand(peer("a", rid="192.0.2.1"), PlainAttrs.with_path(65001, med=50))
    low = cand(peer("b", rid="192.0.2.2"), PlainAttrs.with_path(65001, med=10))
    d = decide(high, low)
    assert d.best == (low[0],)
    assert d.reasons == ("med 10 < 50 (neighbour-as 65001)",)


def test_missing_med_counts_as_zero() -> None:
    missing = cand(peer("a", rid="192.0.2.9"), PlainAttrs.with_path(65001))
    five = cand(peer("b", rid="192.0.2.1"), PlainAttrs.with_path(65001, med=5))
    d = decide(five, missing)
    assert d.best == (missing[0],)
    assert d.reasons == ("med 0 < 5 (neighbour-as 65001)",)


def test_med_ignored_across_different_neighbour_as() -> None:
    # Lower MED but from another AS: MED is not compared; router id decides.
    a = cand(peer("a", rid="192.0.2.1"), PlainAttrs.with_path(65001, med=100))
    b = cand(peer("b", rid="192.0.2.2"), PlainAttrs.with_path(65002, med=1))
    d = decide(a, b)
    assert d.best == (a[0],)
    assert d.reasons == ("router-id 192.0.2.1 < 192.0.2.2",)


def test_ebgp_beats_ibgp() -> None:
    ibgp = cand(peer("a", PeerKind.IBGP, rid="192.0.2.1"), PlainAttrs.with_path(65001))
    ebgp = cand(peer("b", PeerKind.EBGP, rid="192.0.2.2"), PlainAttrs.with_path(65001))
    d = decide(ibgp, ebgp)
    assert d.best == (ebgp[0],)
    assert d.reasons == ("peer-type ebgp > ibgp",)


def test_lowest_igp_cost_wins() -> None:
    far = cand(peer("a", PeerKind.IBGP, rid="192.0.2.1"), A1, cost=20)
    near = cand(peer("b", PeerKind.IBGP, rid="192.0.2.2"), A1, cost=10)
    d = decide(far, near)
    assert d.best == (near[0],)
    assert d.reasons == ("igp-cost 10 < 20",)


def test_lowest_router_id_wins() -> None:
    a = cand(peer("a", rid="192.0.2.20"), A1)
    b = cand(peer("b", rid="192.0.2.3"), A1)
    d = decide(a, b)
    assert d.best == (b[0],)
    assert d.reasons == ("router-id 192.0.2.3 < 192.0.2.20",)


def test_originator_id_replaces_router_id() -> None:
    a = cand(
        peer("a", PeerKind.IBGP, rid="192.0.2.1"),
        PlainAttrs.with_path(65001, originator_id=int(IPv4Address("192.0.2.50"))),
    )
    b = cand(peer("b", PeerKind.IBGP, rid="192.0.2.9"), A1)
    d = decide(a, b)
    assert d.best == (b[0],)
    assert d.reasons == ("router-id 192.0.2.9 < 192.0.2.50",)


def test_lowest_peer_address_wins() -> None:
    a = cand(peer("a", addr="fe80::20", ifname="eth0"), A1)
    b = cand(peer("b", addr="fe80::3", ifname="eth1"), A1)
    d = decide(a, b)
    assert d.best == (b[0],)
    assert d.reasons == ("peer-address fe80::3 < fe80::20",)


def test_reasons_list_every_step_that_decided() -> None:
    a = cand(peer("a", rid="192.0.2.1"), PlainAttrs.with_path(65001, 65002, local_pref=200))
    b = cand(peer("b", rid="192.0.2.2"), PlainAttrs.with_path(65001, local_pref=200))
    c = cand(peer("c", rid="192.0.2.3"), PlainAttrs.with_path(65001, local_pref=100))
    d = decide(a, b, c)
    assert d.best == (b[0],)
    assert d.reasons == ("local-pref 200 > 100", "as-path 1 < 2")


def test_unresolvable_next_hop_takes_no_part() -> None:
    good = cand(peer("a", rid="192.0.2.9"), PlainAttrs.with_path(65001, 65002))
    better_but_dead = (cand(peer("b"), A1)[0], None)
    d = decide(good, better_but_dead)
    assert d.best == (good[0],)
    dead = next(c for c in d.candidates if c.path is better_but_dead[0])
    assert dead.state == bestpath.UNRESOLVED


def test_no_usable_path() -> None:
    d = decide((cand(peer("a"), A1)[0], None))
    assert d.best == ()


# --- ECMP -------------------------------------------------------------------------


def test_ecmp_groups_equal_paths_with_distinct_next_hops() -> None:
    # Same link-local on two interfaces: two next hops, both kept.
    a = cand(peer("a", rid="192.0.2.1", ifname="eth0", multipath=True), A1)
    b = cand(peer("b", rid="192.0.2.2", ifname="eth1", multipath=True), A1)
    d = decide(b, a)
    assert d.best == (a[0], b[0])
    assert [c.state for c in d.candidates] == [bestpath.MULTIPATH, bestpath.BEST]


def test_ecmp_stops_at_igp_cost() -> None:
    a = cand(peer("a", rid="192.0.2.1", ifname="eth0", multipath=True), A1, cost=1)
    b = cand(peer("b", rid="192.0.2.2", ifname="eth1", multipath=True), A1, cost=2)
    assert decide(a, b).best == (a[0],)


def test_ecmp_needs_multipath_allowed() -> None:
    a = cand(peer("a", rid="192.0.2.1", ifname="eth0"), A1)
    b = cand(peer("b", rid="192.0.2.2", ifname="eth1"), A1)
    assert decide(a, b).best == (a[0],)


def test_ecmp_drops_duplicate_next_hop() -> None:
    a = cand(peer("a", rid="192.0.2.1", ifname="eth0", multipath=True), A1)
    b = cand(peer("b", rid="192.0.2.2", ifname="eth0", multipath=True), A1)
    d = decide(a, b)
    assert d.best == (a[0],)
    lost = next(c for c in d.candidates if c.path is b[0])
    assert lost.reason == "same next hop as an ECMP path"


def test_ecmp_not_across_different_as_path_length() -> None:
    a = cand(peer("a", rid="192.0.2.1", ifname="eth0", multipath=True), A1)
    b = cand(peer("b", ifname="eth1", multipath=True), PlainAttrs.with_path(65001, 65001))
    assert decide(a, b).best == (a[0],)
