"""A router's IPv4 routes as display lines, from the live kernel or from its config.

Both the picture (``lab draw``) and the demo show routes the same way:
``198.51.100.0/24 via inet6 fe80::2 dev to-r2 (r2)`` — the prefix, the IPv6
neighbour, the interface and which lab node that neighbour is.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from v4via6.lab import netns
from v4via6.lab.routing import config_routes, generated_routes, plan_router
from v4via6.lab.state import ns_name
from v4via6.lab.topology import Node, Topology


@dataclass(frozen=True)
class RouteLine:
    """One next hop of one IPv4 route; ``kind`` is via6, via4, connected or other."""

    prefix: str
    kind: str
    via: str | None = None
    dev: str | None = None
    peer: str | None = None
    src: str | None = None
    ecmp: bool = False

    def text(self) -> str:
        """``ip route``-like text, with the neighbour's node name in brackets."""
        parts = [self.prefix]
        if self.kind == "via6":
            parts.append(f"via inet6 {self.via}")
        elif self.kind == "via4":
            parts.append(f"via {self.via}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        if self.kind == "connected":
            parts.append("(connected)")
        elif self.peer:
            parts.append(f"({self.peer})")
        if self.ecmp:
            parts.append("[ECMP]")
        return " ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "kind": self.kind,
            "via": self.via,
            "dev": self.dev,
            "peer": self.peer,
            "src": self.src,
            "ecmp": self.ecmp,
        }


def _peer_of(node: Node, dev: str | None) -> str | None:
    for iface in node.interfaces:
        if iface.ifname == dev:
            return iface.peer
    return None


def _prefix(dst: str) -> str:
    if dst == "default":
        return "0.0.0.0/0"
    return dst if "/" in dst else f"{dst}/32"


def _hop_line(node: Node, prefix: str, hop: dict[str, Any], route: dict[str, Any],
              ecmp: bool) -> RouteLine:
    dev = hop.get("dev")
    src = route.get("prefsrc")
    via = hop.get("via")
    if isinstance(via, dict) and via.get("family") == "inet6":
        return RouteLine(prefix, "via6", str(via.get("host")), dev, _peer_of(node, dev), src, ecmp)
    gw = hop.get("gateway") or (via.get("host") if isinstance(via, dict) else None)
    if gw:
        return RouteLine(prefix, "via4", str(gw), dev, _peer_of(node, dev), src, ecmp)
    if route.get("protocol") == "kernel" and route.get("scope") == "link":
        return RouteLine(prefix, "connected", None, dev, None, src, ecmp)
    return RouteLine(prefix, "other", None, dev, None, src, ecmp)


def parse_ip_json(node: Node, data: list[dict[str, Any]]) -> list[RouteLine]:
    """Turn ``ip -j -4 route`` output into display lines (one per next hop)."""
    out: list[RouteLine] = []
    for route in data:
        if route.get("type", "unicast") != "unicast":
            continue
        prefix = _prefix(str(route.get("dst", "?")))
        hops = route.get("nexthops")
        if isinstance(hops, list) and hops:
            for hop in hops:
                out.append(_hop_line(node, prefix, hop, route, ecmp=len(hops) > 1))
        else:
            out.append(_hop_line(node, prefix, route, route, ecmp=False))
    return out


def live_routes(lab: str, topo: Topology, node: str) -> list[RouteLine]:
    """``node``'s IPv4 main-table routes as the kernel holds them now."""
    proc = netns.run(["ip", "-n", ns_name(lab, node), "-j", "-4", "route", "show"])
    try:
        data = json.loads(proc.stdout or "[]")
    except ValueError:
        data = []
    return parse_ip_json(topo.node(node), data if isinstance(data, list) else [])


def planned_routes(topo: Topology, node: str) -> list[RouteLine]:
    """``node``'s IPv4 routes as its config (or the lab's generated routes) say."""
    n = topo.node(node)
    out: list[RouteLine] = []
    for iface in n.interfaces:
        if iface.ipv4 is not None:
            out.append(RouteLine(str(iface.ipv4.network), "connected", dev=iface.ifname))
    if not n.is_router:
        for iface in n.interfaces:
            gw = topo.interface(iface.peer, n.name).ipv4
            if gw is not None:
                out.append(RouteLine("0.0.0.0/0", "via4", str(gw.ip), iface.ifname, iface.peer))
        return out
    try:
        plan = plan_router(topo, n)
        pairs = config_routes(plan)
        if plan.mode == "bgp" and plan.generated:
            # what BGP should learn: the shortest paths (one per prefix without multipath)
            pairs = [(r["prefix"], sorted(r["via"])[:1]) for r in generated_routes(topo, n)]
    except ValueError:
        return out  # kernel-assigned link-locals: only known once the lab is up
    for prefix, vias in pairs:
        for via in vias:
            addr, _, dev = via.partition("%")
            kind = "via6" if ":" in addr else "via4"
            out.append(
                RouteLine(prefix, kind, addr, dev or None, _peer_of(n, dev), ecmp=len(vias) > 1)
            )
    return out


@dataclass(frozen=True)
class Step:
    """One forwarding decision on the way: at ``node``, ``route`` sends to ``next_node``."""

    node: str
    route: RouteLine | None
    next_node: str | None


def walk(
    topo: Topology, routes: dict[str, list[RouteLine]], src: str, dst: str, max_hops: int = 16
) -> list[Step]:
    """Follow longest-prefix matches from node ``src`` towards node ``dst``'s IPv4 address.

    Stops when the packet reaches ``dst``, finds no route, or loops.
    """
    target = topo.address_of(dst)
    steps: list[Step] = []
    if target is None:
        return steps
    cur = src
    seen: set[str] = set()
    while cur != dst and cur not in seen and len(steps) < max_hops:
        seen.add(cur)
        best: RouteLine | None = None
        best_len = -1
        for line in routes.get(cur, []):
            try:
                net = ipaddress.IPv4Network(line.prefix)
            except ValueError:
                continue
            if target in net and net.prefixlen > best_len:
                best, best_len = line, net.prefixlen
        if best is None:
            steps.append(Step(cur, None, None))
            break
        nxt = best.peer or _peer_of(topo.node(cur), best.dev)
        steps.append(Step(cur, best, nxt))
        if nxt is None:
            break
        cur = nxt
    return steps
