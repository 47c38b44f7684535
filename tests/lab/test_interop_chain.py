"""A chain of four different BGP speakers over link-local-only IPv6 links, IPv4 end to end.

    h1 — r1 v4via6 — r2 BIRD — r3 v4via6 — r4 FRR — h2
         AS 65001    AS 65002   AS 65003    AS 65004

Core links carry only fe80::<router number>; every router has an IPv4
loopback /32 (the source of its ICMP errors). v4via6 peers with BIRD by
link-local address and with FRR by interface (unnumbered). IPv4 ping and
traceroute cross the whole chain; stopping or freezing the v4via6 in the middle
withdraws the routes behind it on every other router.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from interop_peers import (
    BGPD,
    BIRD,
    BIRDC,
    PROTO_BIRD,
    PROTO_FRR,
    PROTO_V4VIA6,
    VTYSH,
    ZEBRA,
    BirdNeighbor,
    BirdRouter,
    FrrRouter,
    Processes,
    V4via6Router,
    bird_config,
    frr_bgpd_config,
    frr_zebra_config,
    installed_via_inet6,
    need,
    processes,
    route4,
    route_text,
    start_bird,
    start_frr,
    start_v4via6,
    v4via6_config,
    wait_for,
)

from v4via6.lab.handle import Lab

pytestmark = [pytest.mark.lab, pytest.mark.interop]


@pytest.fixture(autouse=True)
def _peers_installed() -> None:
    need(BIRD, BIRDC, ZEBRA, BGPD, VTYSH)

TOPOLOGY = """
[nodes.h1]
kind = "host"
[nodes.r1]
kind = "router"
[nodes.r2]
kind = "router"
[nodes.r3]
kind = "router"
[nodes.r4]
kind = "router"
[nodes.h2]
kind = "host"
[[links]]
a = "h1"
b = "r1"
subnet = "192.0.2.0/24"
[[links]]
a = "r1"
b = "r2"
[[links]]
a = "r2"
b = "r3"
[[links]]
a = "r3"
b = "r4"
[[links]]
a = "r4"
b = "h2"
subnet = "198.51.100.0/24"
"""

HOLD = 9
ROUTERS = ("r1", "r2", "r3", "r4")
PROTO = {"r1": PROTO_V4VIA6, "r2": PROTO_BIRD, "r3": PROTO_V4VIA6, "r4": PROTO_FRR}
#: Prefixes each router originates (its host subnet and/or loopback).
ORIGIN = {
    "r1": ["192.0.2.0/24", "203.0.113.1/32"],
    "r2": ["203.0.113.2/32"],
    "r3": ["203.0.113.3/32"],
    "r4": ["198.51.100.0/24", "203.0.113.4/32"],
}
#: The interface each router uses towards r1's side and towards r4's side.
TOWARDS_R1 = {"r2": "to-r1", "r3": "to-r2", "r4": "to-r3"}
TOWARDS_R4 = {"r1": "to-r2", "r2": "to-r3", "r3": "to-r4"}


class Chain:
    """The running chain, all four sessions Established."""

    def __init__(self, lab: Lab, procs: Processes, r1: V4via6Router, r2: BirdRouter,
                 r3: V4via6Router, r4: FrrRouter) -> None:
        self.lab = lab
        self.procs = procs
        self.r1, self.r2, self.r3, self.r4 = r1, r2, r3, r4

    def detail(self) -> str:
        return "\n".join([self.procs.logs(), *(route_text(self.lab.ns(r)) for r in ROUTERS),
                          self.r2.birdc("show", "protocols"), self.r4.vtysh("show bgp summary")])

    def expected_routes(self, router: str) -> bool:
        """``router`` holds every other router's prefixes via inet6 towards the right side."""
        ns = self.lab.ns(router)
        index = ROUTERS.index(router)
        for other in ROUTERS:
            if other == router:
                continue
            dev = TOWARDS_R4[router] if ROUTERS.index(other) > index else TOWARDS_R1[router]
            for prefix in ORIGIN[other]:
                if not installed_via_inet6(ns, prefix, PROTO[router], dev):
                    return False
        return True

    def all_routes(self) -> bool:
        return all(self.expected_routes(r) for r in ROUTERS)


@pytest.fixture
def chain(lab_up: Callable[..., Lab]) -> Iterator[Chain]:
    lab: Lab = lab_up(TOPOLOGY, routing=False, prefix="ioc")
    with processes() as procs:
        common = {"hold_time": HOLD, "connect_retry": 2, "import": "all", "export": "all"}
        r1 = start_v4via6(procs, "r1", lab.ns("r1"), v4via6_config(
            asn=65001, router_id="203.0.113.1", socket=procs.rundir / "r1.sock",
            peers=[{"name": "r2", "address": "fe80::2%to-r2", "remote_as": 65002, **common}],
        ), procs.rundir / "r1.sock")
        r2 = start_bird(procs, "r2", lab.ns("r2"), bird_config(
            router_id="203.0.113.2", asn=65002, direct=["lo"],
            neighbors=[BirdNeighbor("r1", "fe80::1", "to-r1", 65001, HOLD),
                       BirdNeighbor("r3", "fe80::3", "to-r3", 65003, HOLD)],
        ))
        r3 = start_v4via6(procs, "r3", lab.ns("r3"), v4via6_config(
            asn=65003, router_id="203.0.113.3", socket=procs.rundir / "r3.sock",
            peers=[{"name": "r2", "address": "fe80::2%to-r2", "remote_as": 65002, **common},
                   {"name": "r4", "interface": "to-r4", "remote_as": "external", **common}],
        ), procs.rundir / "r3.sock")
        r4 = start_frr(procs, "r4", lab.ns("r4"), frr_zebra_config("r4", ["to-r3"]),
                       frr_bgpd_config("r4", asn=65004, router_id="203.0.113.4",
                                       interfaces=["to-r3"], hold_time=HOLD))
        c = Chain(lab, procs, r1, r2, r3, r4)
        wait_for(
            lambda: r1.established("r2") and r2.established("r1") and r2.established("r3")
            and r3.established("r2") and r3.established("r4") and r4.established("to-r3"),
            45, "all four sessions of the chain Established", detail=c.detail,
        )
        wait_for(c.all_routes, 20, "every router's prefixes on every other router", detail=c.detail)
        yield c


def _traceroute_hops(lab: Lab) -> list[str]:
    proc = lab.exec("h1", "traceroute", "-n", "-q", "1", "-w", "1", "-m", "8", str(lab.ipv4("h2")),
                    check=False, timeout=30)
    hops: list[str] = []
    for line in proc.stdout.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2:
            hops.append(fields[1])
    return hops


def test_ping_and_traceroute_cross_the_chain(chain: Chain) -> None:
    lab = chain.lab
    wait_for(lambda: lab.ping("h1", "h2"), 10, "ping h1 -> h2 across the chain", detail=chain.detail)
    assert lab.ping("h2", "h1")
    # every router answers from its own loopback (or its host-facing address)
    want = ["192.0.2.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "198.51.100.2"]
    seen: list[list[str]] = []

    def full_path() -> bool:
        seen.append(_traceroute_hops(lab))
        return seen[-1] == want

    wait_for(full_path, 20, f"traceroute h1 -> h2 to show {want}",
             detail=lambda: f"last traceroute hops: {seen[-1:]}")
    # core links really are link-local only
    for router in ROUTERS:
        out = subprocess.run(["ip", "-n", lab.ns(router), "-4", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, check=True).stdout
        for ifname in ("to-r1", "to-r2", "to-r3", "to-r4"):
            assert f" {ifname}" not in out, out


def test_stopping_the_middle_v4via6_withdraws_everywhere_within_3s(chain: Chain) -> None:
    chain.r3.proc.signal(signal.SIGTERM)
    r1, r2, r4 = (chain.lab.ns(r) for r in ("r1", "r2", "r4"))

    def gone() -> bool:
        return (route4(r1, "198.51.100.0/24") is None and route4(r1, "203.0.113.3/32") is None
                and route4(r2, "198.51.100.0/24") is None and route4(r4, "192.0.2.0/24") is None
                and route4(r4, "203.0.113.2/32") is None)

    took = wait_for(gone, 3.0, "r3's and r4's routes gone on r1/r2, r1's and r2's on r4", detail=chain.detail)
    assert took < 3.0
    # what r1 and r2 still have between themselves stays
    assert installed_via_inet6(r1, "203.0.113.2/32", PROTO_V4VIA6, "to-r2")


def test_frozen_middle_v4via6_withdrawn_everywhere_within_hold_time(chain: Chain) -> None:
    frozen_at = time.monotonic()
    chain.r3.proc.signal(signal.SIGSTOP)
    r1, r4 = chain.lab.ns("r1"), chain.lab.ns("r4")
    wait_for(lambda: route4(r1, "198.51.100.0/24") is None and route4(r4, "192.0.2.0/24") is None,
             HOLD + 3.0, "r1 and r4 to lose the routes through the frozen r3", detail=chain.detail)
    assert time.monotonic() - frozen_at < HOLD + 3.0
    assert not chain.lab.ping("h1", "h2", timeout=1.0)
