"""JSON-ready views of Loc-RIB entries for ``v4via6 show routes [--json]``.

Stable keys (documented here, tested in tests/unit/test_rib_show.py):

route:     prefix, best_count, reasons, paths
path:      peer, peer_type, peer_address, state (best|multipath|lost|unresolved),
           reason, next_hop, interface, igp_cost, local_pref, as_path, as_path_len,
           origin, med, communities, large_communities
"""

from __future__ import annotations

from typing import Any

from v4via6.model import NextHop
from v4via6.rib.attrs import ORIGIN_NAMES, format_community, format_large_community
from v4via6.rib.bestpath import CandidateResult, Decision
from v4via6.rib.keys import format_key
from v4via6.rib.loc_rib import LocRib


def _as_path_text(segments: tuple[tuple[int, tuple[int, ...]], ...]) -> str:
    parts: list[str] = []
    for kind, asns in segments:
        text = " ".join(str(a) for a in asns)
        parts.append("{" + text + "}" if kind == 1 else text)
    return " ".join(parts)


def path_view(c: CandidateResult) -> dict[str, Any]:
    attrs = c.path.attrs
    peer = c.path.peer
    nh = c.resolution.nexthop if c.resolution is not None else None
    raw_nh = c.path.nexthop
    next_hop: str | None
    if isinstance(raw_nh, NextHop):
        next_hop = str(raw_nh.addr) if raw_nh.addr is not None else None
    elif nh is None and raw_nh is not None:
        next_hop = str(raw_nh.link_local or raw_nh.global_addr)
    else:
        next_hop = str(nh.addr) if nh is not None and nh.addr is not None else None
    return {
        "peer": peer.name,
        "peer_type": peer.kind.value,
        "peer_address": str(peer.address) if peer.address is not None else None,
        "state": c.state,
        "reason": c.reason,
        "next_hop": next_hop,
        "interface": nh.ifname if nh is not None else None,
        "igp_cost": c.resolution.igp_cost if c.resolution is not None else None,
        "local_pref": attrs.local_pref,
        "as_path": _as_path_text(attrs.as_path),
        "as_path_len": attrs.as_path_len,
        "origin": ORIGIN_NAMES.get(attrs.origin, str(attrs.origin)),
        "med": attrs.med,
        "communities": [format_community(x) for x in attrs.communities],
        "large_communities": [format_large_community(x) for x in attrs.large_communities],
    }


def route_view(key: int, decision: Decision, family: int = 4) -> dict[str, Any]:
    """One prefix: its paths (best first), and why the best won."""
    order = {"best": 0, "multipath": 1, "lost": 2, "unresolved": 3}
    paths = sorted(decision.candidates, key=lambda c: order.get(c.state, 9))
    return {
        "prefix": format_key(key, family),
        "best_count": len(decision.best),
        "reasons": list(decision.reasons),
        "paths": [path_view(c) for c in paths],
    }


def show_route(rib: LocRib, key: int) -> dict[str, Any]:
    return route_view(key, rib.explain(key), rib.family)


def format_route(view: dict[str, Any]) -> list[str]:
    """Human lines: the prefix, then one line per path (``*`` best, ``=`` ECMP)."""
    reasons = "; ".join(view["reasons"]) or "no usable path"
    lines = [f"{view['prefix']}  ({reasons})"]
    mark = {"best": "*", "multipath": "=", "lost": " ", "unresolved": "!"}
    for p in view["paths"]:
        via = p["next_hop"] or "local"
        if p["interface"]:
            via += f"%{p['interface']}"
        detail = f"  {p['reason']}" if p["reason"] else ""
        lines.append(
            f"  {mark.get(p['state'], '?')} {p['peer']:<16} via {via:<28} "
            f"lp {p['local_pref'] if p['local_pref'] is not None else '-'} "
            f"path [{p['as_path']}] {p['origin']}{detail}"
        )
    return lines
