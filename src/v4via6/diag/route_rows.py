"""Rows of ``v4via6 show routes``: kernel routes joined with next-hop neighbour state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from v4via6.diag.nexthop_view import NextHopView, from_model_hop
from v4via6.fib.backend import KernelRoute
from v4via6.host.snapshot import HostSnapshot


@dataclass(frozen=True, slots=True)
class RouteRow:
    """One route with its next hops and their neighbour entries."""

    kernel: KernelRoute
    hops: tuple[NextHopView, ...]

    def to_json(self) -> dict[str, Any]:
        route = self.kernel.route
        return {
            "prefix": str(route.prefix),
            "type": route.kind,
            "protocol": self.kernel.protocol,
            "protocol_name": self.kernel.protocol_name,
            "own": self.kernel.own,
            "table": route.table,
            "metric": route.metric,
            "src": str(route.src) if route.src is not None else None,
            "nexthops": [h.to_json() for h in self.hops],
        }


def build_rows(routes: Sequence[KernelRoute], snapshot: HostSnapshot) -> list[RouteRow]:
    """Rows sorted by table, prefix and metric."""
    ordered = sorted(
        routes, key=lambda k: (k.route.table, k.route.prefix, k.route.metric, k.protocol)
    )
    return [
        RouteRow(k, tuple(from_model_hop(h, snapshot) for h in k.route.hops)) for k in ordered
    ]


def rows_to_json(rows: Sequence[RouteRow], *, all_routes: bool) -> dict[str, Any]:
    return {
        "scope": "all" if all_routes else "own",
        "count": len(rows),
        "routes": [r.to_json() for r in rows],
    }
