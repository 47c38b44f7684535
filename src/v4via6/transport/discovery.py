"""Unnumbered-peer discovery: learn a neighbour's link-local address, and advertise ours.

For a BGP peer configured by interface only, the peer's address is learned
from two sources on that interface:

* router advertisements it sends (source address of a valid RA, RFC 4861
  §6.1.2: link-local source, hop limit 255) — an RS is sent at start so a
  neighbour that answers solicitations is found at once;
* the kernel's IPv6 neighbour table (fe80:: entries that are not FAILED,
  INCOMPLETE or NOARP), read over netlink with pyroute2.

:class:`RaSender` sends RAs on the interface (every ``interval`` seconds and
shortly after each RS) with router lifetime 0, so FRR's
``neighbor IFACE interface`` finds us while hosts never use us as their
default router.

Usage::

    async for peer in watch_interface("eth0"):
        print(peer.address, peer.source)      # fe80::2 ra
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from v4via6.transport.endpoints import ifname_to_index
from v4via6.transport.ndsock import interface_mac, open_nd_socket, recv_nd, send_nd
from v4via6.transport.ra import (
    ALL_NODES,
    ALL_ROUTERS,
    ICMPV6_ROUTER_ADVERT,
    ICMPV6_ROUTER_SOLICIT,
    NdDecodeError,
    RouterAdvert,
    decode_router_solicit,
    encode_router_advert,
    encode_router_solicit,
    format_mac,
    validate_router_advert,
)

log = logging.getLogger("v4via6.transport.discovery")

# Neighbour states (linux/neighbour.h).
NUD_INCOMPLETE = 0x01
NUD_REACHABLE = 0x02
NUD_STALE = 0x04
NUD_DELAY = 0x08
NUD_PROBE = 0x10
NUD_FAILED = 0x20
NUD_NOARP = 0x40
NUD_PERMANENT = 0x80
NTF_ROUTER = 0x80
_UNUSABLE = NUD_FAILED | NUD_INCOMPLETE | NUD_NOARP

#: RFC 4861 §10: delay before answering an RS, and the least gap between multicast RAs.
MAX_RA_DELAY_TIME = 0.5
MIN_DELAY_BETWEEN_RAS = 3.0
#: RFC 4861 §10: how many RSs a host sends at start, and how far apart.
MAX_RTR_SOLICITATIONS = 3
RTR_SOLICITATION_INTERVAL = 4.0


@dataclass(frozen=True)
class NeighbourEntry:
    """One row of the kernel's IPv6 neighbour table."""

    address: str
    ifindex: int
    state: int
    flags: int = 0
    lladdr: str | None = None


@dataclass(frozen=True)
class DiscoveredPeer:
    """A link-local neighbour found on an interface, and how it was found."""

    address: str
    ifname: str
    source: str  # "ra" or "neighbour"
    lladdr: str | None = None
    is_router: bool = False


def usable_link_local_neighbours(entries: Iterable[NeighbourEntry], ifindex: int) -> list[NeighbourEntry]:
    """Entries on ``ifindex`` with an fe80::/10 address in a usable state, sorted by address."""
    out: list[NeighbourEntry] = []
    for e in entries:
        if e.ifindex != ifindex or e.state & _UNUSABLE:
            continue
        try:
            ip = ipaddress.IPv6Address(e.address)
        except ValueError:
            continue
        if ip.is_link_local:
            out.append(e)
    return sorted(out, key=lambda e: ipaddress.IPv6Address(e.address))


def _entry_from_msg(msg: Any) -> NeighbourEntry:
    return NeighbourEntry(
        address=str(msg.get("NDA_DST")),
        ifindex=int(msg.get("ifindex") or 0),
        state=int(msg.get("state") or 0),
        flags=int(msg.get("flags") or 0),
        lladdr=msg.get("NDA_LLADDR"),
    )


async def read_neighbours(ipr: Any, ifindex: int) -> list[NeighbourEntry]:
    """IPv6 neighbour table rows on ``ifindex``, read through a pyroute2 AsyncIPRoute."""
    entries: list[NeighbourEntry] = []
    async for msg in await ipr.neigh("dump", family=socket.AF_INET6):
        if msg.get("ifindex") == ifindex and msg.get("NDA_DST"):
            entries.append(_entry_from_msg(msg))
    return entries


async def own_addresses(ipr: Any, ifindex: int) -> set[str]:
    """Our IPv6 addresses on ``ifindex`` (to ignore our own packets)."""
    result: set[str] = set()
    async for msg in await ipr.addr("dump", family=socket.AF_INET6):
        if msg.get("index") == ifindex and msg.get("IFA_ADDRESS"):
            result.add(str(ipaddress.IPv6Address(msg.get("IFA_ADDRESS"))))
    return result


async def link_local_neighbours(ifname: str) -> list[NeighbourEntry]:
    """One-shot: usable link-local neighbours on ``ifname`` from the kernel table."""
    from pyroute2 import AsyncIPRoute

    ifindex = ifname_to_index(ifname)
    async with AsyncIPRoute() as ipr:
        return usable_link_local_neighbours(await read_neighbours(ipr, ifindex), ifindex)


class RaSender:
    """Sends router advertisements (lifetime 0) on one interface, periodically and on RS."""

    def __init__(
        self,
        ifname: str,
        interval: float = 5.0,
        *,
        jitter: float = 0.1,
        min_gap: float = MIN_DELAY_BETWEEN_RAS,
        mtu: int | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"RA interval must be > 0, got {interval}")
        self.ifname = ifname
        self.interval = interval
        self.jitter = jitter
        self.min_gap = min(min_gap, interval)
        self.mtu = mtu
        self._rng = rng or random.Random()
        self._sock: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._last_sent = float("-inf")
        self._last_error: str | None = None
        self.sent = 0
        self.solicitations = 0

    def advert(self) -> bytes:
        """The RA we send: router lifetime 0, our MAC as source link-layer address."""
        return encode_router_advert(
            RouterAdvert(cur_hop_limit=64, router_lifetime=0, source_lladdr=interface_mac(self.ifname), mtu=self.mtu)
        )

    def start(self) -> None:
        """Open the socket and start sending (needs a running loop and CAP_NET_RAW)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._sock = open_nd_socket(self.ifname, {ICMPV6_ROUTER_SOLICIT}, join_groups=(ALL_ROUTERS,))
        self._wake = asyncio.Event()
        loop.add_reader(self._sock.fileno(), self._on_readable)
        self._task = loop.create_task(self._run(), name=f"ra-sender {self.ifname}")
        log.info("event=ra_sender_started ifname=%s interval=%.1f", self.ifname, self.interval)

    async def stop(self) -> None:
        """Stop sending and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _on_readable(self) -> None:
        assert self._sock is not None
        while (pkt := recv_nd(self._sock)) is not None:
            try:
                decode_router_solicit(pkt.data)
            except NdDecodeError as exc:
                log.debug("event=rs_ignored ifname=%s source=%s reason=%r", self.ifname, pkt.source, str(exc))
                continue
            if pkt.hop_limit not in (None, 255):
                continue
            self.solicitations += 1
            if self._wake is not None:
                self._wake.set()

    def _send(self) -> None:
        assert self._sock is not None
        try:
            send_nd(self._sock, self.ifname, self.advert(), ALL_NODES)
        except OSError as exc:
            text = exc.strerror or str(exc)
            if text != self._last_error:  # log a failure once, not every interval
                log.warning("event=ra_send_failed ifname=%s error=%r", self.ifname, text)
                self._last_error = text
            return
        self._last_error = None
        self._last_sent = asyncio.get_running_loop().time()
        self.sent += 1

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            self._send()
            next_at = self._last_sent + self.interval * (1.0 + self._rng.uniform(-self.jitter, self.jitter))
            if self._last_error is not None:  # e.g. link-local still tentative: retry soon
                next_at = loop.time() + min(1.0, self.interval)
            while True:
                timeout = max(0.0, next_at - loop.time())
                self._wake.clear()
                try:
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                except TimeoutError:
                    break
                # Solicited: answer after a random delay, but not closer than min_gap to the last RA.
                answer_at = max(loop.time() + self._rng.uniform(0, MAX_RA_DELAY_TIME), self._last_sent + self.min_gap)
                next_at = min(next_at, answer_at)


class PeerDiscovery:
    """Watches one interface for link-local neighbours (RAs + neighbour table).

    ``on_peer`` is called once per newly seen address, and again if it
    reappears after ``forget_after`` seconds unseen. ``solicit`` sends up to 3
    RSs, ``solicit_interval`` apart, until an RA arrives (an RS that cannot be
    sent yet, e.g. while our link-local address is tentative, is retried
    every second); ``use_neighbour_table`` polls the kernel table every
    ``neighbour_interval`` seconds.
    """

    def __init__(
        self,
        ifname: str,
        on_peer: Callable[[DiscoveredPeer], None],
        *,
        neighbour_interval: float = 2.0,
        solicit: bool = True,
        solicit_interval: float = RTR_SOLICITATION_INTERVAL,
        use_neighbour_table: bool = True,
        forget_after: float = 120.0,
    ) -> None:
        self._solicit_interval = solicit_interval
        self._ra_seen = False
        self.ifname = ifname
        self._use_neighbours = use_neighbour_table
        self._on_peer = on_peer
        self._neighbour_interval = neighbour_interval
        self._solicit = solicit
        self._forget_after = forget_after
        self._ifindex = 0
        self._sock: socket.socket | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._own: set[str] = set()
        self._last_seen: dict[str, float] = {}
        self.peers: dict[str, DiscoveredPeer] = {}

    def start(self) -> None:
        """Open the RA socket, send an RS, start polling the neighbour table."""
        if self._sock is not None:
            return
        loop = asyncio.get_running_loop()
        self._ifindex = ifname_to_index(self.ifname)
        self._sock = open_nd_socket(self.ifname, {ICMPV6_ROUTER_ADVERT})
        loop.add_reader(self._sock.fileno(), self._on_readable)
        if self._solicit:
            self._tasks.append(loop.create_task(self._send_solicitations(), name=f"rs {self.ifname}"))
        if self._use_neighbours:
            self._tasks.append(loop.create_task(self._poll_neighbours(), name=f"discovery {self.ifname}"))
        log.info("event=discovery_started ifname=%s", self.ifname)

    async def stop(self) -> None:
        """Stop watching and close the socket."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _seen(self, peer: DiscoveredPeer) -> None:
        if peer.address in self._own:
            return
        now = asyncio.get_running_loop().time()
        last = self._last_seen.get(peer.address)
        self._last_seen[peer.address] = now
        if last is not None and now - last < self._forget_after:
            return
        self.peers[peer.address] = peer
        log.info(
            "event=peer_discovered ifname=%s address=%s source=%s lladdr=%s",
            self.ifname,
            peer.address,
            peer.source,
            peer.lladdr,
        )
        try:
            self._on_peer(peer)
        except Exception as exc:
            log.exception("event=discovery_callback_failed ifname=%s error=%r", self.ifname, str(exc))

    def _on_readable(self) -> None:
        assert self._sock is not None
        while (pkt := recv_nd(self._sock)) is not None:
            if pkt.ifindex and pkt.ifindex != self._ifindex:
                continue
            try:
                ra = validate_router_advert(pkt.source, pkt.hop_limit, pkt.data)
            except NdDecodeError as exc:
                log.info("event=ra_ignored ifname=%s reason=%r", self.ifname, str(exc))
                continue
            lladdr = format_mac(ra.source_lladdr) if ra.source_lladdr else None
            self._ra_seen = True
            self._seen(DiscoveredPeer(pkt.source, self.ifname, "ra", lladdr, True))

    async def _send_solicitations(self) -> None:
        sent = failures = 0
        while sent < MAX_RTR_SOLICITATIONS and not self._ra_seen and self._sock is not None:
            try:
                send_nd(self._sock, self.ifname, encode_router_solicit(interface_mac(self.ifname)), ALL_ROUTERS)
            except OSError as exc:
                failures += 1
                if failures == 1:
                    log.info("event=rs_send_failed ifname=%s error=%r", self.ifname, exc.strerror or str(exc))
                if failures >= 10:
                    return
                await asyncio.sleep(1.0)
                continue
            sent += 1
            await asyncio.sleep(self._solicit_interval)

    async def _poll_neighbours(self) -> None:
        from pyroute2 import AsyncIPRoute

        async with AsyncIPRoute() as ipr:
            while True:
                try:
                    self._own = await own_addresses(ipr, self._ifindex)
                    entries = await read_neighbours(ipr, self._ifindex)
                except Exception as exc:  # netlink hiccup: log, keep trying
                    log.warning("event=neighbour_read_failed ifname=%s error=%r", self.ifname, str(exc))
                    entries = []
                for e in usable_link_local_neighbours(entries, self._ifindex):
                    is_router = bool(e.flags & NTF_ROUTER)
                    self._seen(DiscoveredPeer(e.address, self.ifname, "neighbour", e.lladdr, is_router))
                await asyncio.sleep(self._neighbour_interval)


async def watch_interface(ifname: str, **options: Any) -> AsyncIterator[DiscoveredPeer]:
    """Yield each link-local neighbour discovered on ``ifname`` (see :class:`PeerDiscovery`)."""
    queue: asyncio.Queue[DiscoveredPeer] = asyncio.Queue()
    discovery = PeerDiscovery(ifname, queue.put_nowait, **options)
    discovery.start()
    try:
        while True:
            yield await queue.get()
    finally:
        await discovery.stop()
