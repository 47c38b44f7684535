"""BGP message values: Open, Update, Notification, Keepalive, RouteRefresh.

Plain frozen dataclasses, no I/O. An :class:`Update` offers what the RIB needs
through :meth:`Update.announcements` and :meth:`Update.withdrawals`; prefixes are
int keys (``(address << 8) | length``), attributes one interned
:class:`~v4via6.bgp.wire.attributes.PathAttributes`. Fields named ``order``,
``nh_raw``, ``flags``, ``param_layout`` only serve byte-exact round trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import ClassVar

from v4via6.bgp.wire import capabilities as caps
from v4via6.bgp.wire.attributes import PathAttributes
from v4via6.bgp.wire.capabilities import Capability
from v4via6.bgp.wire.context import AFI_IPV4, SAFI_UNICAST, Context
from v4via6.bgp.wire.errors import Verdict
from v4via6.bgp.wire.mp import MpReach, MpUnreach
from v4via6.bgp.wire.nexthop import BgpNextHop

OPEN = 1
UPDATE = 2
NOTIFICATION = 3
KEEPALIVE = 4
ROUTE_REFRESH = 5

MESSAGE_NAMES = {OPEN: "OPEN", UPDATE: "UPDATE", NOTIFICATION: "NOTIFICATION",
                 KEEPALIVE: "KEEPALIVE", ROUTE_REFRESH: "ROUTE-REFRESH"}


@dataclass(frozen=True, slots=True)
class Open:
    """OPEN. ``my_as`` is the 2-octet field (AS_TRANS for big ASNs); :attr:`asn` the real one.

    ``param_layout``: per optional parameter, the number of capabilities it
    holds, or -1 for the next entry of ``other_params`` (None: all in one).
    ``extended_params``: RFC 9072 encoding used.
    """

    TYPE: ClassVar[int] = OPEN
    my_as: int
    hold_time: int
    bgp_id: IPv4Address
    capabilities: tuple[Capability, ...] = ()
    version: int = 4
    param_layout: tuple[int, ...] | None = None
    extended_params: bool = False
    other_params: tuple[tuple[int, bytes], ...] = ()

    @property
    def asn(self) -> int:
        """The speaker's AS: the four-octet capability if present, else ``my_as``."""
        big = caps.four_octet_asn(self.capabilities)
        return big if big is not None else self.my_as

    def has(self, code: int) -> bool:
        return any(c.code == code for c in self.capabilities)

    @property
    def families(self) -> frozenset[tuple[int, int]]:
        """Multiprotocol (afi, safi); RFC 4760: none advertised means IPv4 unicast."""
        fams = caps.multiprotocol_families(self.capabilities)
        return fams if fams or self.has(caps.MULTIPROTOCOL) else frozenset({(1, 1)})

    @property
    def extended_nexthop(self) -> frozenset[tuple[int, int, int]]:
        return caps.extended_nexthop_tuples(self.capabilities)


@dataclass(frozen=True, slots=True)
class Announcement:
    """Prefixes announced with one next hop and one attribute set."""

    afi: int
    safi: int
    next_hop: BgpNextHop
    attrs: PathAttributes
    keys: tuple[int, ...]
    path_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """Prefixes withdrawn (or treated as withdrawn) for one (afi, safi)."""

    afi: int
    safi: int
    keys: tuple[int, ...]
    path_ids: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Update:
    """UPDATE, decoded.

    - ``withdrawn``/``nlri``: the classic IPv4 fields; ``next_hop`` the classic
      NEXT_HOP attribute.
    - ``mp_reach``/``mp_unreach``: RFC 4760 attributes.
    - ``attrs``: the interned attribute set (None if the UPDATE had none, or
      if an error made it treat-as-withdraw).
    - ``verdicts``: RFC 7606 problems found (never session-reset: that raises).
    - ``treat_as_withdraw``: prefixes withdrawn because of an error.
    """

    TYPE: ClassVar[int] = UPDATE
    withdrawn: tuple[int, ...] = ()
    attrs: PathAttributes | None = None
    nlri: tuple[int, ...] = ()
    next_hop: IPv4Address | None = None
    mp_reach: MpReach | None = None
    mp_unreach: MpUnreach | None = None
    verdicts: tuple[Verdict, ...] = ()
    treat_as_withdraw: tuple[Withdrawal, ...] = ()
    withdrawn_path_ids: tuple[int, ...] | None = None
    nlri_path_ids: tuple[int, ...] | None = None
    next_hop_flags: int = 0x40
    order: tuple[int, ...] | None = field(default=None, compare=False)

    def announcements(self) -> list[Announcement]:
        out: list[Announcement] = []
        if self.attrs is None:
            return out
        if self.nlri and self.next_hop is not None:
            out.append(Announcement(AFI_IPV4, SAFI_UNICAST, BgpNextHop(self.next_hop),
                                    self.attrs, self.nlri, self.nlri_path_ids))
        mp = self.mp_reach
        if mp is not None and mp.keys:
            out.append(Announcement(mp.afi, mp.safi, mp.next_hop, self.attrs, mp.keys,
                                    mp.path_ids))
        return out

    def withdrawals(self) -> list[Withdrawal]:
        out: list[Withdrawal] = []
        if self.withdrawn:
            out.append(Withdrawal(AFI_IPV4, SAFI_UNICAST, self.withdrawn,
                                  self.withdrawn_path_ids))
        mu = self.mp_unreach
        if mu is not None and mu.keys:
            out.append(Withdrawal(mu.afi, mu.safi, mu.keys, mu.path_ids))
        out.extend(self.treat_as_withdraw)
        return out

    @property
    def end_of_rib(self) -> tuple[int, int] | None:
        """(afi, safi) if this is an End-of-RIB marker (RFC 4724 §2), else None."""
        if self.withdrawn or self.nlri or self.mp_reach is not None or self.treat_as_withdraw:
            return None
        if self.mp_unreach is None:
            return (AFI_IPV4, SAFI_UNICAST) if self.attrs is None and not self.verdicts else None
        if self.mp_unreach.keys or self.attrs is not None:
            return None
        return (self.mp_unreach.afi, self.mp_unreach.safi)

    @property
    def prefix_count(self) -> int:
        return sum(len(a.keys) for a in self.announcements()) + sum(
            len(w.keys) for w in self.withdrawals())


@dataclass(frozen=True, slots=True)
class Notification:
    """NOTIFICATION: error code, subcode, data."""

    TYPE: ClassVar[int] = NOTIFICATION
    code: int
    subcode: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Keepalive:
    TYPE: ClassVar[int] = KEEPALIVE


@dataclass(frozen=True, slots=True)
class RouteRefresh:
    """ROUTE-REFRESH (RFC 2918); ``subtype`` 0 normal, 1 BoRR, 2 EoRR (RFC 7313)."""

    TYPE: ClassVar[int] = ROUTE_REFRESH
    afi: int
    safi: int
    subtype: int = 0


Message = Open | Update | Notification | Keepalive | RouteRefresh

__all__ = ["Announcement", "Context", "Keepalive", "Message", "Notification", "Open",
           "RouteRefresh", "Update", "Withdrawal"]
