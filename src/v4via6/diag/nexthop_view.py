"""A next hop joined with its neighbour entry, as ``show routes`` and ``route get`` print it."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from v4via6.host.neighbours import NO_ENTRY
from v4via6.host.route_msg import RouteHop
from v4via6.host.snapshot import HostSnapshot, Neighbour
from v4via6.model import Hop


@dataclass(frozen=True, slots=True)
class NextHopView:
    """Gateway, interface, weight, flags and the gateway's neighbour entry."""

    via: IPv4Address | IPv6Address | None
    dev: str | None
    weight: int = 1
    flags: tuple[str, ...] = ()
    neighbour: Neighbour | None = None

    @property
    def family(self) -> str:
        if self.via is None:
            return "dev"
        return "inet6" if self.via.version == 6 else "inet"

    @property
    def neigh_state(self) -> str | None:
        """The NUD state, ``none`` without an entry, None for a gateway-less hop."""
        if self.via is None:
            return None
        return self.neighbour.state if self.neighbour is not None else NO_ENTRY

    @property
    def neigh_mac(self) -> str | None:
        return self.neighbour.mac if self.neighbour is not None else None

    def describe(self) -> str:
        parts: list[str] = []
        if self.via is not None:
            parts.append(f"via {self.family} {self.via}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        parts.extend(self.flags)
        return " ".join(parts)

    def describe_neighbour(self) -> str:
        if self.via is None:
            return "-"
        if self.neighbour is None:
            return NO_ENTRY
        if self.neighbour.mac:
            return f"{self.neighbour.mac} {self.neighbour.state}"
        return self.neighbour.state

    def to_json(self) -> dict[str, Any]:
        return {
            "via": str(self.via) if self.via is not None else None,
            "family": self.family,
            "dev": self.dev,
            "weight": self.weight,
            "flags": list(self.flags),
            "neigh_state": self.neigh_state,
            "neigh_mac": self.neigh_mac,
        }


def _neighbour(
    snapshot: HostSnapshot, via: IPv4Address | IPv6Address | None, dev: str | None
) -> Neighbour | None:
    if via is None:
        return None
    return snapshot.neighbour(via, dev)


def from_route_hop(hop: RouteHop, snapshot: HostSnapshot) -> NextHopView:
    return NextHopView(hop.via, hop.dev, hop.weight, hop.flags, _neighbour(snapshot, hop.via, hop.dev))


def from_model_hop(hop: Hop, snapshot: HostSnapshot) -> NextHopView:
    nh = hop.nexthop
    return NextHopView(nh.addr, nh.ifname, hop.weight, (), _neighbour(snapshot, nh.addr, nh.ifname))
