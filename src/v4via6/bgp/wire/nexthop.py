"""BGP next hops: the MP_REACH_NLRI next-hop field and the classic NEXT_HOP.

A :class:`BgpNextHop` splits what the peer sent into a global address and a
link-local address. Every link-local encoding seen in the wild is accepted:
16 bytes ``[LL]`` or ``[global]``, 32 bytes ``[global, LL]``, ``[::, LL]``
(BIRD) and ``[LL, LL]`` (FRR); and 4 bytes IPv4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from v4via6.bgp.wire.context import AFI_IPV4

_ZERO6 = bytes(16)

#: How to write a next hop that has only a link-local address:
#: ``ll`` = 16 bytes [LL]; ``ll-ll`` = 32 bytes [LL, LL] (FRR); ``zero-ll`` = [::, LL] (BIRD).
LinkLocalStyle = Literal["ll", "ll-ll", "zero-ll"]


class NextHopError(ValueError):
    """A next-hop field of a length or content that cannot be a next hop."""


@dataclass(frozen=True, slots=True)
class BgpNextHop:
    """A next hop as announced: global and/or link-local address."""

    global_addr: IPv4Address | IPv6Address | None
    link_local: IPv6Address | None = None
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.global_addr is None and self.link_local is None:
            raise NextHopError("a next hop needs a global or a link-local address")
        # Hashed once: every path lookup hashes its next hop.
        object.__setattr__(self, "_hash", hash((self.global_addr, self.link_local)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def is_ipv6(self) -> bool:
        return self.global_addr is None or self.global_addr.version == 6

    @property
    def address(self) -> IPv4Address | IPv6Address:
        """The address to route to: link-local if present (shared link), else global."""
        if self.link_local is not None:
            return self.link_local
        assert self.global_addr is not None
        return self.global_addr

    def __str__(self) -> str:
        if self.link_local is None:
            return str(self.global_addr)
        if self.global_addr is None:
            return f"{self.link_local} (link-local)"
        return f"{self.global_addr} + {self.link_local} (link-local)"


_CACHE: dict[bytes, BgpNextHop] = {}
_CACHE_MAX = 4096


def decode_nexthop(raw: bytes) -> BgpNextHop:
    """MP_REACH next-hop bytes (length 4, 16 or 32) -> :class:`BgpNextHop`."""
    hit = _CACHE.get(raw)
    if hit is not None:
        return hit
    n = len(raw)
    if n == 4:
        nh = BgpNextHop(IPv4Address(raw))
    elif n == 16:
        addr = IPv6Address(raw)
        if raw == _ZERO6:
            raise NextHopError("next hop is :: (unspecified)")
        nh = BgpNextHop(None, addr) if addr.is_link_local else BgpNextHop(addr)
    elif n == 32:
        first = IPv6Address(raw[:16])
        second = IPv6Address(raw[16:])
        if raw[16:] == _ZERO6:
            if raw[:16] == _ZERO6:
                raise NextHopError("next hop is :: + ::")
            # [global, ::]: some speakers pad the link-local slot with zeros
            nh = BgpNextHop(None, first) if first.is_link_local else BgpNextHop(first)
        elif raw[:16] == _ZERO6 or first.is_link_local:
            nh = BgpNextHop(None, second)  # [::, LL] (BIRD) or [LL, LL] (FRR)
        else:
            nh = BgpNextHop(first, second)
    else:
        raise NextHopError(f"next-hop length {n} is not 4, 16 or 32")
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[raw] = nh
    return nh


def encode_nexthop(nh: BgpNextHop, ll_style: LinkLocalStyle = "ll-ll") -> bytes:
    """:class:`BgpNextHop` -> MP_REACH next-hop bytes."""
    g, ll = nh.global_addr, nh.link_local
    if g is not None and g.version == 4:
        if ll is not None:
            raise NextHopError("an IPv4 next hop cannot carry a link-local address")
        return g.packed
    if ll is None:
        assert g is not None
        return g.packed
    if g is not None:
        return g.packed + ll.packed
    if ll_style == "ll":
        return ll.packed
    if ll_style == "zero-ll":
        return _ZERO6 + ll.packed
    return ll.packed + ll.packed


def nexthop_afi(nh: BgpNextHop) -> int:
    """1 for an IPv4 next hop, 2 for IPv6."""
    return AFI_IPV4 if not nh.is_ipv6 else 2
