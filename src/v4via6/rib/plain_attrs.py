"""Plain frozen implementations of the RIB's attribute and next-hop protocols.

Used for routes this router originates (static, connected, ``network``), in
tests and in benchmarks. The BGP wire codec has its own richer classes; the RIB
accepts either, since it only reads the fields named in ``rib.attrs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from v4via6.rib.attrs import ORIGIN_IGP, AsPath, LargeCommunity


@dataclass(frozen=True, slots=True)
class PlainAttrs:
    """An immutable, hashable attribute set; ``as_path_len``/``neighbor_as`` derive from it."""

    origin: int = ORIGIN_IGP
    as_path: AsPath = ()
    med: int | None = None
    local_pref: int | None = None
    communities: tuple[int, ...] = ()
    large_communities: tuple[LargeCommunity, ...] = ()
    ext_communities: tuple[int, ...] = ()
    originator_id: int | None = None

    @classmethod
    def with_path(cls, *asns: int, **kw: Any) -> PlainAttrs:
        """``PlainAttrs.with_path(65001, 65002, med=5)``: one AS_SEQUENCE segment."""
        path: AsPath = ((2, tuple(asns)),) if asns else ()
        return cls(as_path=path, **kw)

    @property
    def as_path_len(self) -> int:
        # RFC 4271 §9.1.2.2 a): an AS_SET counts as 1, each AS in a sequence as 1.
        return sum(1 if kind == 1 else len(asns) for kind, asns in self.as_path)

    def contains_asn(self, asn: int) -> bool:
        return any(asn in asns for _kind, asns in self.as_path)

    @property
    def neighbor_as(self) -> int | None:
        for kind, asns in self.as_path:
            if kind == 2 and asns:
                return asns[0]
            return None
        return None


@dataclass(frozen=True, slots=True)
class PlainNextHop:
    """An RFC 8950 next hop: global and/or link-local IPv6 address."""

    global_addr: IPv6Address | IPv4Address | None = None
    link_local: IPv6Address | None = None


#: Attributes of a route this router originates itself: IGP origin, empty AS path.
LOCAL_ATTRS = PlainAttrs()
