"""Route lookups in the kernel (RTM_GETROUTE), as ``ip route get`` does them.

``lookup_route`` asks the kernel which path a packet to ``dst`` takes; with
``fib_match`` (RTM_F_FIB_MATCH) it asks for the routing-table entry that
matched instead of the resulting path; with ``iif`` it simulates a packet
arriving on that interface (forwarding path, rp_filter included).
Kernel refusals come back as data (errno + message), never as exceptions.
"""

from __future__ import annotations

import errno as errno_mod
import os
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

from v4via6.host.errors import HostError
from v4via6.host.route_msg import KernelEntry, parse_route_message

#: rtm_flags: return the matching FIB entry rather than the resolved path.
RTM_F_FIB_MATCH = 0x2000


@dataclass(frozen=True, slots=True)
class RouteLookup:
    """The kernel's answer to one RTM_GETROUTE: a route entry or an errno."""

    dst: IPv4Address
    src: IPv4Address | None = None
    iif: str | None = None
    fib_match: bool = False
    entry: KernelEntry | None = None
    errno: int | None = None

    @property
    def ok(self) -> bool:
        return self.entry is not None and self.errno is None

    @property
    def error(self) -> str | None:
        """The kernel's message, e.g. ``Invalid cross-device link``."""
        if self.errno is None:
            return None
        return os.strerror(self.errno)

    @property
    def errno_name(self) -> str | None:
        if self.errno is None:
            return None
        return errno_mod.errorcode.get(self.errno, str(self.errno))


def lookup_route(
    ipr: Any,
    ifnames: Mapping[int, str],
    dst: IPv4Address,
    *,
    src: IPv4Address | None = None,
    iif: str | None = None,
    fib_match: bool = False,
) -> RouteLookup:
    """Ask the kernel for the route to ``dst`` (optionally from ``src`` arriving on ``iif``)."""
    from pyroute2.netlink.exceptions import NetlinkError

    kwargs: dict[str, Any] = {"dst": str(dst)}
    if src is not None:
        kwargs["src"] = str(src)
    if iif is not None:
        indexes = [index for index, name in ifnames.items() if name == iif]
        if not indexes:
            raise HostError(f"unknown interface {iif!r}")
        kwargs["iif"] = indexes[0]
    if fib_match:
        kwargs["flags"] = RTM_F_FIB_MATCH
    base = RouteLookup(dst=dst, src=src, iif=iif, fib_match=fib_match)
    try:
        answer = ipr.route("get", **kwargs)
    except NetlinkError as exc:
        return RouteLookup(dst, src, iif, fib_match, None, int(exc.code))
    except OSError as exc:
        return RouteLookup(dst, src, iif, fib_match, None, exc.errno or errno_mod.EIO)
    messages = list(answer)
    if not messages:
        return RouteLookup(dst, src, iif, fib_match, None, errno_mod.ENOENT)
    return RouteLookup(
        base.dst, base.src, base.iif, base.fib_match, parse_route_message(messages[0], ifnames)
    )
