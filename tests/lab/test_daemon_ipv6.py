"""IPv6 unicast over BGP into the kernel: the built-in lab with `v4via6 run` on r1, r2, r3.

Real namespaces, the real kernel and the real daemon. Each router originates its
IPv6 loopback (``redistribute = ["connected"]``), so every router's kernel gets the
other loopbacks as ``2001:db8:ffff::N/128 via fe80::.. dev to-rN proto v4via6``,
``ping -6`` between loopbacks crosses r2, a crash's leftovers are reconciled at
restart (foreign IPv6 routes untouched), and a clean stop takes them away.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from ipaddress import IPv6Address, IPv6Network
from typing import Any

import pytest

from v4via6.lab.handle import Lab
from v4via6.lab.netns import wait_until
from v4via6.model import PROTO_NUMBER

LabUp = Callable[..., Lab]

pytestmark = pytest.mark.lab

LO = {n: IPv6Network(f"2001:db8:ffff::{n[1]}/128") for n in ("r1", "r2", "r3")}
# Where each router's routes to the other loopbacks go: (interface, neighbour).
TOWARDS = {
    "r1": {"r2": "r2", "r3": "r2"},
    "r2": {"r1": "r1", "r3": "r3"},
    "r3": {"r1": "r2", "r2": "r2"},
}


def own_routes6(lab: Lab, node: str) -> dict[IPv6Network, dict[str, Any]]:
    """IPv6 routes of ``node``'s main table with protocol 46, by prefix."""
    proc = lab.exec(node, "ip", "-j", "-6", "route", "show", "proto", str(PROTO_NUMBER))
    data = json.loads(proc.stdout or "[]")
    out: dict[IPv6Network, dict[str, Any]] = {}
    for entry in data if isinstance(data, list) else []:
        dst = entry.get("dst")
        if isinstance(dst, str) and dst != "default":
            out[IPv6Network(dst if "/" in dst else f"{dst}/128")] = entry
    return out


def expected(lab: Lab, node: str) -> dict[IPv6Network, tuple[str, IPv6Address]]:
    """Other routers' loopbacks -> (interface, gateway link-local) on ``node``."""
    return {
        LO[other]: (lab.ifname(node, hop), lab.link_local(hop, node))
        for other, hop in TOWARDS[node].items()
    }


def installed_as_expected(lab: Lab, node: str) -> bool:
    have = own_routes6(lab, node)
    want = expected(lab, node)
    if set(have) != set(want):
        return False
    return all(
        have[net].get("dev") == dev and have[net].get("gateway") == str(gw)
        for net, (dev, gw) in want.items()
    )


def ping6(lab: Lab, src: str, dst: str) -> bool:
    proc = lab.exec(
        src, "ping", "-6", "-n", "-q", "-c", "1", "-W", "2", "-I", str(LO[src].network_address),
        str(LO[dst].network_address), check=False, timeout=10,
    )
    return proc.returncode == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def lab(module_lab_up: LabUp) -> Lab:
    """One default lab (BGP mode), namespaces ``v4v6-v6<hex>-*``."""
    up = module_lab_up(prefix="v6")
    assert up.state.routing_mode == "bgp"
    for node in ("r1", "r2", "r3"):
        wait_until(lambda node=node: installed_as_expected(up, node), timeout=15.0,
                   what=f"{node}'s IPv6 loopback routes")
    return up


def test_loopbacks_installed_via_link_local_and_ping6_crosses(lab: Lab) -> None:
    for node in ("r1", "r2", "r3"):
        routes = own_routes6(lab, node)
        for entry in routes.values():  # (listed with "proto 46": only v4via6's own routes)
            assert entry.get("metric") == 1024, entry  # metric 0 as the kernel keeps it
        # its own loopback is not learned back
        assert LO[node] not in routes
    assert ping6(lab, "r1", "r3") and ping6(lab, "r3", "r1")
    # traceroute-free check that it crossed r2: r1's route to r3 goes to r2
    assert own_routes6(lab, "r1")[LO["r3"]]["dev"] == lab.ifname("r1", "r2")
    # the daemon says what it installed; IPv4 is untouched
    view = lab.ask("r1", "show-routes", family="ipv6")
    rows = {r["prefix"]: r for r in view["routes"]}
    assert rows[str(LO["r3"])]["installed"] is True and rows[str(LO["r2"])]["installed"] is True
    status = lab.ask("r1", "show-status")
    assert status["routes_installed_ipv6"] == 2
    assert status["routes_installed"] >= 2  # IPv4 routes as before
    peer = next(p for p in lab.peers("r2") if p["name"] == "to-r3")
    assert peer["prefixes"]["ipv6"]["installed"] == 1  # r3's loopback


def test_restart_after_crash_reconciles_ipv6_leftovers(lab: Lab) -> None:
    r2_ll = str(lab.link_local("r2", "r1"))
    dev = lab.ifname("r1", "r2")
    stale, foreign = "2001:db8:ffff::99/128", "2001:db8:ffff::98/128"
    old = lab.stop_daemon("r1", signal.SIGKILL)  # a crash: no clean-up runs
    assert old is not None
    wait_until(lambda: not _alive(old), timeout=5.0, what="r1's daemon to die")
    assert set(expected(lab, "r1")) <= set(own_routes6(lab, "r1"))  # left behind
    lab.exec("r1", "ip", "-6", "route", "add", stale, "via", r2_ll, "dev", dev, "proto", str(PROTO_NUMBER))
    lab.exec("r1", "ip", "-6", "route", "add", foreign, "via", r2_ll, "dev", dev, "proto", "static")
    try:
        lab.start_daemon("r1")
        wait_until(lambda: IPv6Network(stale) not in own_routes6(lab, "r1"), timeout=10.0,
                   what="r1's stale IPv6 route to go at restart")
        wait_until(lambda: installed_as_expected(lab, "r1"), timeout=15.0,
                   what="r1's IPv6 routes to come back over BGP")
        assert ping6(lab, "r1", "r3")
        left = lab.exec("r1", "ip", "-6", "route", "show", foreign).stdout
        assert "proto static" in left, left
    finally:
        lab.exec("r1", "ip", "-6", "route", "del", foreign, "proto", "static", check=False)


def test_clean_stop_removes_ipv6_routes_everywhere(lab: Lab) -> None:
    pid = lab.daemon("r3").pid
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)

    def withdrawn() -> bool:
        return LO["r3"] not in own_routes6(lab, "r1") and LO["r3"] not in own_routes6(lab, "r2")

    wait_until(withdrawn, timeout=5.0, what="r3's loopback gone from r1 and r2")
    assert time.monotonic() - t0 < 5.0
    wait_until(lambda: not _alive(pid), timeout=5.0, what="r3's daemon to exit")
    assert own_routes6(lab, "r3") == {}  # r3's own kernel: nothing of v4via6 left
    assert "proto v4via6" not in lab.exec("r3", "ip", "-6", "route").stdout
    assert not ping6(lab, "r1", "r3")
    # r1 and r2 keep each other's loopbacks
    assert LO["r2"] in own_routes6(lab, "r1") and LO["r1"] in own_routes6(lab, "r2")
    assert ping6(lab, "r1", "r2")
