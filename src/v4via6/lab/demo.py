"""Measurements the demo (and ``lab ping``/``lab trace``) makes inside a lab.

Ping and traceroute run inside the hosts' namespaces; their text output is
parsed into small values, and each traceroute hop is explained: which node
answered, and why from that source address (an interface address, a loopback
/32, or 192.0.0.8 from a router without any IPv4 address, RFC 7600).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from ipaddress import IPv4Address

from v4via6.lab.draw import TraceHop
from v4via6.lab.handle import Lab
from v4via6.lab.topology import Topology
from v4via6.model import DUMMY_ICMP_SOURCE

_PING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) (?:packets )?received")
_PING_RTT = re.compile(r"= [\d.]+/([\d.]+)/")
_TRACE_HOP = re.compile(r"^\s*(\d+)\s+(.*)$")


@dataclass
class PingResult:
    """Outcome of ``ping -c N``: replies received of sent, average RTT."""

    src: str
    dst: str
    address: str
    sent: int
    received: int
    avg_ms: float | None
    output: str

    @property
    def ok(self) -> bool:
        return self.sent > 0 and self.received == self.sent


def parse_ping(text: str) -> tuple[int, int, float | None]:
    """(sent, received, average RTT ms) from iputils ping output."""
    m = _PING_SUMMARY.search(text)
    sent, received = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    r = _PING_RTT.search(text)
    return sent, received, float(r.group(1)) if r else None


def parse_traceroute(text: str) -> list[tuple[int, str | None]]:
    """[(hop, address or None for '*')] from ``traceroute -n -q 1`` output."""
    hops: list[tuple[int, str | None]] = []
    for line in text.splitlines():
        m = _TRACE_HOP.match(line)
        if not m:
            continue
        rest = m.group(2).split()
        addr = next((tok for tok in rest if re.match(r"^\d+\.\d+\.\d+\.\d+$", tok)), None)
        hops.append((int(m.group(1)), addr))
    return hops


def node_path(topo: Topology, src: str, dst: str) -> list[str]:
    """Nodes on a shortest path from ``src`` to ``dst`` (both included), or []."""
    prev: dict[str, str | None] = {src: None}
    queue = deque([src])
    while queue:
        cur = queue.popleft()
        if cur == dst:
            break
        for iface in topo.node(cur).interfaces:
            if iface.peer not in prev:
                prev[iface.peer] = cur
                queue.append(iface.peer)
    if dst not in prev:
        return []
    path: list[str] = []
    at: str | None = dst
    while at is not None:
        path.append(at)
        at = prev[at]
    return path[::-1]


def explain_hop(topo: Topology, path: list[str], hop: int, addr: str | None) -> TraceHop:
    """Say which node answered hop ``hop`` from ``addr``, and why that source."""
    expected = path[hop] if 0 < hop < len(path) else None
    if addr is None:
        return TraceHop(hop, "*", expected, "no answer")
    ip = IPv4Address(addr)
    if ip == DUMMY_ICMP_SOURCE:
        return TraceHop(
            hop, addr, expected,
            "no IPv4 address at all: time-exceeded sent from 192.0.0.8 (RFC 7600)",
        )
    owner = topo.owner_of(ip)
    if owner is None:
        return TraceHop(hop, addr, expected, "not an address of this lab")
    node, where = owner
    if not topo.node(node).is_router:
        return TraceHop(hop, addr, node, "destination reached")
    if where == "lo":
        return TraceHop(hop, addr, node, "time-exceeded from its IPv4 loopback /32")
    peer = topo.interface(node, where[3:]).peer if where.startswith("to-") else "?"
    return TraceHop(hop, addr, node, f"time-exceeded from its address on {where} (link to {peer})")


def resolve_target(lab: Lab, target: str) -> str:
    """A node name or an IPv4 address -> the IPv4 address to use."""
    if target in lab.topology.nodes:
        return str(lab.ipv4(target))
    try:
        return str(IPv4Address(target))
    except ValueError:
        raise KeyError(
            f"{target!r} is neither a node ({', '.join(lab.nodes)}) nor an IPv4 address"
        ) from None


def ping(lab: Lab, src: str, dst: str, *, count: int = 3) -> PingResult:
    """Ping ``dst`` (node or address) from node ``src``, ``count`` times, 0.2 s apart."""
    address = resolve_target(lab, dst)
    proc = lab.exec(
        src, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", "1", address,
        check=False, timeout=count + 10,
    )
    sent, received, avg = parse_ping(proc.stdout)
    return PingResult(src, dst, address, sent, received, avg, proc.stdout + proc.stderr)


def trace(lab: Lab, src: str, dst: str, *, max_hops: int = 12) -> tuple[list[TraceHop], str]:
    """``traceroute -n`` from ``src`` to ``dst``; explained hops and the raw output."""
    address = resolve_target(lab, dst)
    proc = lab.exec(
        src, "traceroute", "-n", "-q", "1", "-w", "1", "-m", str(max_hops), address,
        check=False, timeout=max_hops * 2 + 10,
    )
    path = node_path(lab.topology, src, dst) if dst in lab.topology.nodes else []
    hops = [explain_hop(lab.topology, path, h, a) for h, a in parse_traceroute(proc.stdout)]
    return hops, proc.stdout + proc.stderr
