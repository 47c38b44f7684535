"""Property: the best path (and ECMP group) does not depend on arrival order."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv6Address

from hypothesis import given, settings
from hypothesis import strategies as st

from v4via6.model import NextHop
from v4via6.rib import bestpath
from v4via6.rib.channel import Channel
from v4via6.rib.keys import prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.path import PathRef, PeerInfo, PeerKind, Resolution
from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop

Cand = tuple[PathRef, Resolution | None]


@st.composite
def candidates(draw: st.DrawFn) -> list[Cand]:
    n = draw(st.integers(min_value=1, max_value=7))
    out: list[Cand] = []
    for i in range(n):
        first_as = draw(st.sampled_from([65001, 65002, 65003]))
        path_len = draw(st.integers(min_value=1, max_value=3))
        attrs = PlainAttrs.with_path(
            first_as,
            *([64512] * (path_len - 1)),
            origin=draw(st.integers(min_value=0, max_value=2)),
            med=draw(st.none() | st.integers(min_value=0, max_value=3)),
            local_pref=draw(st.none() | st.sampled_from([90, 100, 200])),
        )
        ifname = draw(st.sampled_from(["eth0", "eth1", "eth2"]))
        p = PeerInfo(
            f"p{i}",
            draw(st.sampled_from([PeerKind.EBGP, PeerKind.IBGP])),
            IPv6Address(f"fe80::{draw(st.integers(min_value=1, max_value=4))}"),
            draw(st.integers(min_value=1, max_value=4)),
            first_as,
            ifname,
            multipath=draw(st.booleans()),
        )
        ll = IPv6Address(f"fe80::{draw(st.integers(min_value=1, max_value=2))}")
        res = (
            None
            if draw(st.integers(min_value=0, max_value=9)) == 0
            else Resolution(NextHop(ll, ifname), draw(st.integers(min_value=0, max_value=2)))
        )
        out.append((PathRef(attrs, PlainNextHop(None, ll), p), res))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), cands=candidates())
def test_best_is_order_independent(data: st.DataObject, cands: list[Cand]) -> None:
    shuffled = data.draw(st.permutations(cands))
    chosen = bestpath.select(cands)
    assert bestpath.select(shuffled) == chosen
    best = tuple(p for p, _ in chosen)
    decision = bestpath.explain(shuffled)
    assert decision.best == best
    assert bestpath.explain(cands).reasons == decision.reasons
    # The winner is resolvable, and every ECMP partner has a distinct next hop.
    resolved = dict(cands)
    hops = [resolved[p] for p in best]
    assert all(h is not None for h in hops)
    assert len({h.nexthop for h in hops if h is not None}) == len(best)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), cands=candidates())
def test_loc_rib_result_is_order_independent(data: st.DataObject, cands: list[Cand]) -> None:
    key = prefix_key("198.51.100.0/24")
    routable = [(p, r) for p, r in cands if r is not None]

    def run(order: Sequence[Cand]) -> tuple[str, ...]:
        rib = LocRib()
        for path, _ in order:
            ch = Channel(rib, path.peer)
            ch.announce([key], path.attrs, path.nexthop)
        best = rib.get(key) or ()
        return tuple(p.peer.name for p, _ in best)

    first = run(routable)
    assert run(data.draw(st.permutations(routable))) == first
