"""The daemon turns a read's worth of session events into RIB work: consecutive
announcements go in one call, in order, and a path carrying our own AS is a withdrawal."""

from __future__ import annotations

import asyncio
from ipaddress import IPv6Address
from pathlib import Path

from v4via6.bgp import events as ev
from v4via6.bgp.wire import BgpNextHop, make_attributes
from v4via6.daemon.supervisor import Daemon, PeerState
from v4via6.fib.memory import MemoryFib
from v4via6.model import NextHop
from v4via6.rib.keys import prefix_key

CONFIG = """
[bgp]
asn = 65010
router_id = "192.0.2.10"
listen = false

[[bgp.peer]]
address = "fe80::1%eth0"
remote_as = 65001
import = "all"
export = "all"
"""
NH1 = BgpNextHop(None, IPv6Address("fe80::1"))
NH2 = BgpNextHop(None, IPv6Address("fe80::2"))
A, B, C = (prefix_key(p) for p in ("198.51.100.0/24", "203.0.113.0/24", "192.0.2.128/25"))


def daemon(tmp_path: Path) -> Daemon:
    cfg = tmp_path / "v4via6.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    d = Daemon(cfg, fib=MemoryFib())
    assert d.bgp is not None
    assert d.bgp.router_id is not None
    d._add_peer(0, d.bgp.peer[0], d.bgp.router_id)
    return d


def on_events(d: Daemon, events: list[ev.Event], state: PeerState | None = None) -> None:
    """Hand ``events`` to the daemon as a peer runner does (inside the event loop)."""
    if state is None:
        (state,) = d.peers.values()
    runner = state.runner

    async def deliver() -> None:
        d._on_events(runner, events)

    asyncio.run(deliver())


def received(keys: list[int], *path: int, nh: BgpNextHop = NH1) -> ev.RoutesReceived:
    return ev.RoutesReceived(1, 1, tuple(keys), make_attributes(origin=0, as_path=((2, path),)), nh)


def test_a_run_of_announcements_keeps_order_and_drops_looped_paths(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    (state,) = d.peers.values()
    on_events(d, [
        received([A], 65001),
        received([B], 65001, 65002),
        received([A], 65001, 65003, nh=NH2),       # A again, later path wins
        received([C], 65001, 65010),               # our own AS: not accepted
        ev.EndOfRib(1, 1),
        received([C, B], 65001, 65004),
        received([B], 65001, 65010, 65005),        # B re-announced with a loop: withdrawn
    ])
    best = {k: b[0][0] for k, b in d.rib4.best.items()}
    assert set(best) == {A, C}
    assert best[A].nexthop == NH2 and best[A].attrs.as_path == ((2, (65001, 65003)),)
    assert best[C].attrs.as_path == ((2, (65001, 65004)),)
    assert "ipv4/unicast" in state.eor_received
    assert state.channels[1].counters.received == 2


def test_ipv6_and_ipv4_announcements_in_one_read_reach_their_tables(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    v6 = prefix_key("2001:db8:1::/48")
    attrs = make_attributes(origin=0, as_path=((2, (65001,)),))
    on_events(d, [
        received([A], 65001),
        ev.RoutesReceived(2, 1, (v6,), attrs, NH1),
        received([B], 65001),
    ])
    assert set(d.rib4.best) == {A, B}
    assert set(d.rib6.best) == {v6}


TWO_PEERS = CONFIG + """
[[bgp.peer]]
address = "fe80::2%eth0"
remote_as = 65002
import = "all"
export = "all"
"""


def test_exclusive_nexthops_come_from_the_rib_and_skip_shared_ones(tmp_path: Path) -> None:
    cfg = tmp_path / "v4via6.toml"
    cfg.write_text(TWO_PEERS, encoding="utf-8")
    d = Daemon(cfg, fib=MemoryFib())
    assert d.bgp is not None and d.bgp.router_id is not None
    for i, peer in enumerate(d.bgp.peer):
        d._add_peer(i, peer, d.bgp.router_id)
    first, second = d.peers.values()
    third_party = BgpNextHop(None, IPv6Address("fe80::3"))

    on_events(d, [received([A], 65001), received([B], 65001, nh=third_party)], first)
    on_events(d, [received([C], 65002, nh=NH2)], second)
    nh1, nh3 = (NextHop(IPv6Address(a), "eth0") for a in ("fe80::1", "fe80::3"))
    assert d._exclusive_nexthops(first) == {nh1, nh3}
    # the second peer now also uses fe80::3: no longer the first peer's alone
    on_events(d, [received([B], 65002, nh=third_party)], second)
    assert d._exclusive_nexthops(first) == {nh1}


def test_peer_resolutions_fall_back_when_the_cache_forgot(tmp_path: Path) -> None:
    from v4via6.rib.loc_rib import LocRib
    from v4via6.rib.path import PathRef, PeerInfo, PeerKind
    from v4via6.rib.plain_attrs import PlainAttrs, PlainNextHop

    rib = LocRib(cache_size=2)
    peer = PeerInfo("a", PeerKind.EBGP, IPv6Address("fe80::1"), 1, 65001, "eth0")
    paths = [PathRef(PlainAttrs(), PlainNextHop(None, IPv6Address(f"fe80::{i}")), peer) for i in (1, 2, 3)]
    rib.resolution(paths[0])
    assert rib.peer_resolutions(peer) is not None and len(rib.peer_resolutions(peer) or []) == 1
    rib.resolution(paths[1])
    rib.resolution(paths[2])  # the cache (size 2) forgets: the answer would be incomplete
    assert rib.peer_resolutions(peer) is None
    rib.refresh_nexthops()  # every current path is resolved again
    assert rib.peer_resolutions(peer) == []



def test_a_lost_session_forgets_its_next_hops(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    (state,) = d.peers.values()
    on_events(d, [received([A], 65001), received([B], 65001, nh=NH2)])
    assert len(d.rib4.peer_resolutions(state.info) or []) == 2

    async def lose() -> None:
        d._withdraw_peer(state)

    asyncio.run(lose())
    assert d.rib4.peer_resolutions(state.info) == []
    assert not d.rib4.best
    # The next session sends the very same path: its next hop is the session's again
    # (a cached best set must not hide it, or the next loss deletes routes one by one).
    on_events(d, [received([A], 65001)])
    assert len(d.rib4.peer_resolutions(state.info) or []) == 1
    assert d._exclusive_nexthops(state) == {NextHop(IPv6Address("fe80::1"), "eth0")}


def test_installed_means_wanted_by_the_fib_and_not_failed(tmp_path: Path) -> None:
    """No per-prefix "installed" set: a prefix is installed when the FIB channel wants it,
    no static overrides it and its last kernel write did not fail."""
    from ipaddress import IPv4Network

    from v4via6.model import Hop, Route
    from v4via6.rib.channel import FibChannel

    d = daemon(tmp_path)
    fib = d.fib
    assert isinstance(fib, MemoryFib)
    fib.interfaces.add("eth0")
    # a foreign route holds B: our write for B fails (EEXIST), the others go in
    fib.add_foreign(Route(IPv4Network("203.0.113.0/24"), (Hop(NextHop(IPv6Address("fe80::9"), "eth0")),)), 4)
    d.fib_channel = FibChannel(d.rib4)
    d.static_keys = {C}
    (state,) = d.peers.values()
    on_events(d, [received([A, B, C], 65001)])
    assert d.fib_channel.pending == 3
    asyncio.run(d._apply_runs(d.fib_channel.take_batch()))
    assert d.fib_failed == {B}
    assert [d._installed(k) for k in (A, B, C)] == [True, False, False]
    assert d._installed_count() == 1
    assert d._installed_from(state.info) == 1
    assert d.status()["routes_installed"] == 1 and d.status()["fib_queue"] == 0
    view = {r["prefix"]: r["installed"] for r in d.routes_view(None, None, "ipv4")["routes"]}
    assert view == {"198.51.100.0/24": True, "203.0.113.0/24": False, "192.0.2.128/25": False}
    # the foreign route goes away and B comes again via another next hop: written, installed
    del fib._routes[next(k for k, kr in fib._routes.items() if not kr.own)]
    on_events(d, [received([B], 65001, nh=NH2)])
    asyncio.run(d._apply_runs(d.fib_channel.take_batch()))
    assert d.fib_failed == set() and d._installed(B) and d._installed_count() == 2



def test_a_global_next_hop_is_resolved_again_when_the_host_routes_change(tmp_path: Path) -> None:
    """The 30 s host refresh re-resolves cached next hops: a route whose global next hop
    had no on-link route becomes installable once the kernel has one, and goes again
    when the route goes (the FIB channel gets the changes)."""
    from ipaddress import IPv6Network

    from v4via6.daemon.supervisor import HostAddresses
    from v4via6.rib.channel import FibChannel

    d = daemon(tmp_path)
    d.host = HostAddresses()
    d.fib_channel = FibChannel(d.rib4, src=None)
    global_nh = BgpNextHop(IPv6Address("2001:db8::1"), None)
    on_events(d, [received([A, B], 65001, nh=global_nh)])
    assert len(d.rib4) == 0 and not d.fib_channel.take_batch().runs  # unresolved: nothing to install

    async def refresh(host: HostAddresses) -> None:
        d.host = host
        d._recheck_nexthops()

    asyncio.run(refresh(HostAddresses()))  # nothing moved: nothing recomputed
    assert len(d.rib4) == 0
    asyncio.run(refresh(HostAddresses(routes6=[(IPv6Network("2001:db8::/64"), "eth1", False, 256)])))
    assert len(d.rib4) == 2
    [(kind, hops, keys)] = d.fib_channel.take_batch().runs
    assert sorted(keys) == sorted([A, B]) and hops[0].nexthop == NextHop(IPv6Address("2001:db8::1"), "eth1")
    asyncio.run(refresh(HostAddresses()))
    assert len(d.rib4) == 0
    [(kind, _hops, keys)] = d.fib_channel.take_batch().runs
    assert kind.name == "DELETE" and sorted(keys) == sorted([A, B])
