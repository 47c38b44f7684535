"""What a BGP session reports: frozen dataclasses returned by the Session methods.

The session (``bgp/session.py``) never does I/O; every call returns a list of
these. Two are requests to the transport glue (:class:`ConnectRequested`,
:class:`DisconnectRequested`); the others are facts for the RIB, logs and
metrics. Prefixes are codec keys ``(address_int << 8) | prefix_len``, one AFI
per event. ``describe()`` gives one key=value log line.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address

from v4via6.bgp.fsm import State
from v4via6.bgp.wire.attributes import PathAttributes
from v4via6.bgp.wire.capabilities import Capability
from v4via6.bgp.wire.context import Context, afi_safi_name
from v4via6.bgp.wire.errors import Verdict
from v4via6.bgp.wire.messages import Notification
from v4via6.bgp.wire.nexthop import BgpNextHop


@dataclass(frozen=True, slots=True)
class GracefulRestartInfo:
    """The peer's RFC 4724 graceful-restart capability."""

    restart_flags: int
    restart_time: int
    #: (afi, safi, flags) per family the peer preserves forwarding state for.
    families: tuple[tuple[int, int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Negotiated:
    """Everything agreed in the OPEN exchange.

    ``extended_nexthop`` holds only the (NLRI AFI, NLRI SAFI, next-hop AFI)
    tuples BOTH sides advertised; ``(1, 1, 2)`` means IPv4 unicast may carry an
    IPv6 next hop (RFC 8950). ``families`` is the multiprotocol (AFI, SAFI) set
    both sides advertised (IPv4 unicast alone when neither sent any).
    ``context`` is what the codec decodes and encodes this session with.
    """

    peer_as: int
    peer_router_id: IPv4Address
    hold_time: int
    keepalive_time: int
    four_octet_as: bool
    families: frozenset[tuple[int, int]]
    extended_nexthop: frozenset[tuple[int, int, int]]
    extended_message: bool
    route_refresh: bool
    enhanced_route_refresh: bool
    graceful_restart: GracefulRestartInfo | None
    add_path_rx: frozenset[tuple[int, int]]
    add_path_tx: frozenset[tuple[int, int]]
    context: Context
    peer_capabilities: tuple[Capability, ...] = ()


class _Described:
    __slots__ = ()

    def describe(self) -> str:
        """One log line: ``event=<name> key=value ...``."""
        return f"event={type(self).__name__}"


@dataclass(frozen=True, slots=True)
class ConnectRequested(_Described):
    """Transport: open a connection to the peer, then call ``connection_made()``."""


@dataclass(frozen=True, slots=True)
class DisconnectRequested(_Described):
    """Transport: send what ``data_to_send()`` still holds, then close the connection."""


@dataclass(frozen=True, slots=True)
class StateChanged(_Described):
    """The FSM moved from ``old`` to ``new`` (RFC 4271 §8 states)."""

    old: State
    new: State
    cause: str

    def describe(self) -> str:
        return f"event=StateChanged old={self.old.value} new={self.new.value} cause={self.cause}"


@dataclass(frozen=True, slots=True)
class SessionUp(_Described):
    """The session reached Established; ``negotiated`` holds the agreed capabilities."""

    negotiated: Negotiated

    def describe(self) -> str:
        n = self.negotiated
        ext = ",".join(f"{a}/{s}/{h}" for a, s, h in sorted(n.extended_nexthop)) or "none"
        return (f"event=SessionUp peer_as={n.peer_as} router_id={n.peer_router_id} "
                f"hold_time={n.hold_time} four_octet_as={n.four_octet_as} "
                f"extended_nexthop={ext} extended_message={n.extended_message}")


@dataclass(frozen=True, slots=True)
class SessionDown(_Described):
    """The session left a live state and is Idle again; routes from it are void.

    ``was_established``: routes had been exchanged (the RIB must drop this
    peer's routes). ``notification_sent`` / ``notification_received``: the
    NOTIFICATION that ended it, if any.
    """

    reason: str
    was_established: bool
    notification_sent: Notification | None = None
    notification_received: Notification | None = None

    def describe(self) -> str:
        parts = [f"event=SessionDown reason={self.reason!r}",
                 f"was_established={self.was_established}"]
        if self.notification_sent is not None:
            n = self.notification_sent
            parts.append(f"notification_sent={n.code}/{n.subcode}")
        if self.notification_received is not None:
            n = self.notification_received
            parts.append(f"notification_received={n.code}/{n.subcode}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class RoutesReceived(_Described):
    """Prefixes announced with one attribute set and one next hop."""

    afi: int
    safi: int
    keys: tuple[int, ...]
    attrs: PathAttributes
    nexthop: BgpNextHop
    path_ids: tuple[int, ...] | None = None

    def describe(self) -> str:
        return (f"event=RoutesReceived family={afi_safi_name(self.afi, self.safi)} "
                f"count={len(self.keys)} nexthop={self.nexthop}")


@dataclass(frozen=True, slots=True)
class RoutesReceivedRun(_Described):
    """Consecutive UPDATEs of one family from one read, in order, each announcing
    ``keys`` with one attribute set and next hop: ``items`` holds
    ``(keys, attrs, nexthop)`` per UPDATE, the content of one :class:`RoutesReceived`.

    The session's fast path reports a read's well-formed UPDATEs this way: one
    object per read instead of one per UPDATE (a full table sent one prefix per
    UPDATE is a million of them).
    """

    afi: int
    safi: int
    items: list[tuple[tuple[int, ...], PathAttributes, BgpNextHop]]

    def as_events(self) -> list[RoutesReceived]:
        """The same announcements as one :class:`RoutesReceived` per UPDATE."""
        return [RoutesReceived(self.afi, self.safi, keys, attrs, nh) for keys, attrs, nh in self.items]

    def describe(self) -> str:
        count = sum(len(keys) for keys, _a, _n in self.items)
        return (f"event=RoutesReceivedRun family={afi_safi_name(self.afi, self.safi)} "
                f"updates={len(self.items)} count={count}")


@dataclass(frozen=True, slots=True)
class RoutesWithdrawn(_Described):
    """Prefixes withdrawn (explicitly, or by RFC 7606 treat-as-withdraw)."""

    afi: int
    safi: int
    keys: tuple[int, ...]
    path_ids: tuple[int, ...] | None = None

    def describe(self) -> str:
        return (f"event=RoutesWithdrawn family={afi_safi_name(self.afi, self.safi)} "
                f"count={len(self.keys)}")


@dataclass(frozen=True, slots=True)
class EndOfRib(_Described):
    """The peer finished its initial announcement of one family (RFC 4724)."""

    afi: int
    safi: int

    def describe(self) -> str:
        return f"event=EndOfRib family={afi_safi_name(self.afi, self.safi)}"


@dataclass(frozen=True, slots=True)
class RouteRefreshRequested(_Described):
    """The peer asks us to re-send a family (RFC 2918 ROUTE-REFRESH, subtype 0)."""

    afi: int
    safi: int
    subtype: int = 0

    def describe(self) -> str:
        return (f"event=RouteRefreshRequested family={afi_safi_name(self.afi, self.safi)} "
                f"subtype={self.subtype}")


@dataclass(frozen=True, slots=True)
class RefreshBoundary(_Described):
    """RFC 7313 enhanced route refresh: the peer begins (BoRR) or ends (EoRR)
    re-sending a family. On ``begin`` the RIB marks the peer's routes of that
    family stale; on the end it drops those still stale."""

    afi: int
    safi: int
    begin: bool

    def describe(self) -> str:
        marker = "BoRR" if self.begin else "EoRR"
        return f"event=RefreshBoundary family={afi_safi_name(self.afi, self.safi)} marker={marker}"


class ProblemKind(enum.StrEnum):
    """What the session did about a malformed-but-survivable UPDATE."""

    ATTRIBUTE_DISCARD = "attribute-discard"
    TREAT_AS_WITHDRAW = "treat-as-withdraw"
    AFI_SAFI_DISABLE = "afi-safi-disable"
    NEXTHOP_NOT_NEGOTIATED = "ipv6-nexthop-for-ipv4-not-negotiated"
    UNSUPPORTED_FAMILY = "family-not-negotiated"


@dataclass(frozen=True, slots=True)
class UpdateProblem(_Described):
    """An UPDATE problem the session survived (RFC 7606), for logs and counters.

    ``verdict`` is the codec's classification when it came from the codec.
    ``keys`` are the prefixes affected (withdrawn, or dropped), if any.
    """

    kind: ProblemKind
    reason: str
    afi: int | None = None
    safi: int | None = None
    keys: tuple[int, ...] = ()
    verdict: Verdict | None = None

    def describe(self) -> str:
        parts = [f"event=UpdateProblem kind={self.kind.value} reason={self.reason!r}"]
        if self.afi is not None and self.safi is not None:
            parts.append(f"family={afi_safi_name(self.afi, self.safi)}")
        parts.append(f"prefixes={len(self.keys)}")
        return " ".join(parts)


Event = (
    ConnectRequested
    | DisconnectRequested
    | StateChanged
    | SessionUp
    | SessionDown
    | RoutesReceived
    | RoutesReceivedRun
    | RoutesWithdrawn
    | EndOfRib
    | RouteRefreshRequested
    | RefreshBoundary
    | UpdateProblem
)


def expand_runs(events: list[Event]) -> list[Event]:
    """``events`` with each :class:`RoutesReceivedRun` replaced by its RoutesReceived events."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, RoutesReceivedRun):
            out.extend(event.as_events())
        else:
            out.append(event)
    return out
