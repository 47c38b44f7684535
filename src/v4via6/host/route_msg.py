"""Turn an RTM_NEWROUTE message (pyroute2 dict form) into plain route data.

Used for route dumps and for RTM_GETROUTE answers. Knows RTA_VIA (IPv4 via an
IPv6 gateway), RTA_GATEWAY, RTA_OIF and RTA_MULTIPATH with per-hop flags.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address
from typing import Any

from v4via6.model import MAIN_TABLE

#: rtm_type values (linux/rtnetlink.h).
ROUTE_TYPES: dict[int, str] = {
    0: "unspec",
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
    11: "xresolve",
}

#: rtnh_flags (linux/rtnetlink.h) worth showing.
RTNH_FLAGS: dict[int, str] = {1: "dead", 4: "onlink", 16: "linkdown"}


@dataclass(frozen=True, slots=True)
class RouteHop:
    """One next hop as the kernel reports it."""

    via: IPv4Address | IPv6Address | None
    dev: str | None
    weight: int = 1
    flags: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        if self.via is None:
            return "dev"
        return "inet6" if self.via.version == 6 else "inet"

    def describe(self) -> str:
        parts: list[str] = []
        if self.via is not None:
            parts.append(f"via {self.family} {self.via}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        parts.extend(self.flags)
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class KernelEntry:
    """A route of any type and protocol as the kernel reports it."""

    prefix: IPv4Network
    kind: str
    protocol: int
    table: int = MAIN_TABLE
    metric: int = 0
    prefsrc: IPv4Address | None = None
    hops: tuple[RouteHop, ...] = ()


def _attrs(msg: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in msg.get("attrs", ())}


def _flag_names(flags: int) -> tuple[str, ...]:
    return tuple(name for bit, name in RTNH_FLAGS.items() if flags & bit)


def _hop(attrs: Mapping[str, Any], oif: int | None, weight: int, flags: int,
         ifnames: Mapping[int, str]) -> RouteHop:
    via: IPv4Address | IPv6Address | None = None
    if "RTA_VIA" in attrs:
        via = ipaddress.ip_address(attrs["RTA_VIA"]["addr"])
    elif "RTA_GATEWAY" in attrs:
        via = ipaddress.ip_address(attrs["RTA_GATEWAY"])
    dev = ifnames.get(oif, str(oif)) if oif else None
    return RouteHop(via, dev, weight, _flag_names(flags))


def parse_route_message(msg: Mapping[str, Any], ifnames: Mapping[int, str]) -> KernelEntry:
    """Plain data from one IPv4 route message (dump entry or RTM_GETROUTE answer)."""
    attrs = _attrs(msg)
    dst = attrs.get("RTA_DST", "0.0.0.0")
    prefix = IPv4Network(f"{dst}/{msg.get('dst_len', 0)}", strict=False)
    hops: list[RouteHop] = []
    if "RTA_MULTIPATH" in attrs:
        for nh in attrs["RTA_MULTIPATH"]:
            hops.append(
                _hop(_attrs(nh), nh.get("oif"), int(nh.get("hops", 0)) + 1,
                     int(nh.get("flags", 0)), ifnames)
            )
    elif "RTA_OIF" in attrs or "RTA_VIA" in attrs or "RTA_GATEWAY" in attrs:
        hops.append(_hop(attrs, attrs.get("RTA_OIF"), 1, int(msg.get("flags", 0)), ifnames))
    prefsrc = attrs.get("RTA_PREFSRC")
    return KernelEntry(
        prefix=prefix,
        kind=ROUTE_TYPES.get(int(msg.get("type", 1)), str(msg.get("type"))),
        protocol=int(msg.get("proto", 0)),
        table=int(attrs.get("RTA_TABLE", msg.get("table", MAIN_TABLE))),
        metric=int(attrs.get("RTA_PRIORITY", 0)),
        prefsrc=IPv4Address(prefsrc) if prefsrc else None,
        hops=tuple(hops),
    )
