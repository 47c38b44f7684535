"""One configured BGP peer: glue between the transport, the sans-IO Session and the daemon.

A ``PeerRunner`` owns at most two connections at a time (one we opened, one the
peer opened) while they race to Established; RFC 4271 §6.8 collision detection
keeps one. It feeds bytes to its Session, writes what the Session wants to send,
drives the Session's timers from the event loop clock, and hands every event to
the daemon through ``on_events``. For unnumbered peers (configured by interface
only) it discovers the peer's link-local address from router advertisements and
the neighbour table, and sends router advertisements itself so that FRR's
``neighbor IFACE interface`` finds us.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address

from v4via6.bgp import events as ev
from v4via6.bgp.fsm import State
from v4via6.bgp.session import Session, SessionConfig
from v4via6.bgp.wire import Notification
from v4via6.bgp.wire.context import AFI_IPV4, AFI_IPV6, IPV4_UNICAST_VIA_IPV6, SAFI_UNICAST
from v4via6.config.model import BgpPeer
from v4via6.daemon.log import log
from v4via6.transport.collision import Direction, Keep, resolve_collision
from v4via6.transport.tcp import ConnectError, Connection, PeerTarget, TransportLimits, open_connection

EventSink = Callable[["PeerRunner", list[ev.Event]], None]

CEASE = 6
CEASE_ADMIN_SHUTDOWN = 2
CEASE_ADMIN_RESET = 4
CEASE_COLLISION = 7


@dataclass
class _Link:
    """One connection and the Session speaking over it."""

    session: Session
    direction: Direction
    conn: Connection | None = None
    timer: asyncio.TimerHandle | None = None
    closed: bool = False


class _Handler:
    """Transport StreamHandler for one connection of a _Link.

    A link outlives its connections (the main link reconnects), so a callback
    from a connection the link has already dropped — a close that arrives after
    a new attempt started — is ignored rather than taken for the new one's.
    """

    def __init__(self, runner: PeerRunner, link: _Link, conn: Connection | None = None) -> None:
        self.runner = runner
        self.link = link
        self.conn = conn

    def connected(self, conn: Connection) -> None:
        self.conn = conn
        self.link.conn = conn

    def _stale(self) -> bool:
        return self.conn is not None and self.link.conn is not self.conn

    def data_received(self, data: bytes) -> None:
        if not self._stale():
            self.runner._receive(self.link, data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._stale():
            self.runner._lost(self.link, exc)


@dataclass
class PeerStatus:
    """What ``show peers`` reports besides the session and channel counters."""

    established_at: float | None = None
    last_down_reason: str | None = None
    last_error: str | None = None
    discovered: list[str] = field(default_factory=list)


def session_config(
    peer: BgpPeer, local_as: int, router_id: IPv4Address, *, ipv6_session: bool = True
) -> SessionConfig:
    """Translate a ``[[bgp.peer]]`` into what the Session offers and expects."""
    families: list[tuple[int, int]] = []
    if "ipv4" in peer.families:
        families.append((AFI_IPV4, SAFI_UNICAST))
    if "ipv6" in peer.families:
        families.append((AFI_IPV6, SAFI_UNICAST))
    ext_nh = (IPV4_UNICAST_VIA_IPV6,) if peer.extended_nexthop and ipv6_session and "ipv4" in peer.families else ()
    return SessionConfig(
        local_as=local_as,
        router_id=router_id,
        remote_as=peer.remote_as,
        hold_time=peer.hold_time,
        connect_retry_time=peer.connect_retry,
        idle_hold_time=min(peer.connect_retry, 5.0),
        passive=peer.passive,
        families=tuple(families),
        extended_nexthop=ext_nh,
    )


class PeerRunner:
    """Runs one configured peer."""

    def __init__(
        self,
        name: str,
        config: BgpPeer,
        local_as: int,
        router_id: IPv4Address,
        on_events: EventSink,
        *,
        limits: TransportLimits | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.name = name
        self._rng = rng or random.Random()  # the sessions' timer jitter
        self.config = config
        self.local_as = local_as
        self.router_id = router_id
        self.on_events = on_events
        self.limits = limits or TransportLimits()
        self.status = PeerStatus()
        self.session_config = session_config(config, local_as, router_id)
        self.ifname: str | None = config.interface
        self.address: IPv6Address | IPv4Address | None = None
        if config.address:
            nh = config.peer_nexthop
            assert nh is not None and nh.addr is not None
            self.address = nh.addr
            self.ifname = nh.ifname or None
        self._links: list[_Link] = []
        self._active: _Link | None = None  # the link that reached Established
        self._connect_task: asyncio.Task[None] | None = None
        self._discovery: object | None = None
        self._ra: object | None = None
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # one long-lived Session drives the outgoing side (its FSM owns retry timing)
        self._main = _Link(Session(self.session_config, now=time.monotonic(), rng=self._rng), Direction.OUTGOING)

    # --- lifecycle ------------------------------------------------------------------

    @property
    def session(self) -> Session:
        """The session shown to the operator: the Established one, else the outgoing one."""
        return (self._active or self._main).session

    @property
    def established(self) -> bool:
        return self._active is not None and self._active.session.established

    @property
    def local_endpoint(self) -> Connection | None:
        link = self._active
        return link.conn if link is not None else None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        if self.config.interface:
            self._start_unnumbered()
        self._links = [self._main]
        self._dispatch(self._main, self._main.session.start(now=self._now()))

    async def stop(self, notification: Notification | None = None) -> None:
        """Send a Cease NOTIFICATION (admin shutdown by default) and close everything."""
        self._stopping = True
        note = notification or Notification(CEASE, CEASE_ADMIN_SHUTDOWN, b"")
        conns = [link.conn for link in self._links if link.conn is not None]
        for link in list(self._links):
            if link.conn is not None and not link.closed:
                self._dispatch(link, link.session.stop(note, now=self._now()))
        if self._connect_task is not None:
            self._connect_task.cancel()
        for conn in conns:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.drain(), 1.0)
            conn.close()
        for link in list(self._links):
            if link.timer is not None:
                link.timer.cancel()
            link.closed = True
        await self._stop_unnumbered()

    def reset(self, reason: str = "operator reset") -> None:
        """Hard reset: Cease/administrative reset, then reconnect."""
        for link in list(self._links):
            conn = link.conn
            if conn is not None and not link.closed:
                self._dispatch(link, link.session.stop(Notification(CEASE, CEASE_ADMIN_RESET, b""), now=self._now()))
                conn.close()
            self._forget(link)
        log("peer-reset", peer=self.name, reason=reason)
        self._main = _Link(Session(self.session_config, now=self._now(), rng=self._rng), Direction.OUTGOING)
        self._links = [self._main]
        self._active = None
        self._dispatch(self._main, self._main.session.start(now=self._now()))

    # --- unnumbered -------------------------------------------------------------------

    def _start_unnumbered(self) -> None:
        from v4via6.transport.discovery import PeerDiscovery, RaSender

        assert self.config.interface is not None
        ifname = self.config.interface

        def found(peer: object) -> None:
            address = getattr(peer, "address", None)
            if address is None:
                return
            addr = ip_address(str(address).split("%")[0])
            text = str(addr)
            if text not in self.status.discovered:
                self.status.discovered.append(text)
                log("peer-discovered", peer=self.name, address=text, interface=ifname,
                    source=getattr(peer, "source", "?"))
            if self.address is None:
                self.address = addr
                # the session may be waiting in Active/Connect for an address
                if not self.config.passive and self._main.conn is None and self._connect_task is None:
                    self._connect(self._main)

        try:
            ra = RaSender(ifname, interval=5.0)
            ra.start()
            self._ra = ra
        except Exception as exc:  # CAP_NET_RAW missing, interface gone
            self.status.last_error = f"cannot send router advertisements on {ifname}: {exc}"
            log("ra-error", level="warning", peer=self.name, interface=ifname, error=exc)
        try:
            disc = PeerDiscovery(ifname, found)
            disc.start()
            self._discovery = disc
        except Exception as exc:
            self.status.last_error = f"cannot watch {ifname} for neighbours: {exc}"
            log("discovery-error", level="warning", peer=self.name, interface=ifname, error=exc)

    async def _stop_unnumbered(self) -> None:
        for part in (self._discovery, self._ra):
            stop = getattr(part, "stop", None)
            if stop is None:
                continue
            with contextlib.suppress(Exception):
                result = stop()
                if asyncio.iscoroutine(result):
                    await result
        self._discovery = self._ra = None

    # --- connections ------------------------------------------------------------------

    def matches(self, conn: Connection) -> bool:
        """Is an accepted connection from this peer?"""
        try:
            addr = ip_address(conn.peer.address)
        except ValueError:
            return False
        if self.config.interface is not None:
            return bool(addr.is_link_local and conn.ifname == self.config.interface)
        if self.address is None or addr != self.address:
            return False
        if addr.is_link_local:
            return conn.ifname == self.ifname
        return True

    def accept(self, conn: Connection) -> _Handler | None:
        """An incoming connection from this peer: race it against ours (RFC 4271 §6.8)."""
        if self._stopping:
            return None
        if self.established:
            log("connection-refused", peer=self.name, reason="session already established")
            return None
        if self.config.interface is not None and self.address is None:
            self.address = ip_address(conn.peer.address)
        link = _Link(Session(self.session_config, now=self._now(), rng=self._rng), Direction.INCOMING)
        link.conn = conn
        self._links.append(link)
        handler = _Handler(self, link, conn)
        events = link.session.start(now=self._now())
        events += link.session.connection_made(now=self._now())
        self._dispatch(link, events)
        # keep at most one incoming candidate: the peer gave up on the older one
        for other in [x for x in self._links if x.direction is Direction.INCOMING and x is not link]:
            if other is self._main:
                self._main = link  # the new one carries on the peer's restarts
            self._close_link(other, Notification(CEASE, CEASE_COLLISION, b""))
        return handler

    def _connect(self, link: _Link) -> None:
        if self._stopping or self.config.passive:
            return
        if self.address is None:
            # unnumbered peer not discovered yet: tell the FSM the attempt failed;
            # discovery calls _connect again when it finds the peer.
            self.status.last_error = f"waiting for the peer's link-local address on {self.ifname}"
            self._dispatch(link, link.session.connection_lost(now=self._now()))
            return
        if self._connect_task is not None and not self._connect_task.done():
            return
        # the main link may have served an incoming connection before: this one is ours
        link.direction = Direction.OUTGOING
        target = PeerTarget(
            f"{self.address}%{self.ifname}" if self.address.is_link_local else str(self.address),
            port=self.config.port,
            ifname=self.ifname if self.address.is_link_local else None,
            connect_timeout=10.0,
        )

        async def attempt() -> None:
            handler = _Handler(self, link)
            try:
                conn = await open_connection(target, handler, limits=self.limits)
            except ConnectError as exc:
                self.status.last_error = str(exc)
                log("connect-failed", peer=self.name, error=exc)
                self._dispatch(link, link.session.connection_lost(now=self._now()))
                return
            if link.closed:  # the link was given up (reset, or another connection won) meanwhile
                conn.close()
                return
            link.conn = conn
            self.status.last_error = None
            log("connected", peer=self.name, local=conn.local.address, remote=conn.peer.address,
                interface=conn.ifname)
            self._dispatch(link, link.session.connection_made(now=self._now()))

        assert self._loop is not None
        self._connect_task = self._loop.create_task(attempt())
        self._connect_task.add_done_callback(lambda _t: setattr(self, "_connect_task", None))

    def _receive(self, link: _Link, data: bytes) -> None:
        if link.closed:
            return
        self._dispatch(link, link.session.receive_data(data, now=self._now()))

    def _lost(self, link: _Link, exc: Exception | None) -> None:
        if link.closed:
            return
        link.conn = None
        if exc is not None:
            self.status.last_error = str(exc)
        self._dispatch(link, link.session.connection_lost(now=self._now()))
        if link.direction is Direction.INCOMING and link is not self._main:
            self._forget(link)  # the main link stays: its FSM restarts the peer

    def _close_link(self, link: _Link, note: Notification) -> None:
        conn = link.conn
        if conn is not None and not link.closed:
            self._dispatch(link, link.session.stop(note, now=self._now()))
            conn.close()
        self._forget(link)

    def _forget(self, link: _Link) -> None:
        link.closed = True
        if link.timer is not None:
            link.timer.cancel()
            link.timer = None
        if link in self._links and link is not self._main:
            self._links.remove(link)

    # --- the pump ---------------------------------------------------------------------

    def _now(self) -> float:
        return time.monotonic()

    def _dispatch(self, link: _Link, events: list[ev.Event]) -> None:
        """Write what the session wants sent, act on its events, re-arm its timer."""
        out: list[ev.Event] = []
        for event in events:
            if isinstance(event, ev.ConnectRequested):
                if link is self._main:
                    self._connect(link)
                continue
            if isinstance(event, ev.DisconnectRequested):
                self._flush(link)
                if link.conn is not None:
                    link.conn.close()
                    link.conn = None
                continue
            if isinstance(event, ev.StateChanged):
                self._on_state(link, event)
                continue
            if link is not self._active and not isinstance(event, ev.SessionUp):
                # events of a connection that lost the collision race, or of a
                # candidate still in OpenSent/OpenConfirm, are not routing events
                if isinstance(event, ev.SessionDown):
                    self.status.last_down_reason = event.reason
                    self.status.last_error = None
                continue
            if isinstance(event, ev.SessionDown):
                self._active = None
                self.status.established_at = None
                self.status.last_down_reason = event.reason
                self.status.last_error = None
            out.append(event)
        self._flush(link)
        if link.conn is None and link.direction is Direction.INCOMING and link is not self._main:
            self._forget(link)  # a candidate the peer opened is done once its connection is
        self._arm(link)
        if out:
            self.on_events(self, out)

    def _on_state(self, link: _Link, event: ev.StateChanged) -> None:
        if event.new is State.OPEN_CONFIRM:
            self._collide(link)
        if event.new is State.ESTABLISHED:
            self._active = link
            self.status.last_error = None
            self.status.established_at = time.time()
            # this link now carries the peer's restarts; the loser of the race, if any, goes
            self._main = link
            for other in [x for x in self._links if x is not link]:
                if other.conn is not None and not other.closed:
                    self._close_link(other, Notification(CEASE, CEASE_COLLISION, b""))
                else:  # an idle or still connecting FSM: quiet, then gone
                    other.session.stop(None, now=self._now())
                    other.session.data_to_send()
                    self._forget(other)

    def _collide(self, link: _Link) -> None:
        """Both connections got an OPEN: keep one by router id (RFC 4271 §6.8)."""
        others = [x for x in self._links if x is not link and x.conn is not None and not x.closed]
        if not others:
            return
        other = others[0]
        peer_open = link.session.peer_open
        if peer_open is None:
            return
        if other.session.established:
            keep = Keep.EXISTING  # RFC 4271 §6.8: an Established session is never the loser
        else:
            keep = resolve_collision(
                int(self.router_id), int(peer_open.bgp_id),
                existing_is_outgoing=other.direction is Direction.OUTGOING,
            )
        loser, winner = (link, other) if keep is Keep.EXISTING else (other, link)
        log("collision", peer=self.name, kept=("existing" if keep is Keep.EXISTING else "new"),
            kept_direction=winner.direction.value)
        if loser is self._main:
            self._main = winner
        self._close_link(loser, Notification(CEASE, CEASE_COLLISION, b""))

    def _flush(self, link: _Link) -> None:
        data = link.session.data_to_send()
        if data and link.conn is not None and not link.conn.is_closing:
            try:
                link.conn.write(data)
            except Exception as exc:  # output cap reached: the transport drops the peer
                self.status.last_error = str(exc)
                log("write-failed", level="warning", peer=self.name, error=exc)

    def flush_all(self) -> None:
        """Write anything queued on the Established session (after announce/withdraw)."""
        if self._active is not None:
            self._flush(self._active)
            self._arm(self._active)

    def _arm(self, link: _Link) -> None:
        """Schedule ``_fire`` for the session's next deadline.

        A timer already due at or before that deadline is kept, not re-made:
        re-making it on every received chunk would starve it while a full table
        streams in (the I/O callback runs first in each loop pass and would cancel
        a due timer each time), so no KEEPALIVE would go out and the peer's hold
        timer would expire. An early wake-up is harmless (``_fire`` re-arms).
        """
        deadline = None if link.closed or self._loop is None else link.session.next_deadline()
        if deadline is None or self._loop is None:
            if link.timer is not None:
                link.timer.cancel()
                link.timer = None
            return
        delay = max(0.0, deadline - self._now())
        when = self._loop.time() + delay
        if link.timer is not None:
            if link.timer.when() <= when + 0.001:
                return
            link.timer.cancel()
        link.timer = self._loop.call_later(delay, self._fire, link)

    def _fire(self, link: _Link) -> None:
        link.timer = None
        if link.closed:
            return
        self._dispatch(link, link.session.handle_timer(self._now()))
