"""Generated static routes, config files, route views and the packet walk (no root)."""

from __future__ import annotations

import tomllib
from ipaddress import IPv4Address
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v4via6.config.load import parse_config
from v4via6.lab.routeview import RouteLine, parse_ip_json, planned_routes, walk
from v4via6.lab.routing import (
    config_routes,
    generated_routes,
    plan_router,
    reachable_prefixes,
    router_asn,
    router_ids,
)
from v4via6.lab.tomlwrite import dumps
from v4via6.lab.topology import TopologyError, load_default, parse

# `ip -j -4 route` as printed by iproute2 6.1 (multipath, proto 46, blackhole).
IP_JSON: list[dict[str, Any]] = [
    {"dst": "default", "gateway": "192.0.2.9", "dev": "to-h1", "flags": []},
    {"dst": "192.0.2.0/24", "dev": "to-h1", "protocol": "kernel", "scope": "link",
     "prefsrc": "192.0.2.1", "flags": []},
    {"dst": "198.51.100.0/24", "flags": [], "nexthops": [
        {"via": {"family": "inet6", "host": "fe80::2"}, "dev": "to-r2", "weight": 1},
        {"via": {"family": "inet6", "host": "fe80::3"}, "dev": "to-r3", "weight": 1},
    ]},
    {"dst": "203.0.113.3", "via": {"family": "inet6", "host": "fe80::2"}, "dev": "to-r2",
     "protocol": "46", "prefsrc": "203.0.113.1", "flags": []},
    {"type": "blackhole", "dst": "203.0.113.9", "flags": []},
]


def test_generated_routes_for_default_chain() -> None:
    topo = load_default()
    r1 = generated_routes(topo, topo.node("r1"))
    assert r1 == [
        {"prefix": "198.51.100.0/24", "via": ["fe80::2%to-r2"], "src": "203.0.113.1"},
        {"prefix": "203.0.113.3/32", "via": ["fe80::2%to-r2"], "src": "203.0.113.1"},
    ]
    r2 = generated_routes(topo, topo.node("r2"))
    assert {(r["prefix"], r["via"][0]) for r in r2} == {
        ("192.0.2.0/24", "fe80::1%to-r1"),
        ("203.0.113.1/32", "fe80::1%to-r1"),
        ("198.51.100.0/24", "fe80::3%to-r3"),
        ("203.0.113.3/32", "fe80::3%to-r3"),
    }
    assert all("src" not in r for r in r2), "r2 has no IPv4 address to use as src"


def test_generated_config_is_accepted_by_the_config_loader() -> None:
    topo = load_default().with_routing("static")
    for router in topo.routers:
        plan = plan_router(topo, router)
        assert plan.mode == "static" and plan.generated
        cfg = parse_config(tomllib.loads(dumps(plan.config)), f"{router.name}.toml")
        assert len(cfg.static.route) == len(plan.config["static"]["route"])


def test_builtin_default_runs_bgp_with_unnumbered_peers_and_configs_load() -> None:
    topo = load_default()
    assert topo.routing == "bgp"
    plans = {r.name: plan_router(topo, r, socket=f"/run/x/{r.name}.sock") for r in topo.routers}
    assert all(p.mode == "bgp" and p.generated for p in plans.values())
    r2 = plans["r2"].config
    assert r2["bgp"]["asn"] == 65002
    assert r2["bgp"]["router_id"] == "203.0.113.2"  # r2 has no IPv4 loopback
    assert r2["bgp"]["redistribute"] == ["connected"]
    assert [p["interface"] for p in r2["bgp"]["peer"]] == ["to-r1", "to-r3"]
    assert all((p["remote_as"], p["import"], p["export"]) == ("external", "all", "all")
               for p in r2["bgp"]["peer"])
    assert r2["control"] == {"socket": "/run/x/r2.sock"}
    assert plans["r1"].config["bgp"]["router_id"] == "203.0.113.1"  # its loopback
    assert plans["r3"].config["bgp"]["asn"] == 65003
    for name, plan in plans.items():
        cfg = parse_config(tomllib.loads(dumps(plan.config)), f"{name}.toml")
        assert cfg.bgp is not None and not cfg.static.route
        assert cfg.control.socket == f"/run/x/{name}.sock"


def test_generated_router_ids_are_unique_and_asns_private() -> None:
    # r2 has no loopback and r5's loopback is 203.0.113.2: r2 must take another id.
    text = "\n".join(
        f'[nodes.r{i}]\nkind = "router"\nloopback4 = "{lo}"'
        for i, lo in ((1, "none"), (2, "none"), (3, "auto"), (4, "none"), (5, "203.0.113.2/32"))
    ) + "\n" + "\n".join(f'[[links]]\na = "r{i}"\nb = "r{i + 1}"' for i in range(1, 5))
    topo = parse('routing = "bgp"\n' + text, "ids.toml")
    ids = router_ids(topo)
    assert len(set(ids.values())) == 5
    assert ids["r5"] == IPv4Address("203.0.113.2") and ids["r2"] != ids["r5"]
    assert ids["r1"] == IPv4Address("203.0.113.1")
    assert [router_asn(r) for r in topo.routers] == [65001, 65002, 65003, 65004, 65005]
    # a router with no router-router link runs nothing
    lone = parse('routing = "bgp"\n[nodes.r1]\nkind = "router"', "lone.toml")
    assert plan_router(lone, lone.node("r1")).mode == "none"


def test_routing_mode_key_and_static_override() -> None:
    topo = parse('routing = "static"\n[nodes.r1]\nkind = "router"', "s.toml")
    assert topo.routing == "static" and topo.with_routing("bgp").routing == "bgp"
    assert parse('[nodes.r1]\nkind = "router"', "d.toml").routing == "static"
    with pytest.raises(TopologyError) as info:
        parse('routing = "ospf"\n[nodes.r1]\nkind = "router"', "bad.toml")
    assert str(info.value).startswith("bad.toml: routing: ")


def test_bgp_plan_draws_the_routes_bgp_should_learn() -> None:
    topo = load_default()
    texts = [ln.text() for ln in planned_routes(topo, "r1")]
    assert "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)" in texts
    assert [str(p) for p in reachable_prefixes(topo, topo.node("r2"))] == [
        "192.0.2.0/24", "203.0.113.1/32", "198.51.100.0/24", "203.0.113.3/32",
    ]


def test_ecmp_when_two_equal_paths() -> None:
    text = """
[nodes.h1]
kind = "host"
[nodes.r1]
kind = "router"
[nodes.ra]
kind = "router"
[nodes.rb]
kind = "router"
[nodes.r4]
kind = "router"
[nodes.h2]
kind = "host"
[[links]]
a = "h1"
b = "r1"
[[links]]
a = "r1"
b = "ra"
[[links]]
a = "r1"
b = "rb"
[[links]]
a = "ra"
b = "r4"
[[links]]
a = "rb"
b = "r4"
[[links]]
a = "r4"
b = "h2"
"""
    topo = parse(text, "ecmp.toml")
    routes = {r["prefix"]: r["via"] for r in generated_routes(topo, topo.node("r1"))}
    assert routes["198.51.100.0/24"] == ["fe80::2%to-ra", "fe80::3%to-rb"]


def test_explicit_static_routes_are_kept_and_bgp_selects_daemon() -> None:
    text = """
[nodes.r1]
kind = "router"
[nodes.r1.config.static]
route = [{ prefix = "198.51.100.0/24", via = ["fe80::9%to-r2"] }]
[nodes.r2]
kind = "router"
[nodes.r2.config.bgp]
asn = 65002
[[links]]
a = "r1"
b = "r2"
"""
    topo = parse(text, "t.toml")
    p1 = plan_router(topo, topo.node("r1"))
    assert (p1.mode, p1.generated) == ("static", False)
    assert config_routes(p1) == [("198.51.100.0/24", ["fe80::9%to-r2"])]
    assert plan_router(topo, topo.node("r2")).mode == "bgp"


def test_tomlwrite_round_trip_of_nested_config() -> None:
    data = {
        "log": {"level": "info"},
        "static": {"route": [
            {"prefix": "198.51.100.0/24", "via": ["fe80::1%to-r2"], "metric": 10},
            {"prefix": "192.0.2.0/24", "via": [{"nexthop": "fe80::2%a", "weight": 3}]},
        ]},
        "bgp": {"asn": 65001, "passive": False, "neighbor": [{"interface": "to-r2"}]},
        "weird key": "quote \"me\"",
    }
    assert tomllib.loads(dumps(data)) == data


_scalar = st.one_of(st.integers(-(2**63), 2**63 - 1), st.booleans(), st.text(max_size=12))
_keys = st.text(alphabet="abxz_-. ", min_size=1, max_size=4)
_table = st.dictionaries(_keys, _scalar, max_size=3)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), _table, st.lists(_table, max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, st.one_of(_value, st.dictionaries(_keys, _value, max_size=3)),
                       max_size=4))
def test_tomlwrite_round_trip_property(data: dict[str, Any]) -> None:
    assert tomllib.loads(dumps(data)) == data


def test_parse_ip_json_lines() -> None:
    r1 = load_default().node("r1")
    lines = parse_ip_json(r1, IP_JSON)
    assert [ln.text() for ln in lines] == [
        "0.0.0.0/0 via 192.0.2.9 dev to-h1 (h1)",
        "192.0.2.0/24 dev to-h1 (connected)",
        "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2) [ECMP]",
        "198.51.100.0/24 via inet6 fe80::3 dev to-r3 [ECMP]",
        "203.0.113.3/32 via inet6 fe80::2 dev to-r2 (r2)",
    ]
    assert lines[4].as_json()["src"] == "203.0.113.1"


def test_planned_routes_and_packet_walk_reach_h2() -> None:
    topo = load_default()
    routes = {n: planned_routes(topo, n) for n in topo.nodes}
    steps = walk(topo, routes, "h1", "h2")
    assert [(s.node, s.next_node) for s in steps] == [
        ("h1", "r1"), ("r1", "r2"), ("r2", "r3"), ("r3", "h2"),
    ]
    assert steps[1].route is not None and steps[1].route.kind == "via6"


def test_walk_stops_where_a_route_is_missing() -> None:
    topo = load_default()
    routes = {n: planned_routes(topo, n) for n in topo.nodes}
    routes["r2"] = [ln for ln in routes["r2"] if ln.prefix != "198.51.100.0/24"]
    steps = walk(topo, routes, "h1", "h2")
    assert steps[-1].node == "r2" and steps[-1].route is None


def test_walk_detects_loops() -> None:
    topo = load_default()
    routes = {n: planned_routes(topo, n) for n in topo.nodes}
    routes["r2"] = [RouteLine("198.51.100.0/24", "via6", "fe80::1", "to-r1", "r1")]
    steps = walk(topo, routes, "h1", "h2")
    assert [s.node for s in steps] == ["h1", "r1", "r2"]
