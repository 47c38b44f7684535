"""Read the host over netlink (pyroute2): links, addresses, neighbours, IPv4 routes.

Read-only: every request here is a dump or a get, so it works without root.
``read_snapshot`` gathers everything the checks need into a ``HostSnapshot``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from typing import Any

from v4via6.host.errors import HostError
from v4via6.host.kernel import running_kernel
from v4via6.host.neighbours import nud_state_name
from v4via6.host.route_msg import KernelEntry, parse_route_message
from v4via6.host.snapshot import Address, HostSnapshot, Link, Neighbour
from v4via6.host.sysctl import read_sysctls

IFF_UP = 0x1
IFF_LOOPBACK = 0x8


def open_netlink() -> Any:
    """An ``IPRoute`` socket, or HostError with a one-line reason."""
    try:
        from pyroute2 import IPRoute
    except ImportError as exc:  # pragma: no cover - pyroute2 is a dependency
        raise HostError(f"pyroute2 is not installed: {exc}") from None
    try:
        return IPRoute()
    except OSError as exc:
        raise HostError(f"cannot open a netlink socket: {exc.strerror or exc}") from None


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name)


def read_links(ipr: Any) -> tuple[Link, ...]:
    links = []
    for msg in ipr.link("dump"):
        flags = int(msg.get("flags", 0))
        links.append(
            Link(
                index=int(msg["index"]),
                name=str(_attr(msg, "IFLA_IFNAME")),
                up=bool(flags & IFF_UP),
                operstate=str(_attr(msg, "IFLA_OPERSTATE") or "UNKNOWN"),
                mac=_attr(msg, "IFLA_ADDRESS"),
                loopback=bool(flags & IFF_LOOPBACK),
            )
        )
    return tuple(sorted(links, key=lambda link: link.index))


def ifname_map(links: tuple[Link, ...]) -> dict[int, str]:
    return {link.index: link.name for link in links}


def read_addresses(ipr: Any, ifnames: Mapping[int, str]) -> tuple[Address, ...]:
    result = []
    for msg in ipr.addr("dump"):
        text = _attr(msg, "IFA_ADDRESS") or _attr(msg, "IFA_LOCAL")
        if text is None:
            continue
        index = int(msg["index"])
        result.append(
            Address(
                ifname=ifnames.get(index, str(index)),
                address=ipaddress.ip_address(text),
                prefixlen=int(msg["prefixlen"]),
                scope=int(msg["scope"]),
            )
        )
    return tuple(result)


def read_neighbours(ipr: Any, ifnames: Mapping[int, str]) -> tuple[Neighbour, ...]:
    """IPv6 and IPv4 neighbour entries (unicast only)."""
    result = []
    for family in (socket.AF_INET6, socket.AF_INET):
        for msg in ipr.neigh("dump", family=family):
            dst = _attr(msg, "NDA_DST")
            if dst is None:
                continue
            addr = ipaddress.ip_address(dst)
            if addr.is_multicast:
                continue
            index = int(msg["ifindex"])
            result.append(
                Neighbour(
                    addr=addr,
                    ifname=ifnames.get(index, str(index)),
                    state=nud_state_name(int(msg["state"])),
                    mac=_attr(msg, "NDA_LLADDR"),
                )
            )
    return tuple(result)


def dump_ipv4_routes(ipr: Any, ifnames: Mapping[int, str]) -> list[KernelEntry]:
    """Every IPv4 route in every table, any type and protocol."""
    entries = []
    for msg in ipr.route("dump", family=socket.AF_INET):
        entries.append(parse_route_message(msg, ifnames))
    return entries


def read_snapshot(ipr: Any | None = None) -> HostSnapshot:
    """Read links, addresses, neighbours, sysctls and the kernel version."""
    own = ipr is None
    sock = open_netlink() if ipr is None else ipr
    try:
        links = read_links(sock)
        names = ifname_map(links)
        addresses = read_addresses(sock, names)
        neighbours = read_neighbours(sock, names)
    except OSError as exc:
        raise HostError(f"reading the host over netlink failed: {exc}") from None
    finally:
        if own:
            sock.close()
    return HostSnapshot(
        kernel=running_kernel(),
        links=links,
        addresses=addresses,
        neighbours=neighbours,
        sysctls=read_sysctls(link.name for link in links),
    )
