"""v4via6 against real FRR (zebra + bgpd) with unnumbered BGP on both sides.

    h1 (192.0.2.2) — r1 v4via6 AS 65001 — r2 FRR AS 65002 — h2 (198.51.100.2)

The r1 — r2 link carries only fe80::1 / fe80::2. FRR has
``neighbor to-r1 interface remote-as external`` and learns our link-local
address only from the router advertisements v4via6 sends; v4via6 peers with
``interface = "to-r2"``. Routes go both ways and are installed via inet6.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from interop_peers import (
    BGPD,
    PROTO_FRR,
    VTYSH,
    ZEBRA,
    FrrRouter,
    Processes,
    V4via6Router,
    frr_bgpd_config,
    frr_zebra_config,
    need,
    processes,
    route4,
    route_text,
    routes_both_ways,
    start_frr,
    start_v4via6,
    v4via6_config,
    wait_for,
)

from v4via6.lab.handle import Lab

pytestmark = [pytest.mark.lab, pytest.mark.interop]


@pytest.fixture(autouse=True)
def _peers_installed() -> None:
    need(ZEBRA, BGPD, VTYSH)

#: h1 — r1 — r2 — h2, core link with IPv6 link-local addresses only
TOPOLOGY = Path(__file__).parent.parent / "data" / "two-routers.toml"

HOLD = 9
SESSION_TIMEOUT = 45.0  # FRR waits for an RA before it even tries


class Pair:
    """The running lab: v4via6 on r1, FRR on r2, session Established."""

    def __init__(self, lab: Lab, procs: Processes, ours: V4via6Router, frr: FrrRouter) -> None:
        self.lab = lab
        self.procs = procs
        self.ours = ours
        self.frr = frr

    def detail(self) -> str:
        return "\n".join([
            self.procs.logs(), route_text(self.lab.ns("r1")), route_text(self.lab.ns("r2")),
            self.frr.vtysh("show bgp summary"),
        ])


@pytest.fixture
def pair(lab_up: Callable[..., Lab]) -> Iterator[Pair]:
    lab: Lab = lab_up(TOPOLOGY, routing=False, prefix="iof")
    with processes() as procs:
        ours = start_v4via6(procs, "r1", lab.ns("r1"), v4via6_config(
            asn=65001, router_id="203.0.113.1", socket=procs.rundir / "r1.sock",
            peers=[{"name": "frr", "interface": lab.ifname("r1", "r2"), "remote_as": "external",
                    "hold_time": HOLD, "connect_retry": 2, "import": "all", "export": "all"}],
        ), procs.rundir / "r1.sock")
        frr = start_frr(
            procs, "r2", lab.ns("r2"),
            frr_zebra_config("r2", [lab.ifname("r2", "r1")]),
            frr_bgpd_config("r2", asn=65002, router_id="203.0.113.2",
                            interfaces=[lab.ifname("r2", "r1")], hold_time=HOLD),
        )
        both = Pair(lab, procs, ours, frr)
        wait_for(lambda: ours.established("frr") and frr.established("to-r1"), SESSION_TIMEOUT,
                 "v4via6 <-> FRR unnumbered session Established", detail=both.detail)
        yield both


def _routes_both_ways(p: Pair) -> bool:
    return routes_both_ways(p.lab.ns("r1"), p.lab.ns("r2"), PROTO_FRR)


def test_unnumbered_session_and_routes_both_ways(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 20, "routes installed via inet6 on both sides",
             detail=pair.detail)
    r1_route = route4(pair.lab.ns("r1"), "198.51.100.0/24")
    assert r1_route is not None and r1_route["via"] == {"family": "inet6", "host": "fe80::2"}
    r2_route = route4(pair.lab.ns("r2"), "192.0.2.0/24")
    assert r2_route is not None and r2_route["via"] == {"family": "inet6", "host": "fe80::1"}

    peer = pair.ours.peer("frr")
    assert peer["state"] == "Established"
    assert peer["address"] == "fe80::2"  # discovered on the interface
    assert peer["remote_as"] == 65002
    assert peer["capabilities"]["extended_nexthop"] == ["ipv4/unicast via ipv6"]
    counts = peer["prefixes"]["ipv4"]
    assert counts["accepted"] >= 2 and counts["installed"] >= 2, counts

    summary = pair.frr.summary()["peers"]["to-r1"]
    assert summary["remoteAs"] == 65001
    assert summary["pfxRcd"] == 2, summary
    wait_for(lambda: pair.lab.ping("h1", "h2"), 10, "ping h1 -> h2 across v4via6 and FRR",
             detail=pair.detail)


def test_v4via6_sigterm_withdraws_from_frr_within_3s(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 20, "routes installed", detail=pair.detail)
    r2 = pair.lab.ns("r2")
    pair.ours.proc.signal(signal.SIGTERM)
    took = wait_for(lambda: route4(r2, "192.0.2.0/24") is None and route4(r2, "203.0.113.1/32") is None,
                    3.0, "v4via6's routes gone from FRR's kernel after SIGTERM", detail=pair.detail)
    assert took < 3.0


def test_frr_neighbor_shutdown_withdraws_within_3s(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 20, "routes installed", detail=pair.detail)
    r1 = pair.lab.ns("r1")
    pair.frr.vtysh_config(["router bgp 65002", "neighbor to-r1 shutdown"])
    took = wait_for(lambda: route4(r1, "198.51.100.0/24") is None and route4(r1, "203.0.113.2/32") is None,
                    3.0, "FRR's routes gone from r1 after 'neighbor shutdown'", detail=pair.detail)
    assert took < 3.0


def test_killed_frr_bgpd_withdrawn_by_v4via6_within_hold_time(pair: Pair) -> None:
    wait_for(lambda: _routes_both_ways(pair), 20, "routes installed", detail=pair.detail)
    r1 = pair.lab.ns("r1")
    killed_at = time.monotonic()
    pair.frr.bgpd.kill()
    wait_for(lambda: route4(r1, "198.51.100.0/24") is None and route4(r1, "203.0.113.2/32") is None,
             HOLD + 3.0, "v4via6 to drop the killed bgpd's routes", detail=pair.detail)
    assert time.monotonic() - killed_at < HOLD + 3.0
    assert pair.ours.peer("frr")["state"] != "Established"
