"""What we send a peer: attribute rewriting (AS prepend, LOCAL_PREF/MED rules) and next-hop self.

Pure functions over values, so the rules are unit-tested without sessions.
RFC 4271 §5.1: eBGP prepends our AS and drops LOCAL_PREF; a MED received from
one AS is not passed to another. RFC 2545 / RFC 8950: our next hop for a peer on
a shared link is our global address plus our link-local address (32 bytes), or
the link-local alone when we have no global one; a peer on another link gets
only a global address.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from v4via6.bgp.wire import BgpNextHop, PathAttributes, make_attributes
from v4via6.rib.attrs import PathAttrs

AS_SEQUENCE = 2
MAX_SEGMENT = 255


def prepend(as_path: tuple[tuple[int, tuple[int, ...]], ...], asn: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
    """Our AS in front of the path (a new AS_SEQUENCE when the first one is full or a set)."""
    if as_path and as_path[0][0] == AS_SEQUENCE and len(as_path[0][1]) < MAX_SEGMENT:
        return ((AS_SEQUENCE, (asn, *as_path[0][1])), *as_path[1:])
    return ((AS_SEQUENCE, (asn,)), *as_path)


def outgoing_attributes(attrs: PathAttrs, *, local_as: int, ebgp: bool, local_origin: bool) -> PathAttributes:
    """The attribute set to send a peer for a path with ``attrs``."""
    as_path = tuple(attrs.as_path)
    if ebgp:
        changes: dict[str, object] = {
            "as_path": prepend(as_path, local_as),
            "local_pref": None,
            "med": attrs.med if local_origin else None,
            "originator_id": None,
            "cluster_list": (),
        }
    else:
        changes = {"local_pref": 100 if attrs.local_pref is None else attrs.local_pref}
    if isinstance(attrs, PathAttributes):
        return attrs.replace(**changes)
    fields: dict[str, Any] = {
        "origin": attrs.origin,
        "as_path": as_path,
        "med": attrs.med,
        "local_pref": attrs.local_pref,
        "communities": tuple(attrs.communities),
        "large_communities": tuple(attrs.large_communities),
        "ext_communities": tuple(attrs.ext_communities),
    }
    fields.update(changes)
    return make_attributes(**fields)


def nexthop_self(
    *,
    local_address: IPv6Address | IPv4Address | None,
    link_local: IPv6Address | None,
    globals_on_link: Iterable[IPv6Address],
    shared_link: bool,
) -> BgpNextHop | None:
    """Our next hop for one session; None when we have no usable IPv6 address."""
    glob: IPv6Address | None = None
    if isinstance(local_address, IPv6Address) and not local_address.is_link_local:
        glob = local_address
    else:
        for addr in globals_on_link:
            if not addr.is_link_local:
                glob = addr
                break
    if not shared_link:
        return BgpNextHop(glob, None) if glob is not None else None
    if link_local is None and glob is None:
        return None
    return BgpNextHop(glob, link_local)
