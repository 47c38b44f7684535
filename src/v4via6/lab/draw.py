"""A hand-made SVG picture of a lab: nodes, links, addresses and IPv4 routes.

No drawing library: nodes are placed in columns by hop distance from the first
node (the default chain becomes one row), each router shows its IPv4 routing
table underneath (next hops are IPv6 link-local addresses), and an optional
traceroute panel shows which source address each hop answered from. The
picture carries its own explanation so it can be understood alone.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from html import escape

from v4via6.lab.routeview import RouteLine, Step, walk
from v4via6.lab.topology import Interface, Link, Node, Topology

CHAR_W = 6.7  # monospace 11px, approximately
BOX_W = 170
BOX_H = 84
MARGIN = 30
TOP = 120
PANEL_LINE = 15
PANEL_GAP = 42  # between the lowest node row and the route panels
ROW_GAP = 130  # between node rows (room for link labels)

HOST_FILL = "#dbeafe"
HOST_STROKE = "#1d4ed8"
ROUTER_FILL = "#dcfce7"
ROUTER_STROKE = "#15803d"
CORE_LINK = "#7c3aed"
HOST_LINK = "#2563eb"
WARN = "#c2410c"


@dataclass
class TraceHop:
    """One traceroute hop for the picture: number, address, node and why that source."""

    hop: int
    address: str
    node: str | None
    note: str


@dataclass
class Picture:
    """What to draw."""

    topology: Topology
    routes: dict[str, list[RouteLine]]
    routes_from: str  # "live kernel" or "config"
    lab: str | None = None
    trace: list[TraceHop] = field(default_factory=list)
    trace_title: str = ""


def _columns(topo: Topology) -> list[list[str]]:
    """Nodes grouped by BFS depth from the first node (unconnected ones go last)."""
    names = list(topo.nodes)
    depth: dict[str, int] = {}
    for start in names:
        if start in depth:
            continue
        base = max(depth.values(), default=-1) + 1
        depth[start] = base
        queue = deque([start])
        while queue:
            cur = queue.popleft()
            for iface in topo.node(cur).interfaces:
                if iface.peer not in depth:
                    depth[iface.peer] = depth[cur] + 1
                    queue.append(iface.peer)
    cols: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for name in names:
        cols[depth[name]].append(name)
    return [c for c in cols if c]


def _text(x: float, y: float, s: str, *, size: int = 12, anchor: str = "start",
          weight: str = "normal", fill: str = "#111827", mono: bool = False,
          italic: bool = False) -> str:
    family = "DejaVu Sans Mono, Menlo, Consolas, monospace" if mono else (
        "DejaVu Sans, Helvetica, Arial, sans-serif"
    )
    style = ' font-style="italic"' if italic else ""
    if mono:
        style += ' xml:space="preserve"'
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-family="{family}" font-size="{size}"'
        f' text-anchor="{anchor}" font-weight="{weight}" fill="{fill}"{style}'
        ' stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">'
        f"{escape(s)}</text>"
    )


def _node_lines(node: Node) -> list[tuple[str, str]]:
    """(text, colour) lines inside a node's box, below its name."""
    if not node.is_router:
        iface = node.interfaces[0] if node.interfaces else None
        addr = str(iface.ipv4) if iface and iface.ipv4 else "no IPv4 address"
        return [("IPv4 host", "#374151"), (addr, "#111827")]
    lines: list[tuple[str, str]] = [("router (v4via6)", "#374151")]
    if node.loopback4 is not None:
        lines.append((f"lo {node.loopback4}", "#111827"))
    else:
        has_v4 = any(i.ipv4 is not None for i in node.interfaces)
        lines.append(
            ("no IPv4 loopback", WARN) if has_v4 else ("no IPv4 address at all", WARN)
        )
    if node.loopback6 is not None:
        lines.append((f"lo {node.loopback6}", "#111827"))
    return lines


def _route_width(lines: list[RouteLine]) -> float:
    longest = max((len(r.text()) for r in lines), default=0)
    return longest * CHAR_W + 24


def render(pic: Picture) -> str:
    """The SVG document for ``pic``."""
    topo = pic.topology
    cols = _columns(topo)
    col_w: list[float] = []
    for col in cols:
        label = max(
            (len(line) for n in col for i in topo.node(n).interfaces for line in _end_label(i)),
            default=0,
        )
        widest = max(
            [BOX_W + 2 * (label * CHAR_W + 24)]
            + [_route_width(pic.routes.get(n, [])) + 40 for n in col if topo.node(n).is_router]
        )
        col_w.append(widest)
    # Nodes on top, one row per position in a column; route panels in a band below,
    # each under its router's column, so links never run through a table.
    rows = max(len(col) for col in cols)
    pos: dict[str, tuple[float, float]] = {}
    panel_h: dict[str, float] = {}
    panel_top: dict[str, float] = {}
    band = float(TOP + 20 + rows * (BOX_H + ROW_GAP) - ROW_GAP + PANEL_GAP)
    x = float(MARGIN)
    bottom = band
    for col, w in zip(cols, col_w, strict=True):
        y = band
        for row, name in enumerate(col):
            pos[name] = (x + w / 2, TOP + 20 + row * (BOX_H + ROW_GAP) + BOX_H / 2)
            if topo.node(name).is_router:
                panel_h[name] = (len(pic.routes.get(name, [])) + 1) * PANEL_LINE + 18
                panel_top[name] = y
                y += panel_h[name] + 12
        bottom = max(bottom, y)
        x += w
    width = max(x + MARGIN, 900.0)
    trace_h = (len(pic.trace) + 2) * 18 + 20 if pic.trace else 0
    hosts = topo.hosts
    steps = walk(topo, pic.routes, hosts[0].name, hosts[-1].name) if len(hosts) > 1 else []
    walk_h = (len(steps) + 2) * 18 + 10 if steps else 0
    legend_y = bottom + 10
    height = legend_y + 70 + walk_h + trace_h + 40

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="0 0 {width:.0f} {height:.0f}">',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    title = f"v4via6 lab {pic.lab}" if pic.lab else "v4via6 lab topology"
    out.append(_text(MARGIN, 36, title + f" — {topo.source}", size=20, weight="bold"))
    out.append(_text(
        MARGIN, 60,
        "IPv4 hosts talk across routers whose links carry no IPv4 at all: each router's "
        "IPv4 route names an IPv6 neighbour as next hop",
        size=13, fill="#374151",
    ))
    out.append(_text(
        MARGIN, 78,
        "(ip route add PREFIX via inet6 fe80::N dev IF). The IPv4 packet is sent in an "
        "Ethernet frame to the MAC address IPv6 neighbour discovery found for fe80::N.",
        size=13, fill="#374151",
    ))

    for link in topo.links:
        out.extend(_draw_link(link, pos))
    for name, (cx, cy) in pos.items():
        out.extend(_draw_node(topo.node(name), cx, cy))
        if topo.node(name).is_router:
            out.extend(_draw_routes(name, pic, cx, panel_top[name], panel_h[name]))

    out.extend(_legend(legend_y))
    if steps:
        out.extend(_draw_walk(topo, steps, legend_y + 70))
    if pic.trace:
        out.extend(_draw_trace(pic, legend_y + 70 + walk_h))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    out.append(_text(
        MARGIN, height - 14,
        f"drawn by v4via6 lab draw at {stamp}; routes from the {pic.routes_from}",
        size=11, fill="#6b7280",
    ))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _draw_node(node: Node, cx: float, cy: float) -> list[str]:
    fill, stroke = (ROUTER_FILL, ROUTER_STROKE) if node.is_router else (HOST_FILL, HOST_STROKE)
    x0, y0 = cx - BOX_W / 2, cy - BOX_H / 2
    out = [
        f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{BOX_W}" height="{BOX_H}" rx="10"'
        f' fill="{fill}" stroke="{stroke}" stroke-width="2"/>',
        _text(cx, y0 + 20, node.name, size=16, anchor="middle", weight="bold"),
    ]
    for i, (line, colour) in enumerate(_node_lines(node)):
        out.append(_text(cx, y0 + 38 + i * 14, line, size=11, anchor="middle", fill=colour,
                         mono=i > 0))
    return out


def _end_label(iface: Interface) -> list[str]:
    lines = [iface.ifname]
    if iface.ipv4 is not None:
        lines.append(str(iface.ipv4))
    if iface.ipv6 is not None:
        lines.append(str(iface.ipv6))
    if iface.link_local is not None:
        lines.append(str(iface.link_local))
    elif iface.ipv4 is None:
        lines.append("fe80::(kernel)")
    return lines


def _draw_link(link: Link, pos: dict[str, tuple[float, float]]) -> list[str]:
    (ax, ay), (bx, by) = pos[link.a.node], pos[link.b.node]
    core = link.kind == "core"
    colour = CORE_LINK if core else HOST_LINK
    dash = ' stroke-dasharray="8 5"' if core else ""
    out = [
        f'<line x1="{ax:.1f}" y1="{ay:.1f}" x2="{bx:.1f}" y2="{by:.1f}" stroke="{colour}"'
        f' stroke-width="3"{dash}/>'
    ]
    mx, my = (ax + bx) / 2, (ay + by) / 2
    if core:
        mid = ["IPv6 link-local only", "(no IPv4 on this link)"]
    else:
        net = link.a.ipv4.network if link.a.ipv4 is not None else None
        mid = [f"IPv4 {net}" if net else "host link"]
    horizontal = abs(bx - ax) >= abs(by - ay)
    for i, line in enumerate(mid):
        if horizontal:
            out.append(_text(mx, my + 18 + i * 13, line, size=11, anchor="middle",
                             fill=colour, italic=True))
        else:
            out.append(_text(mx + 10, my + i * 13, line, size=11, fill=colour, italic=True))
    for end, (px, py), (qx, qy) in ((link.a, (ax, ay), (bx, by)), (link.b, (bx, by), (ax, ay))):
        labels = _end_label(end)
        ex, ey, side = _exit_point(px, py, qx, qy)
        if side:
            right = qx > px
            lx = ex + 8 * (1 if right else -1)
            anchor = "start" if right else "end"
            for i, line in enumerate(labels):
                y = ey - 8 - (len(labels) - 1 - i) * 13
                out.append(_text(lx, y, line, size=11, anchor=anchor, mono=i > 0,
                                 weight="bold" if i == 0 else "normal"))
        else:
            down = qy > py
            lx = ex + (8 if qx >= px else -8)
            anchor = "start" if qx >= px else "end"
            for i, line in enumerate(labels):
                k = i if down else len(labels) - 1 - i
                y = ey + (16 + k * 13 if down else -8 - k * 13)
                out.append(_text(lx, y, line, size=11, anchor=anchor, mono=i > 0,
                                 weight="bold" if i == 0 else "normal"))
    return out


def _exit_point(px: float, py: float, qx: float, qy: float) -> tuple[float, float, bool]:
    """Where the line from box centre P towards Q leaves the box; True if via a side."""
    dx, dy = qx - px, qy - py
    tx = (BOX_W / 2) / abs(dx) if dx else float("inf")
    ty = (BOX_H / 2) / abs(dy) if dy else float("inf")
    t = min(tx, ty)
    return px + dx * t, py + dy * t, tx <= ty


def _draw_routes(name: str, pic: Picture, cx: float, top: float, h: float) -> list[str]:
    lines = pic.routes.get(name, [])
    w = max(_route_width(lines), BOX_W + 40.0)
    x0 = cx - w / 2
    out = [
        f'<rect x="{x0:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h - 6:.1f}" rx="6"'
        f' fill="#f9fafb" stroke="#9ca3af"/>',
        _text(x0 + 10, top + 16, f"{name} IPv4 routes ({pic.routes_from})", size=11,
              weight="bold", fill="#374151"),
    ]
    if not lines:
        out.append(_text(x0 + 10, top + 16 + PANEL_LINE, "(none)", size=11, mono=True))
    for i, route in enumerate(lines):
        colour = CORE_LINK if route.kind == "via6" else "#374151"
        out.append(_text(x0 + 10, top + 16 + (i + 1) * PANEL_LINE, route.text(), size=11,
                         mono=True, fill=colour))
    return out


def _legend(y: float) -> list[str]:
    x = MARGIN
    return [
        f'<line x1="{x}" y1="{y + 10}" x2="{x + 40}" y2="{y + 10}" stroke="{HOST_LINK}"'
        ' stroke-width="3"/>',
        _text(x + 50, y + 14, "host link: IPv4 subnet", size=12),
        f'<line x1="{x + 260}" y1="{y + 10}" x2="{x + 300}" y2="{y + 10}" stroke="{CORE_LINK}"'
        ' stroke-width="3" stroke-dasharray="8 5"/>',
        _text(x + 310, y + 14, "core link: IPv6 link-local addresses only", size=12),
        _text(x, y + 36, "Purple route lines: IPv4 prefix via an IPv6 next hop "
              "(the node in brackets owns that fe80:: address on the shared link).",
              size=12, fill=CORE_LINK),
        _text(x, y + 54, "A router with no IPv4 address sends ICMP errors from 192.0.0.8 "
              "(RFC 7600); an IPv4 loopback /32 gives it a real source address.",
              size=12, fill=WARN),
    ]


def _draw_trace(pic: Picture, y: float) -> list[str]:
    out = [_text(MARGIN, y + 14, pic.trace_title or "traceroute", size=13, weight="bold")]
    for i, hop in enumerate(pic.trace):
        who = hop.node or "?"
        line = f"{hop.hop:>2}  {hop.address:<16} {who:<6} {hop.note}"
        colour = WARN if hop.address == "192.0.0.8" else "#111827"
        out.append(_text(MARGIN + 10, y + 34 + i * 18, line, size=12, mono=True, fill=colour))
    return out


def _draw_walk(topo: Topology, steps: list[Step], y: float) -> list[str]:
    src, dst = steps[0].node, topo.hosts[-1].name
    addr = topo.address_of(dst)
    out = [_text(MARGIN, y + 14, f"How one IPv4 packet from {src} to {dst} ({addr}) travels,"
                 " hop by hop (longest-prefix match in each table above):", size=13,
                 weight="bold")]
    for i, step in enumerate(steps):
        if step.route is None:
            line = f"{step.node:<4} no route: the packet is dropped here"
        else:
            arrow = f"-> {step.next_node}" if step.next_node else "-> ?"
            if step.next_node == dst:
                arrow += " (delivered)"
            line = f"{step.node:<4} {step.route.text():<54} {arrow}"
        colour = CORE_LINK if step.route is not None and step.route.kind == "via6" else "#111827"
        out.append(_text(MARGIN + 10, y + 34 + i * 18, line, size=12, mono=True, fill=colour))
    return out
