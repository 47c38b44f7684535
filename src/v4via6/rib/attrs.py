"""What the RIB needs from BGP path attributes and next hops, as typing Protocols.

The wire codec (``v4via6.bgp.wire``) decodes each distinct attribute set into
one interned, immutable, hashable object; the RIB only relies on the read-only
fields named here, so any frozen dataclass with these fields fits. Also holds
community helpers (parse and format ``65000:1`` / ``65000:1:2`` and well-known
names) shared by policy and ``show``.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

ORIGIN_IGP = 0
ORIGIN_EGP = 1
ORIGIN_INCOMPLETE = 2
ORIGIN_NAMES = {ORIGIN_IGP: "igp", ORIGIN_EGP: "egp", ORIGIN_INCOMPLETE: "incomplete"}

#: RFC 4271 §9.1.1: LOCAL_PREF assumed when a path has none.
DEFAULT_LOCAL_PREF = 100

#: Well-known standard communities (RFC 1997, RFC 7999, RFC 8326).
WELL_KNOWN_COMMUNITIES = {
    "graceful-shutdown": 0xFFFF0000,
    "blackhole": 0xFFFF029A,
    "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02,
    "no-export-subconfed": 0xFFFFFF03,
    "no-peer": 0xFFFFFF04,
}
NO_EXPORT = WELL_KNOWN_COMMUNITIES["no-export"]
NO_ADVERTISE = WELL_KNOWN_COMMUNITIES["no-advertise"]

LargeCommunity = tuple[int, int, int]
AsPath = tuple[tuple[int, tuple[int, ...]], ...]


class PathAttrs(Protocol):
    """One interned BGP attribute set, as decoded by the wire codec."""

    @property
    def origin(self) -> int: ...
    @property
    def as_path(self) -> AsPath: ...
    @property
    def as_path_len(self) -> int: ...
    @property
    def neighbor_as(self) -> int | None: ...
    @property
    def med(self) -> int | None: ...
    @property
    def local_pref(self) -> int | None: ...
    @property
    def communities(self) -> tuple[int, ...]: ...
    @property
    def large_communities(self) -> tuple[LargeCommunity, ...]: ...
    @property
    def ext_communities(self) -> tuple[int, ...]: ...

    def contains_asn(self, asn: int) -> bool:
        """Whether ``asn`` is anywhere in the AS path (AS-loop detection)."""
        ...

    def __hash__(self) -> int: ...


class BgpNextHopLike(Protocol):
    """An RFC 8950 next hop: global address and/or link-local address (either may be None)."""

    @property
    def global_addr(self) -> IPv6Address | IPv4Address | None: ...
    @property
    def link_local(self) -> IPv6Address | None: ...

    def __hash__(self) -> int: ...


def parse_community(text: str, key: str) -> int | LargeCommunity:
    """``"65000:1"`` -> 32-bit int; ``"65000:1:2"`` -> large community; or a well-known name.

    Raises a one-line ValueError naming ``key``.
    """
    text = text.strip()
    known = WELL_KNOWN_COMMUNITIES.get(text.lower())
    if known is not None:
        return known
    parts = text.split(":")
    expected = (
        f"{key}: {text!r} is not a community; expected 'ASN:VALUE' (16-bit each), "
        "'ASN:V1:V2' (large, 32-bit each) or a name like 'no-export'"
    )
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(expected)
    nums = [int(p) for p in parts]
    if len(nums) == 2:
        if not all(n <= 0xFFFF for n in nums):
            raise ValueError(expected)
        return (nums[0] << 16) | nums[1]
    if not all(n <= 0xFFFFFFFF for n in nums):
        raise ValueError(expected)
    return (nums[0], nums[1], nums[2])


def format_community(value: int) -> str:
    """32-bit community -> ``"65000:1"`` (well-known ones by name)."""
    for name, num in WELL_KNOWN_COMMUNITIES.items():
        if num == value:
            return name
    return f"{value >> 16}:{value & 0xFFFF}"


def format_large_community(value: LargeCommunity) -> str:
    return f"{value[0]}:{value[1]}:{value[2]}"
