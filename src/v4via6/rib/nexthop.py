"""Next-hop resolution: from a path's BGP next hop to an installable (address, interface).

Rules (issue 5 item 5, RFC 2545): a link-local next hop takes the session's
interface; a global next hop is resolved through a lookup the daemon passes in
(the kernel's IPv6 routes), which also gives the IGP cost; an unresolvable one
makes the path ineligible for best path but it stays in the RIB. ``::`` as the
global part (BIRD's ``[::, LL]``) counts as absent; a link-local address in the
global slot (FRR's ``[LL, LL]``, or 16-byte LL) counts as link-local.
"""

from __future__ import annotations

from collections.abc import Callable
from ipaddress import IPv4Address, IPv6Address

from v4via6.model import ModelError, NextHop
from v4via6.rib.path import PathNextHop, PathRef, PeerInfo, Resolution

#: Global next hop -> (interface or None, IGP cost), or None when unreachable.
GlobalResolver = Callable[[IPv6Address | IPv4Address], "tuple[str | None, int] | None"]

LOCAL_RESOLUTION = Resolution(None, 0)


class NextHopResolver:
    """Turns a path's next hop into a Resolution, or None when it cannot be used."""

    def __init__(self, resolve_global: GlobalResolver | None = None) -> None:
        self._resolve_global = resolve_global

    def resolve(self, path: PathRef) -> Resolution | None:
        return self.resolve_nexthop(path.nexthop, path.peer)

    def resolve_nexthop(self, nh: PathNextHop, peer: PeerInfo) -> Resolution | None:
        """:meth:`resolve` of a path with this next hop from this peer (all it depends on)."""
        if nh is None:
            return LOCAL_RESOLUTION
        if isinstance(nh, NextHop):
            return Resolution(nh, 0)
        link_local = nh.link_local
        glob = nh.global_addr
        if glob is not None and (glob.is_unspecified or glob.is_link_local):
            if link_local is None and glob.is_link_local and isinstance(glob, IPv6Address):
                link_local = glob
            glob = None
        ifname = peer.ifname
        if link_local is not None and ifname:
            return Resolution(NextHop(link_local, ifname), 0)
        if glob is None:
            return None
        if self._resolve_global is None:
            return Resolution(NextHop(glob, None), 0)
        found = self._resolve_global(glob)
        if found is None:
            return None
        out_if, cost = found
        try:
            return Resolution(NextHop(glob, out_if), cost)
        except ModelError:
            return None
