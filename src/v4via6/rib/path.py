"""Route sources and paths: who a route came from (PeerInfo) and one path (PathRef).

A ``PathRef`` is the small interned value an Adj-RIB-In stores per prefix:
attribute set + next hop + peer. Many prefixes share one PathRef, so the RIB
holds ``dict[int, PathRef]`` and creates no object per prefix. Its hash is
computed once and cached, because the hot path hashes it often.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Any, cast

from v4via6.model import NextHop
from v4via6.rib.attrs import BgpNextHopLike, PathAttrs


class PeerKind(StrEnum):
    EBGP = "ebgp"
    IBGP = "ibgp"
    #: Static routes, connected prefixes, ``network`` entries: this router itself.
    LOCAL = "local"


#: BIRD-style source preference: local sources beat BGP before local-pref is looked at.
PREFERENCE_LOCAL = 200
PREFERENCE_BGP = 100


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A route source. ``router_id`` is the peer's BGP identifier as an int."""

    name: str
    kind: PeerKind
    address: IPv6Address | IPv4Address | None = None
    router_id: int = 0
    asn: int = 0
    #: Interface of a session on a shared link (link-local next hops use it).
    ifname: str | None = None
    #: Paths from this source may share an ECMP group with the winner.
    multipath: bool = False
    preference: int = PREFERENCE_BGP
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        # Hashed on every table lookup: compute once.
        object.__setattr__(
            self,
            "_hash",
            hash(
                (
                    self.name,
                    self.kind,
                    self.address,
                    self.router_id,
                    self.asn,
                    self.ifname,
                    self.multipath,
                    self.preference,
                )
            ),
        )

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def local(cls, name: str = "local", router_id: int = 0) -> PeerInfo:
        return cls(name, PeerKind.LOCAL, router_id=router_id, preference=PREFERENCE_LOCAL)

    @property
    def is_ebgp(self) -> bool:
        return self.kind is PeerKind.EBGP


PathNextHop = BgpNextHopLike | NextHop | None


class PathRef:
    """One path: attribute set, next hop as received (or configured) and source peer.

    Compare and hash by value; intern so equal paths are one object. The hash is
    computed on first use (a path of a table where every prefix has its own is
    often never hashed) and kept.
    """

    __slots__ = ("_hash", "attrs", "nexthop", "peer")

    _hash: int | None
    attrs: PathAttrs
    nexthop: PathNextHop
    peer: PeerInfo

    def __init__(self, attrs: PathAttrs, nexthop: PathNextHop, peer: PeerInfo) -> None:
        _set_attrs(self, attrs)
        _set_nexthop(self, nexthop)
        _set_peer(self, peer)
        _set_hash(self, None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("PathRef is immutable")

    def __hash__(self) -> int:
        h = self._hash
        if h is None:
            h = hash((self.attrs, self.nexthop, self.peer))
            _set_hash(self, h)
        return h

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PathRef):
            return NotImplemented
        return (
            hash(self) == hash(other)
            and self.attrs == other.attrs
            and self.nexthop == other.nexthop
            and self.peer == other.peer
        )

    def __repr__(self) -> str:
        return f"PathRef(peer={self.peer.name!r}, nexthop={self.nexthop!r}, attrs={self.attrs!r})"


def _setter(name: str) -> Callable[[PathRef, Any], None]:
    return getattr(PathRef, name).__set__  # type: ignore[no-any-return]


# The slots' member-descriptor setters (``__setattr__`` refuses): the cheapest way to
# fill an instance, and a table where each prefix has its own path makes one per UPDATE.
_set_attrs = _setter("attrs")
_set_nexthop = _setter("nexthop")
_set_peer = _setter("peer")
_set_hash = _setter("_hash")


class _Made:
    """``_Made(attrs, nexthop, peer)`` is a new PathRef, made in one call: it has
    PathRef's slots, so its ``__init__`` sets them with plain stores (PathRef refuses
    assignment) and then makes the object a PathRef (same slots, same layout: CPython
    allows the class change). Cheaper than four descriptor calls, and a table where
    each prefix has its own path makes one per UPDATE."""

    __slots__ = PathRef.__slots__

    def __init__(self, attrs: PathAttrs, nexthop: PathNextHop, peer: PeerInfo) -> None:
        self._hash = None
        self.attrs = attrs
        self.nexthop = nexthop
        self.peer = peer
        self.__class__ = PathRef  # type: ignore[assignment]


#: ``PathRef(attrs, nexthop, peer)``, made faster (see ``_Made``).
new_path = cast(Callable[[PathAttrs, PathNextHop, PeerInfo], PathRef], _Made)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a path's next hop leads: an installable next hop and the IGP cost to it.

    ``nexthop`` is None for locally originated networks (nothing to install).
    """

    nexthop: NextHop | None
    igp_cost: int = 0
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.nexthop, self.igp_cost)))

    def __hash__(self) -> int:
        return self._hash
