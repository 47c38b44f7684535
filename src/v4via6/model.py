"""Core value types: IPv4 prefixes, next hops (IPv6 address + interface) and routes.

A route is usually IPv4 (the point of v4via6); IPv6 unicast routes learned over
BGP use the same type with an ``IPv6Network`` prefix (and no ``src``).

These are plain frozen values shared by config, RIB, FIB and CLI. A next hop is
identified by ``(address, interface)``: ``fe80::1`` on eth0 and on eth1 are two
different next hops. A link-local next hop must name its interface.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import NamedTuple

#: rtm_protocol number every route and nexthop object v4via6 installs carries.
#: Not used by any common routing daemon (see /etc/iproute2/rt_protos).
PROTO_NUMBER = 46
PROTO_NAME = "v4via6"

#: Linux main routing table.
MAIN_TABLE = 254

#: Source address Linux uses for ICMPv4 errors on a box without IPv4 (RFC 7600).
DUMMY_ICMP_SOURCE = IPv4Address("192.0.0.8")

NextHopAddress = IPv6Address | IPv4Address


class ModelError(ValueError):
    """A value does not fit the model (bad prefix, next hop, ...)."""


def parse_prefix(text: str) -> IPv4Network:
    """Parse an IPv4 prefix strictly: host bits set or an IPv6 prefix are errors."""
    text = text.strip()
    if ":" in text:
        raise ModelError(f"{text!r} is an IPv6 prefix; expected an IPv4 prefix like 198.51.100.0/24")
    try:
        return IPv4Network(text, strict=True)
    except ValueError as exc:
        msg = str(exc)
        if "host bits set" in msg:
            try:
                fixed = IPv4Network(text, strict=False)
            except ValueError:
                fixed = None
            hint = f" (did you mean {fixed}?)" if fixed is not None else ""
            raise ModelError(f"{text!r} has host bits set{hint}") from None
        raise ModelError(f"{text!r} is not an IPv4 prefix like 198.51.100.0/24") from None


@dataclass(frozen=True, order=True, slots=True)
class NextHop:
    """A gateway: an IPv6 (or IPv4) address, and the interface it is reached on.

    ``addr`` is None for a device-only route (``dev eth0``), which only appears
    when listing routes of other protocols.
    """

    addr: NextHopAddress | None
    ifname: str | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.addr, IPv6Address)
            and self.addr.is_link_local
            and not self.ifname
        ):
            raise ModelError(
                f"link-local next hop {self.addr} needs an interface, e.g. {self.addr}%eth0"
            )

    @classmethod
    def parse(cls, text: str) -> NextHop:
        """Parse ``fe80::1%eth0``, ``2001:db8::1``, ``2001:db8::1%eth0`` or ``192.0.2.1``."""
        text = text.strip()
        addr_text, sep, ifname = text.partition("%")
        if sep and not ifname:
            raise ModelError(f"{text!r}: empty interface name after '%'")
        try:
            addr = ipaddress.ip_address(addr_text)
        except ValueError:
            raise ModelError(
                f"{text!r} is not a next hop like fe80::1%eth0 or 2001:db8::1"
            ) from None
        if addr.is_multicast or addr.is_unspecified:
            raise ModelError(f"{text!r} cannot be a next hop (multicast or unspecified)")
        return cls(addr, ifname or None)

    @property
    def family(self) -> str:
        if self.addr is None:
            return "dev"
        return "inet6" if self.addr.version == 6 else "inet"

    def __str__(self) -> str:
        parts = []
        if self.addr is not None:
            parts.append(f"via {self.family} {self.addr}")
        if self.ifname:
            parts.append(f"dev {self.ifname}")
        return " ".join(parts)

    def spec(self) -> str:
        """The compact config form: ``fe80::1%eth0``."""
        if self.addr is None:
            return f"%{self.ifname}"
        return f"{self.addr}%{self.ifname}" if self.ifname else str(self.addr)


class Hop(NamedTuple):
    """A next hop with its ECMP weight (1..256)."""

    nexthop: NextHop
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Route:
    """A route: prefix, one or more weighted next hops, metric, src, table.

    ``hops`` is kept sorted so two routes with the same next hops compare equal.
    The prefix is IPv4 except for IPv6 unicast routes learned over BGP, which
    carry an ``IPv6Network`` and no ``src`` (the kernel stores their metric 0 as
    1024, see ``fib.netlink``).
    """

    prefix: IPv4Network | IPv6Network
    hops: tuple[Hop, ...]
    metric: int = 0
    src: IPv4Address | None = None
    table: int = MAIN_TABLE
    # Non-unicast kernel route types ("blackhole", "local", ...) when listing.
    kind: str = field(default="unicast")

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.hops, key=lambda h: (_nh_sort_key(h.nexthop), h.weight)))
        if ordered != self.hops:
            object.__setattr__(self, "hops", ordered)
        seen: set[NextHop] = set()
        for hop in self.hops:
            if not 1 <= hop.weight <= 256:
                raise ModelError(f"{self.prefix}: weight {hop.weight} is not in 1..256")
            if hop.nexthop in seen:
                raise ModelError(f"{self.prefix}: next hop {hop.nexthop.spec()} listed twice")
            seen.add(hop.nexthop)
        if not 0 <= self.metric <= 0xFFFFFFFF:
            raise ModelError(f"{self.prefix}: metric {self.metric} is not a 32-bit number")
        if not 1 <= self.table <= 0xFFFFFFFF:
            raise ModelError(f"{self.prefix}: table {self.table} is not valid")
        if self.src is not None and self.prefix.version == 6:
            raise ModelError(f"{self.prefix}: an IPv6 route takes no IPv4 src {self.src}")

    @classmethod
    def simple(
        cls,
        prefix: str | IPv4Network | IPv6Network,
        *via: str | NextHop,
        metric: int = 0,
        src: str | IPv4Address | None = None,
        table: int = MAIN_TABLE,
    ) -> Route:
        """Convenience constructor: ``Route.simple("198.51.100.0/24", "fe80::1%eth0")``."""
        pfx = prefix if isinstance(prefix, (IPv4Network, IPv6Network)) else parse_prefix(prefix)
        hops = tuple(
            Hop(v if isinstance(v, NextHop) else NextHop.parse(v)) for v in via
        )
        source = IPv4Address(src) if isinstance(src, str) else src
        return cls(pfx, hops, metric, source, table)

    @property
    def key(self) -> tuple[int, IPv4Network | IPv6Network, int]:
        """What identifies a route in the kernel: (table, prefix, metric)."""
        return (self.table, self.prefix, self.metric)

    @property
    def nexthops(self) -> tuple[NextHop, ...]:
        return tuple(h.nexthop for h in self.hops)

    def describe(self) -> str:
        """One line in ``ip route`` style."""
        parts: list[str] = []
        if self.kind != "unicast":
            parts.append(self.kind)
        parts.append(str(self.prefix))
        if len(self.hops) == 1:
            parts.append(str(self.hops[0].nexthop))
            if self.hops[0].weight != 1:
                parts.append(f"weight {self.hops[0].weight}")
        elif self.hops:
            parts.append(
                " ".join(
                    f"nexthop {h.nexthop} weight {h.weight}" for h in self.hops
                )
            )
        if self.src is not None:
            parts.append(f"src {self.src}")
        if self.metric:
            parts.append(f"metric {self.metric}")
        if self.table != MAIN_TABLE:
            parts.append(f"table {self.table}")
        return " ".join(parts)


def _nh_sort_key(nh: NextHop) -> tuple[int, int, str]:
    if nh.addr is None:
        return (0, 0, nh.ifname or "")
    return (nh.addr.version, int(nh.addr), nh.ifname or "")
