"""The daemon: config -> peers, RIB, FIB and control socket, wired as in DESIGN.md.

``Daemon.run()`` reconciles the kernel (static routes in, crash leftovers out),
starts the control socket, the BGP listener and one ``PeerRunner`` per
configured peer, then moves routes: session events -> channels (import policy)
-> Loc-RIB (best path, only for changed prefixes) -> FIB channel (bulk netlink)
and peer channels (export policy, UPDATEs packed by attribute set). IPv6
unicast best paths go to the kernel too, through a second FIB channel on
``rib6`` (own IPv6 routes a crash left are removed at start).
SIGTERM stops cleanly (Cease to every peer, own routes removed), SIGHUP reloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

from v4via6.bgp import events as ev
from v4via6.bgp.wire import BgpNextHop, PathAttributes
from v4via6.bgp.wire.context import AFI_IPV4, AFI_IPV6, SAFI_UNICAST, afi_safi_name
from v4via6.config.load import ConfigError, load_config
from v4via6.config.model import BgpConfig, BgpPeer, Config
from v4via6.daemon.control import ControlError, ControlServer
from v4via6.daemon.export import nexthop_self, outgoing_attributes
from v4via6.daemon.log import log, log_once
from v4via6.daemon.notify import sd_notify
from v4via6.daemon.peer import PeerRunner
from v4via6.daemon.tuning import tune_gc, tune_malloc
from v4via6.fib.backend import FibBackend, FibOp, OpKind
from v4via6.fib.reconcile import plan
from v4via6.model import NextHop
from v4via6.rib.channel import Channel, FibBatch, FibChannel
from v4via6.rib.keys import format_key, prefix_key
from v4via6.rib.loc_rib import LocRib
from v4via6.rib.nexthop import NextHopResolver
from v4via6.rib.path import PathRef, PeerInfo, PeerKind
from v4via6.rib.plain_attrs import PlainAttrs
from v4via6.rib.policy import Policy, effective_policy, parse_policy, rfc8212_notices

FIB_CHUNK = 20_000


class DaemonError(Exception):
    """A problem that stops the daemon from starting (one line)."""


@dataclass
class HostAddresses:
    """This box's addresses, refreshed when sessions come up."""

    ipv4: list[tuple[str, IPv4Address, int]] = field(default_factory=list)  # (ifname, addr, plen)
    ipv6: list[tuple[str, IPv6Address, int]] = field(default_factory=list)
    #: kernel IPv6 unicast routes of the main table: (prefix, interface, via a gateway, metric)
    routes6: list[tuple[IPv6Network, str | None, bool, int]] = field(default_factory=list)

    @classmethod
    def read(cls) -> HostAddresses:
        from v4via6.host.read import read_snapshot

        snap = read_snapshot()
        out = cls()
        for a in snap.addresses:
            if isinstance(a.address, IPv4Address):
                out.ipv4.append((a.ifname, a.address, a.prefixlen))
            else:
                out.ipv6.append((a.ifname, a.address, a.prefixlen))
        out.routes6 = read_ipv6_routes({link.index: link.name for link in snap.links})
        return out

    def resolve_ipv6(self, addr: IPv6Address) -> tuple[str | None, int] | None:
        """Longest match in the kernel's IPv6 main table: (interface, metric) when on-link."""
        best: tuple[int, str | None, bool, int] | None = None
        for net, ifname, via_gateway, metric in self.routes6:
            if addr in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, ifname, via_gateway, metric)
        if best is None or best[2] or best[1] is None:
            return None  # no route, or only via another router: not usable as a gateway
        return (best[1], best[3])

    def link_local(self, ifname: str) -> IPv6Address | None:
        for name, addr, _ in self.ipv6:
            if name == ifname and addr.is_link_local:
                return addr
        return None

    def globals_on(self, ifname: str | None) -> list[IPv6Address]:
        return [a for n, a, _ in self.ipv6 if (ifname is None or n == ifname) and not a.is_link_local]

    def router_id(self) -> IPv4Address | None:
        usable = [a for _, a, _ in self.ipv4 if not a.is_loopback and not a.is_link_local]
        return max(usable) if usable else None

    def loopback_src(self) -> IPv4Address | None:
        found = [a for n, a, p in self.ipv4 if n == "lo" and not a.is_loopback and p == 32]
        return max(found) if found else None

    def connected6(self) -> list[IPv6Network]:
        """Global IPv6 prefixes of our interfaces and loopbacks (no link-local, no ::1)."""
        nets = {
            IPv6Network(f"{a}/{p}", strict=False)
            for _, a, p in self.ipv6
            if not a.is_loopback and not a.is_link_local and not a.is_multicast
        }
        return sorted(nets)

    def connected(self) -> list[IPv4Network]:
        nets = {
            IPv4Network(f"{a}/{p}", strict=False)
            for _, a, p in self.ipv4
            if not a.is_loopback and not a.is_link_local
        }
        return sorted(nets)


def read_ipv6_routes(names: dict[int, str]) -> list[tuple[IPv6Network, str | None, bool, int]]:
    """The kernel's IPv6 unicast routes in the main table (pyroute2; call outside the event loop)."""
    import socket as _socket

    from v4via6.host.read import open_netlink

    out: list[tuple[IPv6Network, str | None, bool, int]] = []
    with open_netlink() as ipr:
        for msg in ipr.route("dump", family=_socket.AF_INET6):
            if msg["type"] != 1 or (msg.get_attr("RTA_TABLE") or msg["table"]) != 254:
                continue
            dst = msg.get_attr("RTA_DST") or "::"
            try:
                net = IPv6Network(f"{dst}/{msg['dst_len']}", strict=False)
            except ValueError:
                continue
            oif = msg.get_attr("RTA_OIF")
            out.append((net, names.get(int(oif)) if oif else None,
                        msg.get_attr("RTA_GATEWAY") is not None or msg.get_attr("RTA_MULTIPATH") is not None,
                        int(msg.get_attr("RTA_PRIORITY") or 0)))
    return out


class PeerState:
    """A runner plus its channels (one per address family) and export bookkeeping."""

    def __init__(self, runner: PeerRunner, info: PeerInfo, ch4: Channel, ch6: Channel) -> None:
        self.runner = runner
        self.info = info
        self.channels = {AFI_IPV4: ch4, AFI_IPV6: ch6}
        self.out_attrs: dict[object, PathAttributes] = {}
        self.nexthop: BgpNextHop | None = None
        self.eor_received: set[str] = set()
        self.problems = 0


class Daemon:
    """One routing daemon instance (one network namespace)."""

    def __init__(
        self,
        config_path: str | Path,
        *,
        socket_path: str | None = None,
        fib: FibBackend | None = None,
        host: Callable[[], HostAddresses] = HostAddresses.read,
    ) -> None:
        self.config_path = Path(config_path)
        self.config: Config = load_config(self.config_path)
        self.socket_path = socket_path or self.config.control.socket
        self._fib = fib
        self._read_host = host
        self.host = HostAddresses()
        self.started = time.time()
        self.rib4 = LocRib(NextHopResolver(self._resolve_global), family=4)
        self.rib6 = LocRib(NextHopResolver(self._resolve_global), family=6)
        self.fib_channel: FibChannel | None = None
        self.fib_channel6: FibChannel | None = None
        self.local4: Channel | None = None
        self.local6: Channel | None = None
        self.peers: dict[str, PeerState] = {}
        self.static_keys: set[int] = set()
        #: IPv4 prefixes whose last kernel write failed (an IPv4 route is "installed" when
        #: the FIB channel wants it, no static overrides it and it is not in here; a
        #: per-prefix set of a full table would cost ~32 MB).
        self.fib_failed: set[int] = set()
        self.installed6: set[int] = set()
        self.fib_errors = 0
        self._rfc8212_seen: set[tuple[str, str]] = set()
        self._stop = asyncio.Event()
        self._fib_wake = asyncio.Event()
        self._export_scheduled = False
        self._listener: Any = None
        self._control: ControlServer | None = None
        self._fib_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._dead_nexthops: set[NextHop] = set()
        self._stopping = False

    # --- properties -----------------------------------------------------------------

    @property
    def bgp(self) -> BgpConfig | None:
        return self.config.bgp

    @property
    def fib(self) -> FibBackend:
        if self._fib is None:
            from v4via6.fib.netlink import NetlinkFib

            self._fib = NetlinkFib()
        return self._fib

    # --- start and stop ---------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig, handler in ((signal.SIGTERM, self.request_stop), (signal.SIGINT, self.request_stop),
                             (signal.SIGHUP, self._sighup)):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, handler)
        try:
            await self.start()
        except DaemonError as exc:
            log("start-failed", level="error", error=exc)
            await self.shutdown(remove_routes=False)
            return 2
        sd_notify("READY=1\nSTATUS=running")
        await self._stop.wait()
        sd_notify("STOPPING=1")
        await self.shutdown()
        return 0

    def request_stop(self) -> None:
        log("stop-requested")
        self._stop.set()

    def _sighup(self) -> None:
        asyncio.get_running_loop().create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        sd_notify("RELOADING=1")
        try:
            summary = await self.reload()
            log("reloaded", **{k: ",".join(v) if isinstance(v, list) else v for k, v in summary.items()})
        except ConfigError as exc:
            for line in exc.lines:
                log("reload-failed", level="error", error=line)
        sd_notify("READY=1")

    async def _refresh_host(self) -> None:
        """Our addresses, read in a thread (pyroute2's sync API cannot run inside the loop)."""
        try:
            self.host = await asyncio.to_thread(self._read_host)
        except Exception as exc:
            log("host-read-failed", level="warning", error=exc)

    async def _host_refresher(self) -> None:
        while True:
            await asyncio.sleep(30)
            await self._refresh_host()
            self._recheck_nexthops()

    def _recheck_nexthops(self) -> None:
        """Global next hops resolve through the host's IPv6 routes: once those are read
        again, prefixes whose next hop now leads elsewhere (or now leads somewhere, or
        nowhere) get their best paths and kernel routes recomputed."""
        changed = len(self.rib4.recheck_nexthops()) + len(self.rib6.recheck_nexthops())
        if changed:
            log("nexthops-changed", prefixes=changed)
            self._changed()

    async def start(self) -> None:
        await self._refresh_host()
        bgp = self.bgp
        router_id = self._router_id()
        log("starting", config=str(self.config_path), socket=self.socket_path,
            asn=bgp.asn if bgp else None, router_id=router_id)
        # control socket first, so an operator can look while we converge
        self._control = ControlServer(self.socket_path, self.handle_request)
        try:
            await self._control.start()
        except OSError as exc:
            raise DaemonError(f"cannot create control socket {self.socket_path}: {exc}") from None
        await self._reconcile_static()
        await self._clear_ipv6_leftovers()
        self.fib_channel = FibChannel(self.rib4, src=self.host.loopback_src())
        self.fib_channel6 = FibChannel(self.rib6, ipv6=True)
        self.local4 = Channel(self.rib4, PeerInfo.local("local", int(router_id or 0)))
        self.local6 = Channel(self.rib6, PeerInfo.local("local6", int(router_id or 0)))
        self._tasks.append(asyncio.get_running_loop().create_task(self._fib_writer()))
        self._tasks.append(asyncio.get_running_loop().create_task(self._host_refresher()))
        if bgp is not None:
            assert router_id is not None
            self._originate()
            for index, peer in enumerate(bgp.peer):
                self._add_peer(index, peer, router_id)
            if bgp.listen:
                await self._start_listener(bgp.listen_port)
            for state in self.peers.values():
                state.runner.start()
        log("started", peers=len(self.peers), static_routes=len(self.static_keys))

    def _router_id(self) -> IPv4Address | None:
        bgp = self.bgp
        if bgp is None:
            return None
        if bgp.router_id is not None:
            return bgp.router_id
        found = self.host.router_id()
        if found is None:
            raise DaemonError(
                f"{self.config_path}: bgp.router_id: this box has no IPv4 address to take a router id "
                'from; set router_id = "203.0.113.10" (any unique IPv4 address)'
            )
        return found

    async def shutdown(self, *, remove_routes: bool = True) -> None:
        self._stopping = True  # no mass next-hop withdraw now: the flush below removes everything
        for state in self.peers.values():
            with contextlib.suppress(Exception):
                await state.runner.stop()
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        # Take the FIB lock before cancelling the writer: a FIB call it runs in a thread
        # cannot be cancelled, and must finish before flush uses the same netlink socket.
        async with self._fib_lock:
            for task in self._tasks:
                task.cancel()
            if remove_routes and self._fib is not None:
                result = await asyncio.to_thread(self.fib.flush)
                log("routes-removed", ok=result.ok, failed=result.failed)
        if self._control is not None:
            await self._control.stop()
        if self._fib is not None:
            self._fib.close()
        log("stopped")

    async def _start_listener(self, port: int) -> None:
        from v4via6.transport.tcp import Listener, TransportError

        def on_accept(conn: Any) -> Any:
            for state in self.peers.values():
                if state.runner.matches(conn):
                    return state.runner.accept(conn)
            log("connection-refused", remote=conn.peer.address, interface=conn.ifname, reason="not a configured peer")
            return None

        self._listener = Listener(on_accept, port=port)
        try:
            await self._listener.start()
        except TransportError as exc:
            raise DaemonError(str(exc)) from None

    # --- static routes and origination ------------------------------------------------

    async def _reconcile_static(self) -> None:
        desired = self.config.static_routes()
        missing = set(self.fib.check_interfaces(desired))
        if missing:
            log("static-skipped", level="warning", interfaces=",".join(sorted(missing)),
                reason="unknown interface")
            desired = [r for r in desired if not any(nh.ifname in missing for nh in r.nexthops)]
        the_plan = plan(desired, self.fib.list_routes(own_only=False))
        for clash in the_plan.clashes:
            log("static-clash", level="warning", prefix=clash.wanted.prefix, holder=clash.holder.protocol_name)
        if not the_plan.empty:
            result = await asyncio.to_thread(self.fib.apply, the_plan.ops)
            for failure in result.errors:
                log("fib-error", level="warning", op=failure.op.kind.value, prefix=failure.op.route.prefix,
                    errno=failure.errno, error=failure.message)
        log("static-reconciled", add=len(the_plan.adds), replace=len(the_plan.replaces),
            delete=len(the_plan.deletes), unchanged=the_plan.unchanged)
        self.static_keys = {prefix_key(r.prefix) for r in desired}

    def _originate(self) -> None:
        bgp = self.bgp
        assert bgp is not None and self.local4 is not None and self.local6 is not None
        nets4: set[IPv4Network] = set()
        nets6: set[IPv6Network] = set()
        for text in bgp.networks:
            net = ip_network(text)
            (nets4 if isinstance(net, IPv4Network) else nets6).add(net)  # type: ignore[arg-type]
        if "connected" in bgp.redistribute:
            nets4.update(self.host.connected())
            nets6.update(self.host.connected6())
        if "static" in bgp.redistribute:
            nets4.update(r.prefix for r in self.config.static_routes() if isinstance(r.prefix, IPv4Network))
        attrs = PlainAttrs(origin=0)
        self.local4.withdraw_all()
        self.local6.withdraw_all()
        if nets4:
            self.local4.announce([prefix_key(n) for n in sorted(nets4)], attrs, None)
        if nets6:
            self.local6.announce([prefix_key(n) for n in sorted(nets6)], attrs, None)
        log("originated", ipv4=len(nets4), ipv6=len(nets6))
        self._changed()

    def _resolve_global(self, addr: IPv6Address | IPv4Address) -> tuple[str | None, int] | None:
        """A global next hop: on-link if one of our prefixes holds it, else unresolved.

        (The kernel accepts an IPv6 gateway for an IPv4 route only when it is on-link;
        a next hop behind another router is kept in the RIB and shown unresolved.)
        """
        for ifname, mine, plen in self.host.ipv6:
            if not mine.is_link_local and addr in IPv6Network(f"{mine}/{plen}", strict=False):
                return (ifname, 0)
        if isinstance(addr, IPv6Address):
            return self.host.resolve_ipv6(addr)
        return None

    # --- peers ------------------------------------------------------------------------

    def _peer_kind(self, peer: BgpPeer) -> PeerKind:
        assert self.bgp is not None
        if peer.remote_as == "internal" or peer.remote_as == self.bgp.asn:
            return PeerKind.IBGP
        return PeerKind.EBGP

    def _policies(self, name: str, peer: BgpPeer, kind: PeerKind) -> tuple[Policy, Policy]:
        configured_in = parse_policy(peer.import_, "import") if peer.import_ is not None else None
        configured_out = parse_policy(peer.export, "export") if peer.export is not None else None
        is_ebgp = kind is PeerKind.EBGP
        for line in rfc8212_notices(name, is_ebgp, configured_in, configured_out, self._rfc8212_seen):
            logging.getLogger("v4via6").warning(line)
        return effective_policy(configured_in, is_ebgp), effective_policy(configured_out, is_ebgp)

    def _add_peer(self, index: int, peer: BgpPeer, router_id: IPv4Address) -> None:
        assert self.bgp is not None
        name = peer.name or peer.interface or (peer.address or f"peer{index}")
        if name in self.peers:
            name = f"{name}#{index}"
        kind = self._peer_kind(peer)
        runner = PeerRunner(name, peer, self.bgp.asn, router_id, self._on_events)
        nh = peer.peer_nexthop
        info = PeerInfo(
            name,
            kind,
            address=nh.addr if nh is not None else None,
            asn=peer.remote_as if isinstance(peer.remote_as, int) else 0,
            ifname=runner.ifname,
            multipath=peer.multipath,
        )
        imp, exp = self._policies(name, peer, kind)
        # AS-loop detection (RFC 4271 §9.1.2): a path carrying our AS is a withdrawal
        ch4 = Channel(self.rib4, info, import_policy=imp, export_policy=exp, reject_asn=self.bgp.asn)
        ch6 = Channel(self.rib6, info, import_policy=imp, export_policy=exp, reject_asn=self.bgp.asn)
        self.peers[name] = PeerState(runner, info, ch4, ch6)

    def _on_events(self, runner: PeerRunner, events: list[ev.Event]) -> None:
        state = self.peers.get(runner.name)
        if state is None:
            return
        run: list[ev.RoutesReceived | ev.RoutesReceivedRun] = []
        for event in events:
            if isinstance(event, ev.RoutesReceivedRun | ev.RoutesReceived):
                if run and (event.afi != run[0].afi or event.safi != run[0].safi):
                    self._guarded(state, self._announce_run, run)
                    run = []
                run.append(event)
                continue
            if run:
                self._guarded(state, self._announce_run, run)
                run = []
            self._guarded(state, self._handle_event, event)
        if run:
            self._guarded(state, self._announce_run, run)
        self._changed()

    def _guarded(self, state: PeerState, handler: Callable[[PeerState, Any], None], arg: Any) -> None:
        try:
            handler(state, arg)
        except Exception as exc:  # never let one peer's event take the daemon down
            kind = type(arg[0] if isinstance(arg, list) else arg).__name__
            log("internal-error", level="error", peer=state.runner.name, kind=kind, error=repr(exc))

    def _announce_run(self, state: PeerState, run: list[ev.RoutesReceived | ev.RoutesReceivedRun]) -> None:
        """Consecutive announcements of one family (one read's UPDATEs) into the RIB in one
        call, in order (the channel treats a path carrying our own AS as a withdrawal)."""
        target = state.channels.get(run[0].afi)
        if target is None or run[0].safi != SAFI_UNICAST:
            return
        if len(run) == 1 and isinstance(run[0], ev.RoutesReceivedRun):
            target.announce_many(run[0].items)
            return
        items: list[tuple[Sequence[int], PathAttributes, BgpNextHop]] = []
        for event in run:
            if isinstance(event, ev.RoutesReceivedRun):
                items.extend(event.items)
            else:
                items.append((event.keys, event.attrs, event.nexthop))
        if len(items) == 1:
            target.announce(*items[0])
        else:
            target.announce_many(items)

    def _handle_event(self, state: PeerState, event: ev.Event) -> None:
        name = state.runner.name
        if isinstance(event, ev.SessionUp):
            self._session_up(state, event)
        elif isinstance(event, ev.SessionDown):
            log("session-down", peer=name, reason=event.reason,
                sent=_note(event.notification_sent), received=_note(event.notification_received))
            dead = self._exclusive_nexthops(state)
            for ch in state.channels.values():
                ch.stop_export()
            state.out_attrs.clear()
            state.eor_received.clear()
            if dead:
                # The FIB writer wakes first and deletes these next hops' kernel objects
                # (every route through them leaves at once, in a thread); the RIB drops
                # the peer's routes right after, while the kernel works.
                self._dead_nexthops.update(dead)
                self._fib_wake.set()
                asyncio.get_running_loop().call_soon(self._withdraw_peer, state)
            else:
                self._withdraw_peer(state)
        elif isinstance(event, ev.RoutesReceived):
            self._announce_run(state, [event])
        elif isinstance(event, ev.RoutesWithdrawn):
            gone = state.channels.get(event.afi)
            if gone is not None:
                gone.withdraw(event.keys)
        elif isinstance(event, ev.EndOfRib):
            family = afi_safi_name(event.afi, event.safi)
            state.eor_received.add(family)
            log("end-of-rib", peer=name, family=family)
        elif isinstance(event, ev.RouteRefreshRequested):
            again = state.channels.get(event.afi)
            if again is not None and state.runner.established:
                again.start_export()
        elif isinstance(event, ev.UpdateProblem):
            state.problems += 1
            log("update-problem", level="warning", peer=name, kind=str(event.kind), reason=event.reason,
                prefixes=len(event.keys))

    def _withdraw_peer(self, state: PeerState) -> None:
        """A session went down: drop its routes from the RIB (deltas to the FIB and other peers)."""
        if self.peers.get(state.runner.name) is not state:
            return  # removed by a reload meanwhile: closing its channels withdrew the routes
        for ch in state.channels.values():
            ch.withdraw_all()
        self._changed()

    def _exclusive_nexthops(self, state: PeerState) -> set[NextHop]:
        """Link-local next hops only this session's IPv4 routes use (safe to drop at once).

        When the session goes down, the FIB writer deletes their kernel nexthop
        objects, which takes every route through them out of the kernel in one
        request; the per-prefix deletes that follow from the RIB are then skipped.
        A next hop that a static route or another peer (same address and
        interface, or a path of another peer through it) may use is left to the
        per-prefix path. The next hops come from the Loc-RIB's resolution cache
        (no route is looked at) unless it forgot some.
        """
        if self._stopping:
            return set()
        found: set[NextHop] = set()
        resolutions = self.rib4.peer_resolutions(state.info)
        if resolutions is None:  # the RIB forgot some: look at every route (a million at most)
            resolver = self.rib4.resolver
            seen: set[object] = set()
            resolutions = []
            for path in state.channels[AFI_IPV4].accepted.values():
                if path.nexthop not in seen:
                    seen.add(path.nexthop)
                    resolutions.append(resolver.resolve(path))
        for res in resolutions:
            nh = res.nexthop if res is not None else None
            if nh is not None and nh.addr is not None and nh.addr.is_link_local and nh.ifname:
                found.add(nh)
        if not found:
            return found
        for other in self.peers.values():
            if other is state:
                continue
            if other.info.address is not None:
                found.discard(NextHop(other.info.address, other.info.ifname))
            theirs = self.rib4.peer_resolutions(other.info)
            if theirs is None:
                return set()  # cannot tell cheaply: leave it all to the per-prefix path
            found.difference_update(r.nexthop for r in theirs if r is not None and r.nexthop is not None)
        for route in self.config.static_routes():
            found.difference_update(route.nexthops)
        return found

    def _session_up(self, state: PeerState, event: ev.SessionUp) -> None:
        neg = event.negotiated
        runner = state.runner
        conn = runner.local_endpoint
        ifname = (conn.ifname if conn is not None else None) or runner.ifname
        local_addr = ip_address(conn.local.address) if conn is not None else None
        peer_addr = ip_address(conn.peer.address) if conn is not None else None
        shared = bool(ifname) and (
            (peer_addr is not None and peer_addr.is_link_local)
            or any(
                peer_addr in IPv6Network(f"{a}/{p}", strict=False)
                for n, a, p in self.host.ipv6
                if n == ifname and not a.is_link_local and isinstance(peer_addr, IPv6Address)
            )
        )
        if not ifname and isinstance(local_addr, IPv6Address):
            for n, a, _ in self.host.ipv6:
                if a == local_addr:
                    ifname = n
        state.nexthop = nexthop_self(
            local_address=local_addr if isinstance(local_addr, IPv6Address) else None,
            link_local=self.host.link_local(ifname) if ifname else None,
            globals_on_link=self.host.globals_on(ifname),
            shared_link=shared,
        )
        # the session's interface is what link-local next hops from this peer use, and
        # the peer's router id and AS take part in best-path tie-breaks
        self._rebind(state, ifname or state.info.ifname, int(neg.peer_router_id), neg.peer_as,
                     peer_addr if peer_addr is not None else state.info.address)
        ext = ",".join(f"{a}/{s}/{n}" for a, s, n in sorted(neg.extended_nexthop)) or "none"
        log("session-up", peer=runner.name, remote_as=neg.peer_as, router_id=neg.peer_router_id,
            hold=neg.hold_time, extended_nexthop=ext, nexthop=state.nexthop, interface=ifname)
        families = neg.families
        for afi, ch in state.channels.items():
            if (afi, SAFI_UNICAST) in families:
                ch.start_export()
        self._send_exports(state, end_of_rib=True)

    def _rebind(self, state: PeerState, ifname: str | None, router_id: int, asn: int,
                address: IPv4Address | IPv6Address | None) -> None:
        old = state.info
        info = PeerInfo(old.name, old.kind, address=address, router_id=router_id, asn=asn,
                        ifname=ifname, multipath=old.multipath, preference=old.preference)
        if info == old:
            return
        for afi, ch in list(state.channels.items()):
            rib = ch.rib
            ch.close()
            state.channels[afi] = Channel(rib, info, import_policy=ch.import_policy,
                                          export_policy=ch.export_policy, reject_asn=ch.reject_asn)
        state.info = info

    # --- moving routes ----------------------------------------------------------------

    def _changed(self) -> None:
        self._fib_wake.set()
        if not self._export_scheduled:
            self._export_scheduled = True
            asyncio.get_running_loop().call_soon(self._export_all)

    def _export_all(self) -> None:
        self._export_scheduled = False
        for state in self.peers.values():
            if state.runner.established:
                self._send_exports(state)

    def _send_exports(self, state: PeerState, *, end_of_rib: bool = False) -> None:
        runner = state.runner
        if not runner.established:
            return
        session = runner.session
        neg = session.negotiated
        if neg is None:
            return
        assert self.bgp is not None
        ebgp = state.info.kind is PeerKind.EBGP
        for afi, ch in state.channels.items():
            if (afi, SAFI_UNICAST) not in neg.families:
                continue
            batch = ch.take_export()
            if batch.withdraw:
                session.withdraw(afi, SAFI_UNICAST, batch.withdraw)
            nexthop = state.nexthop
            if afi == AFI_IPV4 and nexthop is not None and nexthop.is_ipv6 and \
                    (AFI_IPV4, SAFI_UNICAST, AFI_IPV6) not in neg.extended_nexthop:
                log_once(f"no-ext-nh-{runner.name}", "export-skipped", level="warning", peer=runner.name,
                         reason="peer did not negotiate extended next hop (RFC 8950); IPv4 routes not sent")
                nexthop = None
            if nexthop is not None:
                for path, keys in batch.announce.items():
                    attrs = self._out_attrs(state, path, ebgp)
                    session.announce(afi, SAFI_UNICAST, attrs, nexthop, keys)
            if end_of_rib:
                session.send_end_of_rib(afi, SAFI_UNICAST)
        runner.flush_all()

    def _out_attrs(self, state: PeerState, path: PathRef, ebgp: bool) -> PathAttributes:
        cached = state.out_attrs.get(path.attrs)
        if cached is None:
            assert self.bgp is not None
            cached = outgoing_attributes(path.attrs, local_as=self.bgp.asn, ebgp=ebgp,
                                         local_origin=path.peer.kind is PeerKind.LOCAL)
            state.out_attrs[path.attrs] = cached
        return cached

    async def _fib_writer(self) -> None:
        """Drain FIB deltas in bulk; static routes win over BGP for the same prefix."""
        while True:
            await self._fib_wake.wait()
            self._fib_wake.clear()
            if self.fib_channel is None:
                continue
            if self._dead_nexthops:
                await self._withdraw_dead_nexthops()
            if self.fib_channel6 is not None:
                await self._apply_ipv6(self.fib_channel6.take_batch())
            batch = self.fib_channel.take_batch()
            if not batch.runs:
                continue
            await self._apply_runs(batch)

    async def _apply_ipv6(self, batch: FibBatch) -> None:
        """IPv6 unicast best paths to the kernel in chunks (no static override: statics are IPv4).

        A delete of a route already gone (its nexthop object went with the session)
        counts as done.
        """
        if not batch.runs:
            return
        ops = batch.to_ops()
        for start in range(0, len(ops), FIB_CHUNK):
            chunk = ops[start:start + FIB_CHUNK]
            async with self._fib_lock:
                result = await asyncio.to_thread(self.fib.apply, chunk)
            errors = [f for f in result.errors
                      if not (f.op.kind is OpKind.DELETE and f.errno in (errno.ENOENT, errno.ESRCH))]
            failed = {id(f.op) for f in errors}
            for op in chunk:
                if id(op) in failed:
                    continue
                if op.kind is OpKind.DELETE:
                    self.installed6.discard(prefix_key(op.route.prefix))
                else:
                    self.installed6.add(prefix_key(op.route.prefix))
            for failure in errors[:20]:
                log("fib-error", level="warning", op=failure.op.kind.value, prefix=failure.op.route.prefix,
                    errno=failure.errno, error=failure.message)
            self.fib_errors += len(errors)

    async def _clear_ipv6_leftovers(self) -> None:
        """Own IPv6 routes in the kernel at start are a crashed run's: remove them (BGP brings them back)."""
        own = await asyncio.to_thread(self.fib.list_routes, own_only=True, family=6)
        if not own:
            return
        async with self._fib_lock:
            result = await asyncio.to_thread(self.fib.apply, [FibOp(OpKind.DELETE, kr.route) for kr in own])
        for failure in result.errors[:20]:
            log("fib-error", level="warning", op="delete", prefix=failure.op.route.prefix,
                errno=failure.errno, error=failure.message)
        log("ipv6-reconciled", delete=result.ok, failed=result.failed)

    async def _withdraw_dead_nexthops(self) -> None:
        """Delete the kernel nexthop objects of sessions that went down (all their routes at once)."""
        dead, self._dead_nexthops = self._dead_nexthops, set()
        for nh in sorted(dead, key=str):
            started = time.monotonic()
            try:
                async with self._fib_lock:
                    gone = await asyncio.to_thread(self.fib.withdraw_nexthop, nh)
            except Exception as exc:  # the per-prefix deletes that follow still clean up
                log("fib-error", level="warning", op="withdraw-nexthop", nexthop=nh, error=exc)
                continue
            log("fib-nexthop-withdrawn", nexthop=nh, routes=gone, seconds=round(time.monotonic() - started, 3))

    async def _apply_runs(self, batch: Any) -> None:
        """Bulk path: runs of prefix keys go to the backend's ``apply_runs`` in slices."""
        statics = self.static_keys
        failed_keys = self.fib_failed
        for piece in _slices(batch.runs, FIB_CHUNK):
            if statics:
                piece = [(kind, hops, [k for k in keys if k not in statics]) for kind, hops, keys in piece]
            async with self._fib_lock:
                result = await asyncio.to_thread(self.fib.apply_runs, piece,
                                                 metric=batch.metric, src=batch.src, table=batch.table)
            if failed_keys:  # written again: the last outcome counts
                for _kind, _hops, keys in piece:
                    failed_keys.difference_update(keys)
            failed: dict[int, tuple[int, str]] = result.failed
            if failed:
                failed_keys.update(failed)
                for key, (code, message) in list(failed.items())[:20]:
                    log("fib-error", level="warning", prefix=format_key(key, 4), errno=code, error=message)
                self.fib_errors += len(failed)

    # --- control ----------------------------------------------------------------------

    async def handle_request(self, request: dict[str, Any]) -> Any:
        cmd = request["cmd"]
        if cmd == "show-status":
            return self.status()
        if cmd == "show-peers":
            return {"peers": [self.peer_view(s) for s in self.peers.values()]}
        if cmd == "show-routes":
            return self.routes_view(request.get("prefix"), request.get("peer"), request.get("family", "ipv4"))
        if cmd == "show-route-for":
            return self.route_for(str(request.get("address", "")))
        if cmd == "reload":
            try:
                return await self.reload()
            except ConfigError as exc:
                raise ControlError("; ".join(exc.lines)) from None
        if cmd in ("peer-reset", "peer-soft-in", "peer-soft-out"):
            return self.peer_action(cmd, str(request.get("name", "")))
        raise ControlError(f"unknown command {cmd!r}")

    def status(self) -> dict[str, Any]:
        bgp = self.bgp
        return {
            "config": str(self.config_path),
            "asn": bgp.asn if bgp else None,
            "router_id": str(self._router_id_safe()),
            "uptime": round(time.time() - self.started, 1),
            "peers": len(self.peers),
            "peers_established": sum(1 for s in self.peers.values() if s.runner.established),
            "routes_ipv4": len(self.rib4.best),
            "routes_ipv6": len(self.rib6.best),
            "routes_installed": self._installed_count(),
            "fib_queue": self.fib_channel.pending if self.fib_channel else 0,
            "routes_installed_ipv6": len(self.installed6),
            "static_routes": len(self.static_keys),
            "fib_errors": self.fib_errors,
        }

    def _installed(self, key: int) -> bool:
        """Whether the kernel holds (or is being sent) v4via6's IPv4 route for ``key``."""
        fib = self.fib_channel
        return (fib is not None and key not in self.static_keys and key not in self.fib_failed
                and fib.wants(key))

    def _installed_from(self, info: PeerInfo) -> int:
        """How many of the IPv4 routes in the kernel are ``info``'s best paths (one pass)."""
        fib = self.fib_channel
        if fib is None:
            return 0
        skip = self.fib_failed | self.static_keys
        prefix = fib.export_policy.prefix
        by_res = fib.by_resolution()
        hops_for = fib.hops_for
        count = 0
        last_res: object = None
        last_ok = False
        for key, best in self.rib4.best.items():
            first = best[0]
            src = first[0].peer
            if src is not info and (src.name != info.name or src != info):
                continue
            if key in skip:
                continue
            if by_res and len(best) == 1:  # installable or not: a question of its resolution
                if first[1] is not last_res:
                    last_res, last_ok = first[1], hops_for(best) is not None
                ok = last_ok
            else:
                ok = hops_for(best) is not None
            if ok and (prefix is None or prefix.matches(key, 4)):
                count += 1
        return count

    def _installed_count(self) -> int:
        fib = self.fib_channel
        if fib is None:
            return 0
        left_out = sum(1 for key in self.fib_failed | self.static_keys if fib.wants(key))
        return fib.counters.exported - left_out

    def _router_id_safe(self) -> IPv4Address | None:
        try:
            return self._router_id()
        except DaemonError:
            return None

    def peer_view(self, state: PeerState) -> dict[str, Any]:
        runner = state.runner
        session = runner.session
        neg = session.negotiated if runner.established else None
        up_since = runner.status.established_at
        ch4, ch6 = state.channels[AFI_IPV4], state.channels[AFI_IPV6]
        installed = self._installed_from(state.info) if runner.established else 0
        installed6 = sum(
            1 for key, best in self.rib6.best.items()
            if best and best[0][0].peer == state.info and key in self.installed6
        ) if runner.established else 0
        conn = runner.local_endpoint
        return {
            "name": runner.name,
            "address": str(runner.address) if runner.address else None,
            "interface": runner.ifname,
            "remote_as": neg.peer_as if neg else runner.config.remote_as,
            "type": state.info.kind.value,
            "state": session.state.value,
            "uptime": round(time.time() - up_since, 1) if up_since else None,
            "router_id": str(neg.peer_router_id) if neg else None,
            "hold_time": neg.hold_time if neg else None,
            "local_address": conn.local.address if conn else None,
            "nexthop_self": str(state.nexthop) if state.nexthop else None,
            "capabilities": {
                "families": sorted(afi_safi_name(a, s) for a, s in neg.families) if neg else [],
                "extended_nexthop": sorted(f"{afi_safi_name(a, s)} via {'ipv6' if n == 2 else 'ipv4'}"
                                           for a, s, n in neg.extended_nexthop) if neg else [],
                "four_octet_as": neg.four_octet_as if neg else None,
                "extended_message": neg.extended_message if neg else None,
                "route_refresh": neg.route_refresh if neg else None,
            },
            "prefixes": {
                "ipv4": {"received": ch4.counters.received, "accepted": ch4.counters.accepted,
                         "installed": installed, "sent": ch4.counters.exported},
                "ipv6": {"received": ch6.counters.received, "accepted": ch6.counters.accepted,
                         "installed": installed6, "sent": ch6.counters.exported},
            },
            "end_of_rib_received": sorted(state.eor_received),
            "update_problems": state.problems,
            "last_down_reason": runner.status.last_down_reason,
            "last_error": runner.status.last_error,
            "discovered": runner.status.discovered,
            "counters": session.counters.as_dict(),
        }

    def routes_view(self, prefix: str | None, peer: str | None, family: str) -> dict[str, Any]:
        rib = self.rib6 if family == "ipv6" else self.rib4
        fam = 6 if family == "ipv6" else 4
        if prefix:
            try:
                keys = [prefix_key(prefix)]
            except ValueError:
                raise ControlError(f"{prefix!r} is not a prefix like 198.51.100.0/24") from None
        else:
            keys = sorted(set(rib.best) | self._candidate_keys(rib))
        out = []
        for key in keys[:10_000]:
            decision = rib.explain(key)
            cands = [c for c in decision.candidates if peer is None or c.path.peer.name == peer]
            if not cands:
                continue
            out.append({
                "prefix": format_key(key, fam),
                "installed": self._installed(key) if fam == 4 else key in self.installed6,
                "static_override": key in self.static_keys if fam == 4 else None,
                "reasons": list(decision.reasons),
                "paths": [_path_view(c.path, c.resolution, c.state, c.reason) for c in cands],
            })
        return {"family": family, "routes": out, "total": len(keys)}

    def _candidate_keys(self, rib: LocRib) -> set[int]:
        keys: set[int] = set()
        for state in self.peers.values():
            ch = state.channels[AFI_IPV4 if rib is self.rib4 else AFI_IPV6]
            keys.update(ch.adj_in.routes)
        return keys

    def route_for(self, address: str) -> dict[str, Any]:
        try:
            addr = ip_address(address)
        except ValueError:
            raise ControlError(f"{address!r} is not an IP address") from None
        rib, fam, bits = (self.rib4, 4, 32) if addr.version == 4 else (self.rib6, 6, 128)
        value = int(addr)
        for plen in range(bits, -1, -1):
            net = (value >> (bits - plen)) << (bits - plen) if plen else 0
            key = (net << 8) | plen
            if key in rib.best or any(key in s.channels[AFI_IPV4 if fam == 4 else AFI_IPV6].adj_in.routes
                                      for s in self.peers.values()):
                view = self.routes_view(format_key(key, fam), None, "ipv6" if fam == 6 else "ipv4")
                view["address"] = address
                return view
        return {"address": address, "routes": [], "total": 0}

    def peer_action(self, cmd: str, name: str) -> dict[str, Any]:
        state = self.peers.get(name)
        if state is None:
            raise ControlError(f"no peer named {name!r}; see 'v4via6 show peers'")
        if cmd == "peer-reset":
            state.runner.reset()
        elif cmd == "peer-soft-in":
            for ch in state.channels.values():
                ch.set_import_policy(ch.import_policy)
            state.runner.session.send_route_refresh(AFI_IPV4, SAFI_UNICAST) if state.runner.established else None
        else:
            for ch in state.channels.values():
                if state.runner.established:
                    ch.start_export()
            self._send_exports(state)
        self._changed()
        log("peer-action", action=cmd, peer=name)
        return {"peer": name, "done": cmd}

    async def reload(self) -> dict[str, Any]:
        """Re-read the config: new/removed/changed peers reset, policy changes applied softly."""
        new = load_config(self.config_path)
        old = self.config
        summary: dict[str, Any] = {"added": [], "removed": [], "reset": [], "policy": [], "static": "unchanged"}
        self.config = new
        if new.static != old.static:
            await self._reconcile_static()
            summary["static"] = "reconciled"
        if (old.bgp is None) != (new.bgp is None) or (
            old.bgp is not None and new.bgp is not None
            and (old.bgp.asn != new.bgp.asn or old.bgp.router_id != new.bgp.router_id)
        ):
            summary["reset"] = ["all (asn or router id changed)"]
            for state in list(self.peers.values()):
                await state.runner.stop()
                for ch in state.channels.values():
                    ch.close()
            self.peers.clear()
            router_id = self._router_id()
            if new.bgp is not None and router_id is not None:
                self._originate()
                for index, peer in enumerate(new.bgp.peer):
                    self._add_peer(index, peer, router_id)
                for state in self.peers.values():
                    state.runner.start()
            self._changed()
            return summary
        if new.bgp is None:
            return summary
        router_id = self._router_id()
        assert router_id is not None
        old_by_id = {_identity(p): p for p in (old.bgp.peer if old.bgp else [])}
        new_by_id = {_identity(p): (i, p) for i, p in enumerate(new.bgp.peer)}
        for ident, (index, peer) in new_by_id.items():
            previous = old_by_id.get(ident)
            found = self._state_for(ident)
            if previous is None or found is None:
                self._add_peer(index, peer, router_id)
                name = list(self.peers)[-1]
                self.peers[name].runner.start()
                summary["added"].append(name)
                continue
            state = found
            if _session_fields(previous) != _session_fields(peer):
                await state.runner.stop()
                for ch in state.channels.values():
                    ch.close()
                del self.peers[state.runner.name]
                self._add_peer(index, peer, router_id)
                name = list(self.peers)[-1]
                self.peers[name].runner.start()
                summary["reset"].append(name)
            elif (previous.import_, previous.export) != (peer.import_, peer.export):
                imp, exp = self._policies(state.runner.name, peer, state.info.kind)
                for ch in state.channels.values():
                    ch.set_import_policy(imp)
                    ch.set_export_policy(exp)
                state.runner.config = peer
                summary["policy"].append(state.runner.name)
        for ident in old_by_id:
            if ident not in new_by_id:
                leaving = self._state_for(ident)
                if leaving is not None:
                    await leaving.runner.stop()
                    for ch in leaving.channels.values():
                        ch.close()
                    del self.peers[leaving.runner.name]
                    summary["removed"].append(leaving.runner.name)
        if old.bgp is not None and (old.bgp.networks, old.bgp.redistribute) != (new.bgp.networks, new.bgp.redistribute):
            self._originate()
        self._changed()
        return summary

    def _state_for(self, ident: tuple[str | None, str | None]) -> PeerState | None:
        for state in self.peers.values():
            if _identity(state.runner.config) == ident:
                return state
        return None


def _slices(runs: Sequence[tuple[OpKind, Any, list[int]]], size: int) -> Iterator[list[tuple[OpKind, Any, list[int]]]]:
    """Split FIB runs into pieces of at most ``size`` prefixes (long runs are cut), one
    piece at a time (a full table's worth of slices at once would be another copy of it)."""
    piece: list[tuple[OpKind, Any, list[int]]] = []
    room = size
    for kind, hops, keys in runs:
        start = 0
        while start < len(keys):
            take = keys[start:start + room] if start or len(keys) > room else keys
            piece.append((kind, hops, take))
            start += len(take)
            room -= len(take)
            if room == 0:
                yield piece
                piece, room = [], size
    if piece:
        yield piece


def _identity(peer: BgpPeer) -> tuple[str | None, str | None]:
    return (peer.interface, peer.address)


def _session_fields(peer: BgpPeer) -> tuple[object, ...]:
    return (peer.remote_as, peer.passive, peer.hold_time, peer.port, tuple(peer.families), peer.extended_nexthop,
            peer.multipath, peer.name)


def _note(note: object) -> str | None:
    if note is None:
        return None
    code = getattr(note, "code", "?")
    sub = getattr(note, "subcode", "?")
    return f"{code}/{sub}"


def _path_view(path: PathRef, resolution: Any, state: str, reason: str) -> dict[str, Any]:
    attrs = path.attrs
    nh = path.nexthop
    return {
        "peer": path.peer.name,
        "state": state,
        "reason": reason,
        "nexthop": str(nh) if nh is not None else "local",
        "installs_via": str(resolution.nexthop) if resolution is not None and resolution.nexthop else None,
        "as_path": " ".join(
            ("{" + ",".join(map(str, seg)) + "}") if kind == 1 else " ".join(map(str, seg))
            for kind, seg in attrs.as_path
        ),
        "origin": ["igp", "egp", "incomplete"][attrs.origin] if 0 <= attrs.origin <= 2 else str(attrs.origin),
        "local_pref": attrs.local_pref,
        "med": attrs.med,
        "communities": [f"{c >> 16}:{c & 0xFFFF}" for c in attrs.communities],
    }


def setup_logging(level: int = logging.INFO) -> None:
    """Python logging (used by the transport) in the same key=value line format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def run_daemon(config_path: str, socket_path: str | None = None) -> int:
    """Entry point for ``v4via6 run``."""
    setup_logging()
    tune_gc()
    if not tune_malloc():
        log("malloc-defaults", level="info", reason="no glibc mallopt")
    daemon_holder: list[Daemon] = []

    async def main() -> int:
        daemon = Daemon(config_path, socket_path=socket_path)
        daemon_holder.append(daemon)
        return await daemon.run()

    return asyncio.run(main())


__all__ = ["Daemon", "DaemonError", "HostAddresses", "NextHop", "Sequence", "run_daemon"]
