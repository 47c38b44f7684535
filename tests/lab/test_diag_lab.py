"""route get / check / show routes against the real kernel in network namespaces.

Topology (namespaces ``v4v6-dg-<hex>-{r,b,c}``; veths carry IPv6 link-local only)::

    b (lo 198.51.100.1/32) --to-r|to-b-- r (lo 192.0.2.1/32) --to-c|to-r-- c (no IPv4)

r routes 198.51.100.0/24 and 203.0.113.0/24 via b's link-local, and
192.0.2.128/25 via c's link-local (all proto v4via6), plus 192.0.2.64/26 with
proto static (a foreign route); b and c route 192.0.2.0/24 back via r.
"""

from __future__ import annotations

import functools
import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Any

import pytest

from v4via6.lab import netns

pytestmark = pytest.mark.lab


@dataclass
class Topo:
    r: str
    b: str
    c: str
    ll_b: IPv6Address  # b's link-local towards r
    ll_c: IPv6Address  # c's link-local towards r
    ll_r_c: IPv6Address  # r's link-local towards c
    mac_b: str


def _link_local(ns: str, dev: str) -> IPv6Address:
    out = netns.run(["ip", "-n", ns, "-j", "-6", "addr", "show", "dev", dev, "scope", "link"])
    data = json.loads(out.stdout)
    infos = [a for a in data[0]["addr_info"] if "tentative" not in a] if data else []
    if not infos:
        raise netns.NetnsError(f"{ns}/{dev}: no link-local address yet")
    return IPv6Address(infos[0]["local"])


def _has_link_local(ns: str, dev: str) -> bool:
    try:
        _link_local(ns, dev)
    except netns.NetnsError:
        return False
    return True


def _mac(ns: str, dev: str) -> str:
    out = netns.run(["ip", "-n", ns, "-j", "link", "show", "dev", dev])
    return str(json.loads(out.stdout)[0]["address"])


@pytest.fixture(scope="module")
def topo() -> Iterator[Topo]:
    base = f"v4v6-dg-{secrets.token_hex(3)}"
    r, b, c = f"{base}-r", f"{base}-b", f"{base}-c"
    made: list[str] = []
    try:
        for ns in (r, b, c):
            netns.create_namespace(ns)
            made.append(ns)
            netns.set_sysctls(ns, {
                "net.ipv6.conf.all.accept_dad": 0,
                "net.ipv6.conf.default.accept_dad": 0,
                "net.ipv4.ip_forward": 1,
                "net.ipv6.conf.all.forwarding": 1,
                "net.ipv4.conf.all.rp_filter": 0,
                "net.ipv4.conf.default.rp_filter": 0,
            })
        netns.create_veth(r, "to-b", b, "to-r")
        netns.create_veth(r, "to-c", c, "to-r")
        netns.ip_batch(r, ["link set to-b up", "link set to-c up",
                           "addr add 192.0.2.1/32 dev lo"])
        netns.ip_batch(b, ["link set to-r up", "addr add 198.51.100.1/32 dev lo"])
        netns.ip_batch(c, ["link set to-r up"])
        for ns, dev in ((r, "to-b"), (r, "to-c"), (b, "to-r"), (c, "to-r")):
            netns.wait_until(functools.partial(_has_link_local, ns, dev), timeout=10,
                             what=f"link-local on {ns}/{dev}")
        ll_b, ll_c = _link_local(b, "to-r"), _link_local(c, "to-r")
        ll_r_b, ll_r_c = _link_local(r, "to-b"), _link_local(r, "to-c")
        netns.ip_batch(r, [
            f"route add 198.51.100.0/24 via inet6 {ll_b} dev to-b proto 46",
            f"route add 203.0.113.0/24 via inet6 {ll_b} dev to-b proto 46",
            f"route add 192.0.2.128/25 via inet6 {ll_c} dev to-c proto 46",
            f"route add 192.0.2.64/26 via inet6 {ll_b} dev to-b proto static",  # not ours
        ])
        netns.ip_batch(b, [f"route add 192.0.2.0/24 via inet6 {ll_r_b} dev to-r proto 46"])
        netns.ip_batch(c, [f"route add 192.0.2.0/24 via inet6 {ll_r_c} dev to-r proto 46"])
        yield Topo(r, b, c, ll_b, ll_c, ll_r_c, _mac(b, "to-r"))
    finally:
        for ns in reversed(made):
            netns.delete_namespace(ns)


def v4via6(ns: str, *args: str, drop_caps: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the CLI inside ``ns`` (optionally with every capability dropped)."""
    cmd = [sys.executable, "-m", "v4via6.cli.main", *args]
    if drop_caps:
        cmd = ["setpriv", "--bounding-set=-all", "--inh-caps=-all", *cmd]
    return netns.ns_exec(ns, *cmd, check=False, timeout=60)


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert not proc.stderr.strip(), proc.stderr
    return json.loads(proc.stdout)


def _pings(ns: str, dst: str, *extra: str) -> bool:
    return netns.ns_exec(ns, "ping", "-n", "-c1", "-W1", *extra, dst, check=False).returncode == 0


def test_route_get_shows_via_inet6_nexthop_with_neighbour_entry(topo: Topo) -> None:
    netns.wait_until(lambda: _pings(topo.r, "198.51.100.1"), timeout=15,
                     what="r pings b's loopback")
    proc = v4via6(topo.r, "route", "get", "198.51.100.1", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = as_json(proc)
    assert data["verdict"] == "output" and data["drop"] is False
    matched = data["matched"]
    assert matched["prefix"] == "198.51.100.0/24" and matched["protocol"] == 46
    assert matched["protocol_name"] == "v4via6" and matched["found_by"] == "kernel"
    hop = data["nexthops"][0]
    assert (hop["family"], hop["via"], hop["dev"]) == ("inet6", str(topo.ll_b), "to-b")
    assert hop["neigh_state"] in ("REACHABLE", "STALE", "DELAY", "PROBE")
    assert hop["neigh_mac"] == topo.mac_b
    assert data["dev"] == "to-b" and data["src"] == "192.0.2.1"
    assert data["icmp_source"]["address"] == "192.0.2.1"

    text = v4via6(topo.r, "route", "get", "198.51.100.1")
    assert text.returncode == 0
    assert f"next hop: via inet6 {topo.ll_b} dev to-b" in text.stdout
    assert f"neighbour: {topo.mac_b}" in text.stdout


def test_show_routes_lists_own_routes_with_neighbour_state(topo: Topo) -> None:
    netns.wait_until(lambda: _pings(topo.r, "198.51.100.1"), timeout=15,
                     what="r pings b's loopback")
    data = as_json(v4via6(topo.r, "show", "routes", "--json"))
    by_prefix = {r["prefix"]: r for r in data["routes"]}
    assert set(by_prefix) == {"198.51.100.0/24", "203.0.113.0/24", "192.0.2.128/25"}
    hop = by_prefix["198.51.100.0/24"]["nexthops"][0]
    assert hop["via"] == str(topo.ll_b) and hop["dev"] == "to-b"
    assert hop["neigh_state"] in ("REACHABLE", "STALE", "DELAY", "PROBE")
    everything = as_json(v4via6(topo.r, "show", "routes", "--all", "--json"))
    foreign = [r for r in everything["routes"] if r["prefix"] == "192.0.2.64/26"]
    assert foreign and foreign[0]["own"] is False and foreign[0]["protocol_name"] == "static"
    text = v4via6(topo.r, "show", "routes")
    assert f"via inet6 {topo.ll_b} dev to-b" in text.stdout


def test_rp_filter_trap_is_explained_and_the_fix_works(topo: Topo) -> None:
    # Asymmetric path: from 203.0.113.5 arriving on to-c, but the route back leaves by to-b.
    query = ["route", "get", "198.51.100.1", "--from", "203.0.113.5", "--iif", "to-c"]
    raw = ["ip", "-n", topo.r, "route", "get", "198.51.100.1", "from", "203.0.113.5",
           "iif", "to-c"]
    netns.set_sysctls(topo.r, {"net.ipv4.conf.all.rp_filter": 2})
    try:
        assert netns.run(raw, check=False).returncode != 0  # the kernel itself refuses
        proc = v4via6(topo.r, *query, "--json")
        assert proc.returncode == 1
        data = as_json(proc)
        assert data["verdict"] == "rp-filter" and data["drop"] is True
        assert "Invalid cross-device link" in data["explanation"]
        assert "to-c, which has no IPv4 address" in data["explanation"]
        assert "leaves by to-b" in data["explanation"]
        assert "net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.to-c.rp_filter=0" in data["fix"]
        assert data["kernel_error"]["name"] in ("EXDEV", "EINVAL")

        check = as_json(v4via6(topo.r, "check", "--json"))
        assert any(r["check"] == "rp-filter" and r["status"] == "warn"
                   and r["subject"] == "to-c" for r in check["results"])

        netns.set_sysctls(topo.r, {"net.ipv4.conf.all.rp_filter": 0,
                                   "net.ipv4.conf.to-c.rp_filter": 0})
        fixed = v4via6(topo.r, *query, "--json")
        assert fixed.returncode == 0, fixed.stdout
        after = as_json(fixed)
        assert after["verdict"] == "forward"
        assert after["nexthops"][0]["dev"] == "to-b"
    finally:
        netns.set_sysctls(topo.r, {"net.ipv4.conf.all.rp_filter": 0})


def test_box_without_ipv4_sends_icmp_from_192_0_0_8_and_check_warns(topo: Topo) -> None:
    # The kernel really does it: c (no IPv4) answers TTL exceeded from 192.0.0.8.
    def ttl_exceeded_from_dummy() -> bool:
        out = netns.ns_exec(topo.r, "ping", "-n", "-c1", "-W1", "-t1", "192.0.2.130",
                            check=False)
        return "From 192.0.0.8" in out.stdout

    netns.set_sysctls(topo.c, {"net.ipv4.ip_forward": 1})
    netns.wait_until(ttl_exceeded_from_dummy, timeout=15, what="TTL exceeded from 192.0.0.8")

    proc = v4via6(topo.c, "check", "--json")
    data = as_json(proc)
    assert proc.returncode == data["exit_code"] >= 1
    icmp = [r for r in data["results"] if r["check"] == "icmp-source"]
    assert icmp and icmp[0]["status"] == "warn" and "192.0.0.8" in icmp[0]["message"]
    assert "/32 dev lo" in icmp[0]["fix"]

    got = as_json(v4via6(topo.c, "route", "get", "192.0.2.1", "--json"))
    assert got["icmp_source"] == {
        "address": "192.0.0.8", "dummy": True, "note": got["icmp_source"]["note"]}
    assert got["nexthops"][0]["via"] == str(topo.ll_r_c)


def test_check_runs_without_privileges(topo: Topo) -> None:
    proc = v4via6(topo.c, "check", "--json", drop_caps=True)
    data = as_json(proc)
    assert proc.returncode == data["exit_code"]
    assert not any(r["check"] == "own-routes" for r in data["results"])  # listing worked
    assert any(r["check"] == "nexthop-neighbours" for r in data["results"])


def test_check_on_a_box_without_own_routes(topo: Topo) -> None:
    base = f"v4v6-dg-{secrets.token_hex(3)}-e"
    netns.create_namespace(base)
    try:
        proc = v4via6(base, "check", "--json")
        data = as_json(proc)
        assert proc.returncode == data["exit_code"] == 2  # forwarding off in a fresh netns
        checks = {r["check"]: r for r in data["results"]}
        assert checks["nexthop-neighbours"]["status"] == "ok"
        assert checks["ipv4-forwarding"]["status"] == "fail"
        empty = v4via6(base, "show", "routes")
        assert empty.returncode == 0 and "no v4via6 routes installed" in empty.stdout
    finally:
        netns.delete_namespace(base)
