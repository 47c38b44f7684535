"""The built-in lab in BGP mode: `v4via6 run` on every router, unnumbered sessions.

Real namespaces, the real kernel and the real daemon (one per router):
IPv4 crosses, `show peers --json` keeps its keys, a clean stop withdraws
everywhere within 3 s and leaves no routes behind, a policy reload needs no
session reset, and a restart after a crash reconciles what the crash left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest

from v4via6.lab import netns
from v4via6.lab.converge import kernel_prefixes
from v4via6.lab.handle import Lab
from v4via6.lab.lifecycle import v4via6_command
from v4via6.lab.netns import wait_until
from v4via6.lab.state import list_labs, ns_prefix

LabUp = Callable[..., Lab]

pytestmark = pytest.mark.lab

H2_NET = IPv4Network("198.51.100.0/24")
R3_LO = IPv4Network("203.0.113.3/32")


@pytest.fixture(scope="module")
def shared(module_lab_up: LabUp) -> Lab:
    """One default lab (BGP mode) for the tests that only look."""
    return module_lab_up(prefix="tg")


def _peer(lab: Lab, node: str, name: str) -> dict[str, Any]:
    for peer in lab.peers(node):
        if peer["name"] == name:
            return peer
    raise AssertionError(f"{node} has no peer {name}: {lab.peers(node)}")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def test_default_lab_runs_bgp_and_ipv4_crosses(shared: Lab) -> None:
    lab = shared
    assert lab.state.routing_mode == "bgp"
    assert sorted(p.node for p in lab.state.processes) == ["r1", "r2", "r3"]
    assert all(p.pid is not None and _alive(p.pid) for p in lab.state.processes)
    assert lab.ping("h1", "h2") and lab.ping("h2", "h1")
    r1 = lab.routes4_json("r1")
    learned = [r for r in r1 if r.get("dst") == "198.51.100.0/24"]
    assert len(learned) == 1, r1
    route = learned[0]
    assert route["via"] == {"family": "inet6", "host": "fe80::2"} and route["dev"] == "to-r2"
    assert route["protocol"] in ("v4via6", "46")
    assert route.get("prefsrc") == "203.0.113.1"  # r1's loopback /32
    # r2 learned everything from both sides, with no IPv4 address of its own
    assert kernel_prefixes(lab.name, "r2") == {
        IPv4Network("192.0.2.0/24"), IPv4Network("203.0.113.1/32"), H2_NET, R3_LO,
    }
    assert [ln.split()[3] for ln in lab.exec("r2", "ip", "-4", "-o", "addr").stdout.splitlines()] \
        == ["127.0.0.1/8"]


def test_show_peers_json_keys_are_present_and_stable(shared: Lab) -> None:
    lab = shared

    def show(node: str) -> list[dict[str, Any]]:
        proc = subprocess.run(
            [*v4via6_command(), "show", "peers", "--socket", lab.socket(node), "--json"],
            capture_output=True, text=True, timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        peers = json.loads(proc.stdout)["peers"]
        assert isinstance(peers, list)
        return peers

    first = show("r2")
    assert [(p["name"], p["remote_as"], p["state"]) for p in first] == [
        ("to-r1", 65001, "Established"), ("to-r3", 65003, "Established"),
    ]
    for peer in first:
        assert {"name", "state", "remote_as", "capabilities", "prefixes"} <= set(peer)
        assert "ipv4/unicast via ipv6" in peer["capabilities"]["extended_nexthop"]
        v4 = peer["prefixes"]["ipv4"]
        assert set(v4) == {"received", "accepted", "installed", "sent"}
        assert v4 == {"received": 2, "accepted": 2, "installed": 2, "sent": 2}
    again = show("r2")

    def shape(value: object) -> object:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items() if k not in ("counters", "uptime")}
        return type(value).__name__

    assert [shape(p) for p in again] == [shape(p) for p in first]
    assert [p["prefixes"]["ipv4"]["received"] for p in show("r1")] == [2]


def test_sigterm_withdraws_everywhere_within_3s_and_leaves_no_routes(lab_up: LabUp) -> None:
    lab = lab_up(prefix="tg")
    assert {H2_NET, R3_LO} <= kernel_prefixes(lab.name, "r1")
    pid = lab.daemon("r3").pid
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)

    def withdrawn() -> bool:
        return not ({H2_NET, R3_LO} & (kernel_prefixes(lab.name, "r2")
                                        | kernel_prefixes(lab.name, "r1")))

    wait_until(withdrawn, timeout=3.0, what="r3's routes gone from r2 and r1")
    took = time.monotonic() - t0
    assert took < 3.0
    wait_until(lambda: not _alive(pid), timeout=5.0, what="r3's daemon to exit")
    # clean stop: r3's own namespace holds no v4via6 route any more
    assert kernel_prefixes(lab.name, "r3") == set()
    assert "proto v4via6" not in lab.exec("r3", "ip", "-4", "route").stdout
    # r2 saw a NOTIFICATION (Cease), not a hold-timer expiry
    peer = _peer(lab, "r2", "to-r3")
    assert peer["state"] != "Established"
    assert peer["counters"]["notifications_received"], peer
    assert not lab.ping("h1", "h2", timeout=0.5)
    # r1 and r2 keep what r1 and r2 originate
    assert IPv4Network("192.0.2.0/24") in kernel_prefixes(lab.name, "r2")
    pids = [p.pid for p in lab.state.processes if p.pid is not None]
    lab.down()
    assert not any(_alive(p) for p in pids), "lab down left a daemon running"
    assert netns.list_namespaces(ns_prefix(lab.name)) == []
    assert lab.name not in list_labs()


def test_reload_export_policy_applies_without_session_reset(lab_up: LabUp) -> None:
    lab = lab_up(prefix="tg")
    cfg = lab.config_path("r2")
    assert cfg is not None
    before = {n: _peer(lab, *n) for n in (("r2", "to-r1"), ("r1", "to-r2"))}
    assert all(p["counters"]["established"] == 1 for p in before.values())
    text = cfg.read_text()
    # r2 now exports only h2's subnet towards r1 (not r3's loopback)
    marker = 'interface = "to-r1"\nremote_as = "external"\nimport = "all"\nexport = "all"'
    assert marker in text
    cfg.write_text(text.replace(marker, marker.replace(
        'export = "all"', 'export = { prefix = ["198.51.100.0/24"] }')))
    proc = subprocess.run(
        [*v4via6_command(), "reload", "--socket", lab.socket("r2"), "--json"],
        capture_output=True, text=True, timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["policy"] == ["to-r1"] and summary["reset"] == [] and summary["added"] == []
    wait_until(lambda: R3_LO not in kernel_prefixes(lab.name, "r1"), timeout=5.0,
               what="r1 to lose 203.0.113.3/32 after the export change")
    assert H2_NET in kernel_prefixes(lab.name, "r1")
    assert lab.ping("h1", "h2")
    for (node, name), old in before.items():
        now = _peer(lab, node, name)
        assert now["state"] == "Established"
        assert now["counters"]["established"] == 1, f"{node} {name} session was reset"
        assert now["counters"]["down"] == old["counters"]["down"]
        assert now["uptime"] >= old["uptime"]
    sent = _peer(lab, "r2", "to-r1")["prefixes"]["ipv4"]
    got = _peer(lab, "r1", "to-r2")["prefixes"]["ipv4"]
    assert (sent["sent"], got["received"], got["installed"]) == (1, 1, 1)


def test_restart_after_sigkill_reconciles_leftovers(lab_up: LabUp) -> None:
    lab = lab_up(prefix="tg")
    old = lab.stop_daemon("r1", signal.SIGKILL)  # a crash: no clean-up runs
    assert old is not None and not _alive(old)
    # what the crashed daemon installed is still in r1's kernel ...
    assert {H2_NET, R3_LO} <= kernel_prefixes(lab.name, "r1")
    # ... plus a route it had learned that no peer will announce again
    stale = IPv4Network("198.51.100.128/25")
    lab.exec("r1", "ip", "route", "add", str(stale), "via", "inet6", "fe80::2",
             "dev", "to-r2", "proto", "46")
    # a route of another protocol must survive
    lab.exec("r1", "ip", "route", "add", "198.51.100.64/26", "via", "inet6", "fe80::2",
             "dev", "to-r2", "proto", "static")
    new = lab.start_daemon("r1")
    assert new != old and _alive(new)
    lab.wait_converged(timeout=20)
    assert stale not in kernel_prefixes(lab.name, "r1")
    assert kernel_prefixes(lab.name, "r1") == {H2_NET, R3_LO}
    assert "198.51.100.64/26" in lab.exec("r1", "ip", "-4", "route", "show", "proto",
                                          "static").stdout
    # the restarted daemon deleted the three leftovers first (then BGP put two back)
    log = Path(lab.daemon("r1").log or "").read_text().split("event=starting")[-1]
    found = re.search(r"event=static-reconciled .*delete=(\d+)", log)
    assert found is not None and int(found.group(1)) == 3, log
    assert lab.ping("h1", "h2")
    assert _peer(lab, "r1", "to-r2")["state"] == "Established"
