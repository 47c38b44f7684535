"""Plain data describing a host: links, addresses, neighbours, sysctls, kernel version.

A ``HostSnapshot`` is what the diagnostics reason over. It is read from the
running system by ``v4via6.host.read`` and can be built by hand in unit tests,
so every check runs without root and without a kernel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

#: rtm/ifa scope values (linux/rtnetlink.h).
SCOPE_UNIVERSE = 0
SCOPE_SITE = 200
SCOPE_LINK = 253
SCOPE_HOST = 254

_SCOPE_NAMES = {SCOPE_UNIVERSE: "global", SCOPE_SITE: "site", SCOPE_LINK: "link", SCOPE_HOST: "host"}


def scope_name(scope: int) -> str:
    """``global``, ``link``, ``host`` ... as ``ip addr`` prints them."""
    return _SCOPE_NAMES.get(scope, str(scope))


@dataclass(frozen=True, order=True, slots=True)
class KernelVersion:
    """A Linux release number, e.g. 6.18.44."""

    major: int
    minor: int
    patch: int = 0
    text: str = field(default="", compare=False)

    def at_least(self, major: int, minor: int) -> bool:
        return (self.major, self.minor) >= (major, minor)

    def __str__(self) -> str:
        return self.text or f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True, slots=True)
class Link:
    """A network interface."""

    index: int
    name: str
    up: bool = True
    operstate: str = "UP"
    mac: str | None = None
    loopback: bool = False


@dataclass(frozen=True, slots=True)
class Address:
    """An address assigned to an interface."""

    ifname: str
    address: IPv4Address | IPv6Address
    prefixlen: int
    scope: int = SCOPE_UNIVERSE

    @property
    def version(self) -> int:
        return self.address.version

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A neighbour-table entry: IP address on an interface, its MAC and NUD state."""

    addr: IPv4Address | IPv6Address
    ifname: str
    state: str
    mac: str | None = None


def sysctl_path(*parts: str) -> str:
    """The key of a sysctl under /proc/sys: ``sysctl_path("net", "ipv4", "ip_forward")``."""
    return "/".join(parts)


def sysctl_display(path: str) -> str:
    """How to write a sysctl key for ``sysctl -w``: dots, unless a part has a dot."""
    parts = path.split("/")
    if any("." in p for p in parts):
        return path
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """Everything the checks need to know about one host (one network namespace)."""

    kernel: KernelVersion
    links: tuple[Link, ...] = ()
    addresses: tuple[Address, ...] = ()
    neighbours: tuple[Neighbour, ...] = ()
    #: sysctl values keyed by their path under /proc/sys (``net/ipv4/ip_forward``).
    sysctls: Mapping[str, str] = field(default_factory=dict)

    def link(self, name: str) -> Link | None:
        for link in self.links:
            if link.name == name:
                return link
        return None

    def addresses_of(self, ifname: str, version: int | None = None) -> list[Address]:
        return [
            a
            for a in self.addresses
            if a.ifname == ifname and (version is None or a.version == version)
        ]

    def usable_ipv4(self) -> list[Address]:
        """IPv4 addresses the kernel may pick as a source (scope below host)."""
        return [a for a in self.addresses if a.version == 4 and a.scope < SCOPE_HOST]

    def is_local(self, addr: IPv4Address | IPv6Address) -> bool:
        return any(a.address == addr for a in self.addresses)

    def neighbour(self, addr: IPv4Address | IPv6Address, ifname: str | None) -> Neighbour | None:
        for n in self.neighbours:
            if n.addr == addr and (ifname is None or n.ifname == ifname):
                return n
        return None

    def sysctl(self, path: str) -> str | None:
        return self.sysctls.get(path)

    def sysctl_int(self, path: str) -> int | None:
        value = self.sysctls.get(path)
        if value is None:
            return None
        try:
            return int(value.split()[0])
        except (ValueError, IndexError):
            return None
