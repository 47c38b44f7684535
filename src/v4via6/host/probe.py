"""Gather the kernel's answers ``route get`` needs for one destination.

Four RTM_GETROUTE lookups and one route dump: the path (as given: dst, src,
iif), the matching table entry (RTM_F_FIB_MATCH), the plain output path when
an incoming interface was given, the route back to the source, and every IPv4
route (to name the matching entry when the kernel refuses the lookup, as it
does for blackhole/unreachable/prohibit routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from v4via6.host.lookup import RouteLookup, lookup_route
from v4via6.host.read import dump_ipv4_routes
from v4via6.host.route_msg import KernelEntry


@dataclass(frozen=True, slots=True)
class RouteProbe:
    """Everything the kernel said about one destination."""

    dst: IPv4Address
    src: IPv4Address | None
    iif: str | None
    path: RouteLookup
    match: RouteLookup | None = None
    output: RouteLookup | None = None
    reverse: RouteLookup | None = None
    table: tuple[KernelEntry, ...] = ()


def probe_route(
    ipr: Any,
    ifnames: Mapping[int, str],
    dst: IPv4Address,
    *,
    src: IPv4Address | None = None,
    iif: str | None = None,
) -> RouteProbe:
    """Run the lookups for ``route get dst [from src] [iif iif]``."""
    path = lookup_route(ipr, ifnames, dst, src=src, iif=iif)
    match = lookup_route(ipr, ifnames, dst, src=src, iif=iif, fib_match=True)
    output = lookup_route(ipr, ifnames, dst) if iif is not None else None
    reverse = lookup_route(ipr, ifnames, src) if src is not None else None
    table = tuple(dump_ipv4_routes(ipr, ifnames))
    return RouteProbe(dst, src, iif, path, match, output, reverse, table)
