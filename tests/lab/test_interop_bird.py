"""v4via6 against a real BIRD 2 over a link-local-only link (RFC 8950 extended next hop).

    h1 (192.0.2.2) — r1 v4via6 AS 65001 — r2 BIRD AS 65002 — h2 (198.51.100.2)

The r1 — r2 link carries only fe80::1 / fe80::2. v4via6 peers with
``address = "fe80::2%to-r2"``, BIRD with ``neighbor fe80::1 % 'to-r1'`` and
``extended next hop on``. Each side learns the other's connected prefixes and
installs them ``via inet6 fe80::… dev …``; a peer that stops withdraws them.

ECMP: a second r1 — r2 link with the SAME link-local addresses (r1 is fe80::1
and r2 fe80::2 on both links). A next hop is (address, interface), so a route
learned over both sessions with ``multipath = true`` is installed with two
nexthops ``via inet6 fe80::2 dev to-r2`` and ``... dev to-r2b``. Checked with
v4via6 on both ends, and with BIRD (``merge paths on``) as r2.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from interop_peers import (
    BIRD,
    BIRDC,
    PROTO_BIRD,
    PROTO_V4VIA6,
    BirdNeighbor,
    BirdRouter,
    KernelHop,
    Processes,
    V4via6Router,
    bird_config,
    hops,
    need,
    processes,
    route4,
    route_text,
    routes_both_ways,
    start_bird,
    start_v4via6,
    v4via6_config,
    wait_for,
)

from v4via6.lab import netns
from v4via6.lab.handle import Lab

pytestmark = [pytest.mark.lab, pytest.mark.interop]


@pytest.fixture(autouse=True)
def _peers_installed() -> None:
    need(BIRD, BIRDC)

#: h1 — r1 — r2 — h2, core link with IPv6 link-local addresses only
TOPOLOGY = Path(__file__).parent.parent / "data" / "two-routers.toml"

HOLD = 9  # short hold time on both sides, so a killed peer is noticed quickly
SESSION_TIMEOUT = 30.0


class Pair:
    """The running lab: v4via6 on r1, BIRD on r2, session Established."""

    def __init__(self, lab: Lab, procs: Processes, ours: V4via6Router, bird: BirdRouter) -> None:
        self.lab = lab
        self.procs = procs
        self.ours = ours
        self.bird = bird

    def detail(self) -> str:
        return "\n".join([
            self.procs.logs(), route_text(self.lab.ns("r1")), route_text(self.lab.ns("r2")),
            self.bird.birdc("show", "protocols", "all", "r1"),
        ])


@pytest.fixture
def pair(lab_up: Callable[..., Lab]) -> Iterator[Pair]:
    lab: Lab = lab_up(TOPOLOGY, routing=False, prefix="iob")
    with processes() as procs:
        ours = start_v4via6(procs, "r1", lab.ns("r1"), v4via6_config(
            asn=65001, router_id="203.0.113.1", socket=procs.rundir / "r1.sock",
            peers=[{"name": "bird", "address": f"fe80::2%{lab.ifname('r1', 'r2')}",
                    "remote_as": 65002, "hold_time": HOLD, "connect_retry": 2,
                    "import": "all", "export": "all"}],
        ), procs.rundir / "r1.sock")
        bird = start_bird(procs, "r2", lab.ns("r2"), bird_config(
            router_id="203.0.113.2", asn=65002, direct=["lo", lab.ifname("r2", "h2")],
            neighbors=[BirdNeighbor("r1", "fe80::1", lab.ifname("r2", "r1"), 65001, hold_time=HOLD)],
        ))
        both = Pair(lab, procs, ours, bird)
        wait_for(lambda: ours.established("bird") and bird.established("r1"), SESSION_TIMEOUT,
                 "v4via6 <-> BIRD session Established", detail=both.detail)
        yield both


def _routes_both_ways(p: Pair) -> bool:
    return routes_both_ways(p.lab.ns("r1"), p.lab.ns("r2"), PROTO_BIRD)


def test_session_and_routes_both_ways(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 15, "routes installed via inet6 on both sides",
             detail=pair.detail)
    r1_route = route4(pair.lab.ns("r1"), "198.51.100.0/24")
    assert r1_route is not None
    assert r1_route["via"] == {"family": "inet6", "host": "fe80::2"}
    r2_route = route4(pair.lab.ns("r2"), "192.0.2.0/24")
    assert r2_route is not None
    assert r2_route["via"] == {"family": "inet6", "host": "fe80::1"}

    peer = pair.ours.peer("bird")
    assert peer["state"] == "Established"
    assert peer["remote_as"] == 65002
    assert peer["hold_time"] == HOLD
    assert peer["capabilities"]["extended_nexthop"] == ["ipv4/unicast via ipv6"]
    assert peer["nexthop_self"] == "fe80::1 (link-local)"
    counts = peer["prefixes"]["ipv4"]
    assert counts["received"] == 2 and counts["accepted"] == 2 and counts["installed"] == 2, counts
    assert counts["sent"] >= 2, counts
    # BIRD sees our routes with our link-local next hop
    bird_routes = pair.bird.birdc("show", "route", "protocol", "r1")
    assert "192.0.2.0/24" in bird_routes and "fe80::1" in bird_routes, bird_routes
    # and IPv4 crosses the link-local-only link
    wait_for(lambda: pair.lab.ping("h1", "h2"), 10, "ping h1 -> h2 across v4via6 and BIRD",
             detail=pair.detail)


def test_bird_disable_withdraws_within_3s(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 15, "routes installed", detail=pair.detail)
    r1 = pair.lab.ns("r1")
    pair.bird.birdc("disable", "r1")
    took = wait_for(lambda: route4(r1, "198.51.100.0/24") is None and route4(r1, "203.0.113.2/32") is None,
                    3.0, "BIRD's routes gone from r1 after 'birdc disable'", detail=pair.detail)
    assert took < 3.0
    assert pair.ours.peer("bird")["state"] != "Established"


def test_v4via6_sigterm_withdraws_from_bird_within_3s(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 15, "routes installed", detail=pair.detail)
    r1, r2 = pair.lab.ns("r1"), pair.lab.ns("r2")
    pair.ours.proc.signal(signal.SIGTERM)
    took = wait_for(lambda: route4(r2, "192.0.2.0/24") is None and route4(r2, "203.0.113.1/32") is None,
                    3.0, "v4via6's routes gone from BIRD's kernel after SIGTERM", detail=pair.detail)
    assert took < 3.0
    pair.ours.proc.popen.wait(10)
    assert pair.ours.proc.popen.returncode == 0
    # a clean stop also removes v4via6's own kernel routes
    assert route4(r1, "198.51.100.0/24") is None, route_text(r1)


def test_killed_v4via6_withdrawn_by_bird(pair: Pair) -> None:
    """SIGKILL: the kernel closes the TCP connection, so BIRD drops the routes at once."""
    wait_for(lambda: _routes_both_ways(pair), 15, "routes installed", detail=pair.detail)
    r2 = pair.lab.ns("r2")
    pair.ours.proc.kill()
    wait_for(lambda: route4(r2, "192.0.2.0/24") is None and route4(r2, "203.0.113.1/32") is None,
             HOLD + 3.0, "BIRD to drop the killed peer's routes", detail=pair.detail)
    assert not pair.bird.established("r1")


def test_hung_bird_withdrawn_by_v4via6_after_hold_time(pair: Pair) -> None:
    """SIGSTOP: the connection stays open but silent; v4via6's hold timer must fire."""
    wait_for(lambda: _routes_both_ways(pair), 15, "routes installed", detail=pair.detail)
    r1 = pair.lab.ns("r1")
    frozen_at = time.monotonic()
    pair.bird.proc.signal(signal.SIGSTOP)
    wait_for(lambda: route4(r1, "198.51.100.0/24") is None and route4(r1, "203.0.113.2/32") is None,
             HOLD + 3.0, "v4via6 to drop the hung peer's routes within the hold time", detail=pair.detail)
    took = time.monotonic() - frozen_at
    # not before the hold timer could have expired (BIRD's last keepalive was at most HOLD/3 ago)
    assert took >= HOLD - HOLD / 3 - 1, took
    peer = pair.ours.peer("bird")
    assert peer["state"] != "Established"
    assert "hold" in str(peer["last_down_reason"]).lower(), peer["last_down_reason"]


# ---------------------------------------------------------------- ECMP over parallel links

R1_LINKS = ("to-r2", "to-r2b")
R2_LINKS = ("to-r1", "to-r1b")


def _second_link(lab: Lab) -> None:
    """A second r1 — r2 veth with the same link-local addresses as the first."""
    r1, r2 = lab.ns("r1"), lab.ns("r2")
    netns.create_veth(r1, "to-r2b", r2, "to-r1b")
    for ns, ifname, ll in ((r1, "to-r2b", "fe80::1"), (r2, "to-r1b", "fe80::2")):
        netns.ip_batch(ns, [f"link set dev {ifname} addrgenmode none",
                            f"addr add {ll}/64 dev {ifname} nodad",
                            f"link set dev {ifname} up"])
    wait_for(lambda: netns.link_is_up(r1, "to-r2b") and netns.link_is_up(r2, "to-r1b"), 10,
             "second link up")


def _v4via6_peers(remote: str, ifnames: tuple[str, ...], remote_as: int) -> list[dict[str, object]]:
    return [{"name": f"via-{ifname}", "address": f"{remote}%{ifname}", "remote_as": remote_as,
             "multipath": True, "connect_retry": 2, "import": "all", "export": "all"}
            for ifname in ifnames]


def _two_paths(ns: str, prefix: str, proto: str, gateway: str, devs: tuple[str, ...]) -> bool:
    route = route4(ns, prefix)
    if route is None or str(route.get("protocol")) != proto:
        return False
    return sorted(hops(route), key=lambda h: h.dev) == [KernelHop("inet6", gateway, d) for d in sorted(devs)]


@pytest.fixture
def lab2(lab_up: Callable[..., Lab]) -> Lab:
    """The same lab with a second r1 — r2 link (no daemons yet)."""
    made: Lab = lab_up(TOPOLOGY, routing=False, prefix="ioe")
    _second_link(made)
    return made


@pytest.fixture
def procs(lab2: Lab) -> Iterator[Processes]:
    with processes() as running:
        yield running


def test_ecmp_v4via6_both_ends_install_two_paths(lab2: Lab, procs: Processes) -> None:
    r1 = start_v4via6(procs, "r1", lab2.ns("r1"), v4via6_config(
        asn=65001, router_id="203.0.113.1", socket=procs.rundir / "r1.sock",
        peers=_v4via6_peers("fe80::2", R1_LINKS, 65002)), procs.rundir / "r1.sock")
    r2 = start_v4via6(procs, "r2", lab2.ns("r2"), v4via6_config(
        asn=65002, router_id="203.0.113.2", socket=procs.rundir / "r2.sock",
        peers=_v4via6_peers("fe80::1", R2_LINKS, 65001)), procs.rundir / "r2.sock")

    def detail() -> str:
        return "\n".join([procs.logs(), route_text(lab2.ns("r1")), route_text(lab2.ns("r2"))])

    wait_for(lambda: all(r1.established(f"via-{i}") for i in R1_LINKS)
             and all(r2.established(f"via-{i}") for i in R2_LINKS),
             30, "four sessions (two per router) Established", detail=detail)
    wait_for(lambda: _two_paths(lab2.ns("r1"), "198.51.100.0/24", PROTO_V4VIA6, "fe80::2", R1_LINKS)
             and _two_paths(lab2.ns("r2"), "192.0.2.0/24", PROTO_V4VIA6, "fe80::1", R2_LINKS),
             15, "two nexthops via inet6 on different interfaces on both routers", detail=detail)
    shown = r1.show("routes", "198.51.100.0/24", "--bgp")
    states = sorted(p["state"] for p in shown["routes"][0]["paths"])
    assert states == ["best", "multipath"], shown
    assert lab2.ping("h1", "h2")


def test_ecmp_v4via6_and_bird_merge_paths_install_two_paths(lab2: Lab, procs: Processes) -> None:
    r1 = start_v4via6(procs, "r1", lab2.ns("r1"), v4via6_config(
        asn=65001, router_id="203.0.113.1", socket=procs.rundir / "r1.sock",
        peers=_v4via6_peers("fe80::2", R1_LINKS, 65002)), procs.rundir / "r1.sock")
    bird = start_bird(procs, "r2", lab2.ns("r2"), bird_config(
        router_id="203.0.113.2", asn=65002, direct=["lo", "to-h2"], merge_paths=True,
        neighbors=[BirdNeighbor(f"l{n}", "fe80::1", ifname, 65001) for n, ifname in enumerate(R2_LINKS)]))

    def detail() -> str:
        return "\n".join([procs.logs(), route_text(lab2.ns("r1")), route_text(lab2.ns("r2")),
                          bird.birdc("show", "protocols")])

    wait_for(lambda: all(r1.established(f"via-{i}") for i in R1_LINKS)
             and bird.established("l0") and bird.established("l1"),
             30, "two v4via6 <-> BIRD sessions Established", detail=detail)
    wait_for(lambda: _two_paths(lab2.ns("r1"), "198.51.100.0/24", PROTO_V4VIA6, "fe80::2", R1_LINKS)
             and _two_paths(lab2.ns("r2"), "192.0.2.0/24", PROTO_BIRD, "fe80::1", R2_LINKS),
             15, "two nexthops via inet6 on different interfaces on both routers", detail=detail)
    assert lab2.ping("h1", "h2")
    # one session going away leaves exactly the other link's path
    bird.birdc("disable", "l0")
    wait_for(lambda: (route := route4(lab2.ns("r1"), "198.51.100.0/24")) is not None
             and hops(route) == [KernelHop("inet6", "fe80::2", "to-r2b")],
             3.0, "r1 down to the one path via to-r2b after 'birdc disable l0'", detail=detail)
