"""The lab picture (SVG) and the demo's ping/traceroute reading (no root)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from v4via6.lab.demo import explain_hop, node_path, parse_ping, parse_traceroute
from v4via6.lab.draw import Picture, TraceHop, render
from v4via6.lab.prereq import kernel_problem, kernel_version, missing_tool
from v4via6.lab.routeview import planned_routes
from v4via6.lab.topology import load_default, parse

SVG_NS = "{http://www.w3.org/2000/svg}"

PING_OK = """PING 198.51.100.2 (198.51.100.2) 56(84) bytes of data.
64 bytes from 198.51.100.2: icmp_seq=1 ttl=61 time=0.101 ms

--- 198.51.100.2 ping statistics ---
3 packets transmitted, 3 received, 0% packet loss, time 404ms
rtt min/avg/max/mdev = 0.051/0.159/0.301/0.105 ms
"""

PING_LOST = """--- 198.51.100.2 ping statistics ---
3 packets transmitted, 0 received, 100% packet loss, time 2030ms
"""

TRACE = """traceroute to 198.51.100.2 (198.51.100.2), 12 hops max, 60 byte packets
 1  192.0.2.1  0.079 ms
 2  192.0.0.8  0.059 ms
 3  203.0.113.3  0.060 ms
 4  *
 5  198.51.100.2  0.055 ms
"""


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter(f"{SVG_NS}text")]


def test_picture_from_config_shows_nodes_addresses_and_routes() -> None:
    topo = load_default()
    pic = Picture(topo, {n: planned_routes(topo, n) for n in topo.nodes}, "config")
    svg = render(pic)
    texts = _texts(svg)  # also proves the SVG is well-formed XML
    for node in ("h1", "r1", "r2", "r3", "h2"):
        assert node in texts
    assert "192.0.2.2/24" in texts and "198.51.100.2/24" in texts
    assert "lo 203.0.113.1/32" in texts
    assert "no IPv4 address at all" in texts
    assert "198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)" in texts
    assert "192.0.2.0/24 via inet6 fe80::1 dev to-r1 (r1)" in texts
    assert any("IPv6 link-local only" in t for t in texts)
    assert any(t.startswith("r2") and "via inet6 fe80::3" in t and "-> r3" in t for t in texts)


def test_picture_with_trace_and_escaping() -> None:
    text = '[nodes.r1]\nkind = "router"\n'
    topo = parse(text, "<a&b>")
    hops = [TraceHop(1, "192.0.0.8", "r1", "no IPv4 <at all>")]
    svg = render(Picture(topo, {"r1": []}, "config", "lab1", hops, "trace & co"))
    texts = _texts(svg)
    assert "trace & co" in texts
    assert any("no IPv4 <at all>" in t for t in texts)
    assert any("<a&b>" in t for t in texts)


def test_parse_ping() -> None:
    assert parse_ping(PING_OK) == (3, 3, 0.159)
    assert parse_ping(PING_LOST) == (3, 0, None)
    assert parse_ping("ping: connect: Network is unreachable") == (0, 0, None)


def test_parse_traceroute() -> None:
    assert parse_traceroute(TRACE) == [
        (1, "192.0.2.1"), (2, "192.0.0.8"), (3, "203.0.113.3"), (4, None), (5, "198.51.100.2"),
    ]


def test_explain_hops_on_default_path() -> None:
    topo = load_default()
    path = node_path(topo, "h1", "h2")
    assert path == ["h1", "r1", "r2", "r3", "h2"]
    r1 = explain_hop(topo, path, 1, "192.0.2.1")
    assert (r1.node, r1.note) == ("r1", "time-exceeded from its address on to-h1 (link to h1)")
    r2 = explain_hop(topo, path, 2, "192.0.0.8")
    assert r2.node == "r2" and "RFC 7600" in r2.note
    r3 = explain_hop(topo, path, 3, "203.0.113.3")
    assert (r3.node, r3.note) == ("r3", "time-exceeded from its IPv4 loopback /32")
    assert explain_hop(topo, path, 4, "198.51.100.2").note == "destination reached"
    assert explain_hop(topo, path, 4, None).note == "no answer"
    assert explain_hop(topo, path, 2, "203.0.113.200").note == "not an address of this lab"


def test_prerequisite_messages_name_what_is_missing() -> None:
    assert missing_tool(("sh",)) is None
    msg = missing_tool(("no-such-tool-v4v6",))
    assert msg == "missing command: no-such-tool-v4v6 (install: apt-get install no-such-tool-v4v6)"
    assert kernel_version("6.1.0-18-amd64") == (6, 1)
    assert kernel_problem("6.1.0") is None
    assert kernel_problem("5.1.21") == (
        "kernel 5.1.21 is too old: IPv4 routes via IPv6 next hops need Linux >= 5.2"
    )
