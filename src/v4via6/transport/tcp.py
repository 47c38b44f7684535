"""asyncio TCP glue for BGP: listener, connector with backoff, bounded output, send-hold timer.

The BGP session is sans-IO; this module moves its bytes. It knows nothing about
BGP messages: a session plugs in through the small :class:`StreamHandler`
protocol and gets a :class:`Connection` to write to.

* :class:`Listener` accepts IPv6 connections (incl. link-local ones, whose
  interface is taken from the scope id) and asks an accept callback for a
  handler; returning None refuses the peer.
* :func:`open_connection` / :func:`connect_with_retry` / :class:`Connector`
  connect to a peer, link-local peers with the right scope id and bound to
  their interface, retrying with capped, jittered exponential backoff.
* Output is bounded: above ``high_water`` :meth:`Connection.drain` blocks
  (asyncio flow control); a write that would take the user-space buffer past
  ``max_buffer`` drops the connection (:class:`OutputLimitExceeded`).
* Send-hold timer (RFC 9687): when data is pending and the peer has
  acknowledged nothing for ``send_hold_time`` seconds, the connection is
  dropped (:class:`SendHoldTimerExpired`). Progress counts bytes the peer
  acknowledged (user-space buffer + kernel ``SIOCOUTQ``), so a full kernel
  socket buffer does not hide a stuck peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from v4via6.transport import sockopts
from v4via6.transport.backoff import Backoff
from v4via6.transport.collision import Direction
from v4via6.transport.endpoints import (
    BGP_PORT,
    AddressError,
    Endpoint,
    endpoint_from_sockaddr,
    ifname_to_index,
    parse_peer_address,
)

log = logging.getLogger("v4via6.transport")

#: ``SIOCOUTQ`` (== ``TIOCOUTQ``): bytes in the socket send queue not yet acknowledged.
SIOCOUTQ = 0x5411

MIB = 1024 * 1024


def default_send_hold_time(hold_time: float) -> float:
    """RFC 9687 recommendation: the larger of 8 minutes and twice the hold time."""
    return max(480.0, 2.0 * hold_time)


class TransportError(ConnectionError):
    """Base class for reasons this module drops or fails a connection (one-line message)."""


class OutputLimitExceeded(TransportError):
    """A write would have taken the output buffer past its cap."""


class SendHoldTimerExpired(TransportError):
    """The peer acknowledged nothing for the send-hold time while data was pending (RFC 9687)."""


class ConnectError(TransportError):
    """An outgoing connection attempt failed."""


@dataclass(frozen=True)
class TransportLimits:
    """Output buffering and send-hold settings for one connection."""

    max_buffer: int = 8 * MIB
    high_water: int = 1 * MIB
    low_water: int = 256 * 1024
    send_hold_time: float = 480.0
    #: Bytes per socket read (asyncio's default is 256 KiB). One read's UPDATEs are handled
    #: in one go: 64 KiB keeps that under ~50 ms even with one prefix per UPDATE, and a
    #: full table's transient objects per read (about 1M routes / 4 MB of wire) small.
    read_size: int = 64 * 1024
    #: How often to look at send progress; None = ``min(1, send_hold_time / 4)``.
    check_interval: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.low_water <= self.high_water <= self.max_buffer:
            raise ValueError("transport limits need 0 <= low_water <= high_water <= max_buffer")
        if self.send_hold_time <= 0:
            raise ValueError(f"send_hold_time must be > 0, got {self.send_hold_time}")
        if self.read_size < 4096:
            raise ValueError(f"read_size must be at least 4096 (one BGP message), got {self.read_size}")

    @property
    def interval(self) -> float:
        """Seconds between send-progress checks."""
        return self.check_interval if self.check_interval is not None else min(1.0, self.send_hold_time / 4)


class StreamHandler(Protocol):
    """What a session (or a test) implements to receive a connection's events."""

    def connected(self, conn: Connection) -> None:
        """The connection is up; keep ``conn`` to write to it."""

    def data_received(self, data: bytes) -> None:
        """Bytes arrived from the peer (any framing; may be a partial message)."""

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: None after a clean close, else the reason."""


#: Called for each accepted connection; returns its handler, or None to refuse it.
AcceptCallback = Callable[["Connection"], StreamHandler | None]


def kernel_unacked_bytes(sock: Any) -> int:
    """Bytes in the kernel send queue the peer has not acknowledged (``SIOCOUTQ``)."""
    try:
        buf = fcntl.ioctl(sock.fileno(), SIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return int(struct.unpack("=i", buf)[0])


class Connection:
    """One established TCP connection: write bytes, close, see addresses and buffers."""

    def __init__(self, transport: asyncio.Transport, direction: Direction, limits: TransportLimits) -> None:
        self._transport = transport
        self.direction = direction
        self.limits = limits
        self.local: Endpoint = endpoint_from_sockaddr(tuple(transport.get_extra_info("sockname")))
        self.peer: Endpoint = endpoint_from_sockaddr(tuple(transport.get_extra_info("peername")))
        self._sock: Any = transport.get_extra_info("socket")
        self.bytes_written = 0
        self.bytes_received = 0
        self._reason: Exception | None = None
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    # -- information -----------------------------------------------------------------
    @property
    def ifname(self) -> str | None:
        """Interface of a link-local connection (from the scope id), else None."""
        return self.peer.ifname or self.local.ifname

    @property
    def buffered_bytes(self) -> int:
        """Bytes queued in user space (asyncio's buffer), bounded by ``max_buffer``."""
        return self._transport.get_write_buffer_size()

    @property
    def pending_bytes(self) -> int:
        """Bytes written but not yet acknowledged by the peer (user space + kernel)."""
        return self.buffered_bytes + kernel_unacked_bytes(self._sock)

    @property
    def writing_paused(self) -> bool:
        """True while the buffer is above ``high_water`` (producers should wait in :meth:`drain`)."""
        return self._paused

    @property
    def is_closing(self) -> bool:
        """True once close/abort was requested or the connection is gone."""
        return self._transport.is_closing()

    def setsockopt(self, level: int, option: int, value: int | bytes) -> None:
        """Set a socket option on the underlying socket (e.g. GTSM after accept)."""
        self._sock.setsockopt(level, option, value)

    def set_gtsm(self, hops: int = 1) -> None:
        """Apply GTSM (RFC 5082) to this connection: send 255, accept >= 256 - hops."""
        minimum = sockopts.gtsm_min_hops(hops)
        self.setsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_UNICAST_HOPS, sockopts.GTSM_SEND_HOPS)
        self.setsockopt(sockopts.IPPROTO_IPV6, sockopts.IPV6_MINHOPCOUNT, minimum)

    # -- writing ---------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue ``data``; drops the connection if that would exceed ``max_buffer``."""
        if not data or self._transport.is_closing():
            return
        if self.buffered_bytes + len(data) > self.limits.max_buffer:
            self.abort(
                OutputLimitExceeded(
                    f"output buffer cap {self.limits.max_buffer} bytes reached "
                    f"({self.buffered_bytes} queued, {len(data)} more) for peer {self.peer}"
                )
            )
            return
        self._transport.write(data)
        self.bytes_written += len(data)

    async def drain(self) -> None:
        """Wait until the buffer is below ``low_water`` (returns at once if not paused).

        Raises the close reason (or ConnectionResetError) if the connection goes away.
        """
        if self._closed.done():
            raise self._closed.result() or ConnectionResetError(f"connection to {self.peer} closed")
        if not self._paused:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(waiter)
        await waiter

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        """Close after the queued bytes are sent (the send-hold timer still guards it)."""
        self._transport.close()

    def abort(self, reason: Exception | None = None) -> None:
        """Drop the connection now, discarding queued output; ``reason`` goes to the handler."""
        if reason is not None and self._reason is None:
            self._reason = reason
        self._transport.abort()

    async def wait_closed(self) -> Exception | None:
        """Wait until the connection is gone; returns the reason (None = clean close)."""
        return await asyncio.shield(self._closed)

    # -- called by the protocol --------------------------------------------------------
    def _set_paused(self, paused: bool) -> None:
        self._paused = paused
        if not paused:
            self._wake_drainers(None)

    def _wake_drainers(self, exc: Exception | None) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for w in waiters:
            if not w.done():
                if exc is None:
                    w.set_result(None)
                else:
                    w.set_exception(exc)

    def _finish(self, exc: Exception | None) -> Exception | None:
        reason = self._reason or exc
        if not self._closed.done():
            self._closed.set_result(reason)
        self._wake_drainers(reason or ConnectionResetError(f"connection to {self.peer} closed"))
        return reason

    def __repr__(self) -> str:
        return f"Connection({self.direction.value} local={self.local} peer={self.peer})"


class _SendHoldWatch:
    """Periodic check: pending output with no acknowledged progress for too long -> abort."""

    def __init__(self, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self._conn = conn
        self._loop = loop
        self._last_acked = 0
        self._last_progress = loop.time()
        self._handle: asyncio.TimerHandle | None = loop.call_later(conn.limits.interval, self._check)

    def _check(self) -> None:
        conn = self._conn
        now = self._loop.time()
        pending = conn.pending_bytes
        acked = conn.bytes_written - pending
        if pending == 0 or acked > self._last_acked:
            self._last_acked = acked
            self._last_progress = now
        elif now - self._last_progress >= conn.limits.send_hold_time:
            self._handle = None
            conn.abort(
                SendHoldTimerExpired(
                    f"send hold timer expired: peer {conn.peer} acknowledged nothing for "
                    f"{now - self._last_progress:.1f}s with {pending} bytes pending"
                )
            )
            return
        self._handle = self._loop.call_later(conn.limits.interval, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class _StreamProtocol(asyncio.Protocol):
    """asyncio protocol that owns one Connection and forwards events to its handler."""

    def __init__(
        self,
        direction: Direction,
        limits: TransportLimits,
        handler: StreamHandler | None = None,
        on_accept: AcceptCallback | None = None,
    ) -> None:
        self._direction = direction
        self._limits = limits
        self._handler = handler
        self._on_accept = on_accept
        self.conn: Connection | None = None
        self._watch: _SendHoldWatch | None = None
        self.ready: asyncio.Future[Connection] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if hasattr(transport, "max_size"):  # selector transports read max_size bytes at a time
            transport.max_size = self._limits.read_size
        try:
            conn = Connection(transport, self._direction, self._limits)
        except (AddressError, OSError, TypeError) as exc:  # peer vanished before we looked
            log.info("event=connection_dropped reason=%r", str(exc))
            transport.abort()
            return
        self.conn = conn
        if self._handler is None and self._on_accept is not None:
            try:
                self._handler = self._on_accept(conn)
            except Exception as exc:
                log.exception("event=accept_callback_failed peer=%s error=%r", conn.peer, str(exc))
                self._handler = None
            if self._handler is None:
                log.info("event=connection_refused peer=%s", conn.peer)
                self.conn = None
                conn.abort()
                return
        transport.set_write_buffer_limits(high=self._limits.high_water, low=self._limits.low_water)
        with contextlib.suppress(OSError):
            conn.setsockopt(sockopts.IPPROTO_TCP, sockopts.TCP_NODELAY, 1)
        self._watch = _SendHoldWatch(conn, asyncio.get_running_loop())
        log.info("event=connection_up direction=%s local=%s peer=%s", conn.direction.value, conn.local, conn.peer)
        if not self.ready.done():
            self.ready.set_result(conn)
        if self._handler is not None:
            self._call_handler("connected", conn)

    def _call_handler(self, what: str, *args: Any) -> None:
        handler = self._handler
        if handler is None:
            return
        try:
            getattr(handler, what)(*args)
        except Exception as exc:
            # A handler bug must not take the event loop (and other peers) down.
            log.exception("event=handler_failed callback=%s error=%r", what, str(exc))
            if what != "connection_lost" and self.conn is not None:
                self.conn.abort(TransportError(f"handler {what} failed: {exc}"))

    def data_received(self, data: bytes) -> None:
        if self.conn is not None:
            self.conn.bytes_received += len(data)
        self._call_handler("data_received", data)

    def eof_received(self) -> bool:
        return False  # close our side too

    def pause_writing(self) -> None:
        if self.conn is not None:
            self.conn._set_paused(True)

    def resume_writing(self) -> None:
        if self.conn is not None:
            self.conn._set_paused(False)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._watch is not None:
            self._watch.cancel()
        if self.conn is None:
            return
        reason = self.conn._finish(exc)
        log.info(
            "event=connection_down direction=%s peer=%s reason=%r",
            self.conn.direction.value,
            self.conn.peer,
            str(reason) if reason else "closed",
        )
        if not self.ready.done() and self._on_accept is None:
            self.ready.set_exception(reason or ConnectionResetError("closed before it was up"))
        self._call_handler("connection_lost", reason)
        self._handler = None


class Listener:
    """Accepts BGP connections on ``[host]:port`` and hands each to ``on_accept``.

    Link-local peers arrive with their scope id; :attr:`Connection.peer`
    carries it and the interface name. MD5 keys for expected peers are set on
    the listening socket with :meth:`set_md5_key`. ``gtsm_hops`` applies GTSM
    (RFC 5082) to the listening socket, so to every peer it accepts (the
    SYN-ACK must already leave with hop limit 255); peers with and without
    GTSM need separate listeners (e.g. one per local address).
    """

    def __init__(
        self,
        on_accept: AcceptCallback,
        *,
        host: str = "::",
        port: int = BGP_PORT,
        limits: TransportLimits | None = None,
        v6only: bool = True,
        backlog: int = 64,
        gtsm_hops: int | None = None,
    ) -> None:
        self._on_accept = on_accept
        self._gtsm_hops = gtsm_hops
        self._host = host
        self._port = port
        self._limits = limits or TransportLimits()
        self._v6only = v6only
        self._backlog = backlog
        self._sock: socket.socket | None = None
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The bound port (useful when constructed with port 0)."""
        if self._sock is None:
            return self._port
        return int(self._sock.getsockname()[1])

    async def start(self) -> None:
        """Bind, listen and start accepting. Raises TransportError with a one-line message."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if self._v6only else 0)
            if self._gtsm_hops is not None:
                sockopts.set_gtsm(sock, self._gtsm_hops)
            addr, iface = parse_listen_host(self._host)
            scope = ifname_to_index(iface) if iface else 0
            sock.bind((addr, self._port, 0, scope))
            sock.listen(self._backlog)
            sock.setblocking(False)
        except (OSError, AddressError, sockopts.SockoptError) as exc:
            sock.close()
            raise TransportError(f"cannot listen on [{self._host}]:{self._port}: {_os_text(exc)}") from None
        self._sock = sock
        self._server = await loop.create_server(
            lambda: _StreamProtocol(Direction.INCOMING, self._limits, on_accept=self._on_accept), sock=sock
        )
        log.info("event=listening address=[%s]:%d", self._host, self.port)

    def set_md5_key(self, address: str, key: bytes, *, ifname: str | None = None) -> None:
        """Require TCP MD5 (RFC 2385) with ``key`` for connections from ``address`` (b'' removes)."""
        if self._sock is None:
            raise TransportError("listener is not started")
        addr, iface = parse_peer_address(address, ifname)
        scope = ifname_to_index(iface) if iface and _is_link_local(addr) else 0
        sockopts.set_tcp_md5sig(self._sock, addr, key, scope_id=scope)

    async def close(self) -> None:
        """Stop accepting (established connections stay up)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self._sock = None


def parse_listen_host(host: str) -> tuple[str, str | None]:
    """``"::"`` or ``"fe80::1%eth0"`` -> (address, interface or None)."""
    addr, _, iface = host.partition("%")
    return addr, iface or None


def _is_link_local(address: str) -> bool:
    return ipaddress.IPv6Address(address).is_link_local


def _os_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


@dataclass(frozen=True)
class PeerTarget:
    """Where and how to connect to one peer."""

    address: str
    port: int = BGP_PORT
    ifname: str | None = None
    local_address: str | None = None
    md5_key: bytes | None = None
    gtsm_hops: int | None = None
    #: Bind the socket to ``ifname`` (SO_BINDTODEVICE); always done for link-local peers.
    bind_to_device: bool = True
    connect_timeout: float = 10.0
    _parsed: tuple[str, str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parsed", parse_peer_address(self.address, self.ifname))

    @property
    def host(self) -> str:
        """Peer address without scope."""
        return self._parsed[0]

    @property
    def interface(self) -> str | None:
        """Interface from ``%ifname`` or ``ifname``."""
        return self._parsed[1]

    def __str__(self) -> str:
        return f"[{self.host}%{self.interface}]:{self.port}" if self.interface else f"[{self.host}]:{self.port}"


def _make_client_socket(target: PeerTarget) -> tuple[socket.socket, tuple[str, int, int, int]]:
    host, iface = target.host, target.interface
    link_local = _is_link_local(host)
    scope = ifname_to_index(iface) if iface else 0
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if iface and (target.bind_to_device or link_local):
            sockopts.set_bindtodevice(sock, iface)
        if target.md5_key:
            sockopts.set_tcp_md5sig(sock, host, target.md5_key, scope_id=scope if link_local else 0)
        if target.gtsm_hops is not None:
            sockopts.set_gtsm(sock, target.gtsm_hops)
        if target.local_address:
            laddr, liface = parse_peer_address(target.local_address, iface if link_local else None)
            lscope = ifname_to_index(liface) if liface else 0
            sock.bind((laddr, 0, 0, lscope))
    except BaseException:
        sock.close()
        raise
    return sock, (host, target.port, 0, scope if link_local else 0)


async def open_connection(
    target: PeerTarget, handler: StreamHandler, *, limits: TransportLimits | None = None
) -> Connection:
    """One connection attempt to ``target``; raises ConnectError (one-line) on failure."""
    loop = asyncio.get_running_loop()
    try:
        sock, sockaddr = _make_client_socket(target)
    except (OSError, AddressError, sockopts.SockoptError) as exc:
        raise ConnectError(f"cannot connect to {target}: {_os_text(exc)}") from None
    try:
        async with asyncio.timeout(target.connect_timeout):
            await loop.sock_connect(sock, sockaddr)
        _, proto = await loop.create_connection(
            lambda: _StreamProtocol(Direction.OUTGOING, limits or TransportLimits(), handler=handler), sock=sock
        )
    except TimeoutError:
        sock.close()
        raise ConnectError(f"cannot connect to {target}: timed out after {target.connect_timeout:g}s") from None
    except OSError as exc:
        sock.close()
        raise ConnectError(f"cannot connect to {target}: {_os_text(exc)}") from None
    except BaseException:
        sock.close()
        raise
    return await proto.ready


HandlerFactory = Callable[[], StreamHandler]


async def connect_with_retry(
    target: PeerTarget,
    handler_factory: HandlerFactory,
    *,
    backoff: Backoff | None = None,
    limits: TransportLimits | None = None,
    max_attempts: int | None = None,
) -> Connection:
    """Connect, retrying with ``backoff`` until it works (cancel the task to give up).

    ``handler_factory`` makes a fresh handler for the attempt that succeeds.
    Raises the last ConnectError after ``max_attempts`` failures.
    """
    backoff = backoff or Backoff()
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = await open_connection(target, handler_factory(), limits=limits)
        except ConnectError as exc:
            if max_attempts is not None and attempt >= max_attempts:
                raise
            delay = backoff.next_delay()
            log.info("event=connect_failed peer=%s attempt=%d error=%r retry_in=%.2f", target, attempt, str(exc), delay)
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        return conn


class Connector:
    """Keeps trying to connect to one peer, reconnecting with backoff after each loss.

    ``on_connected`` is called with each new Connection. :meth:`stop` cancels
    pending attempts; an established connection is left to its owner unless
    ``close=True``.
    """

    def __init__(
        self,
        target: PeerTarget,
        handler_factory: HandlerFactory,
        *,
        on_connected: Callable[[Connection], None] | None = None,
        backoff: Backoff | None = None,
        limits: TransportLimits | None = None,
        stable_after: float = 30.0,
    ) -> None:
        self.target = target
        self._factory = handler_factory
        self._on_connected = on_connected
        self._backoff = backoff or Backoff()
        self._limits = limits
        self._stable_after = stable_after
        self._task: asyncio.Task[None] | None = None
        self.connection: Connection | None = None
        self.attempts = 0

    @property
    def running(self) -> bool:
        """True while the connect loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the connect loop (idempotent)."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"connect {self.target}")

    async def stop(self, *, close: bool = False) -> None:
        """Cancel the loop; with ``close`` also drop the established connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if close and self.connection is not None:
            self.connection.abort()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self.attempts += 1
            try:
                conn = await open_connection(self.target, self._factory(), limits=self._limits)
            except ConnectError as exc:
                delay = self._backoff.next_delay()
                log.info("event=connect_failed peer=%s error=%r retry_in=%.2f", self.target, str(exc), delay)
                await asyncio.sleep(delay)
                continue
            self.connection = conn
            started = loop.time()
            if self._on_connected is not None:
                self._on_connected(conn)
            await conn.wait_closed()
            self.connection = None
            if loop.time() - started >= self._stable_after:
                self._backoff.reset()
            delay = self._backoff.next_delay()
            log.info("event=reconnect_wait peer=%s retry_in=%.2f", self.target, delay)
            await asyncio.sleep(delay)
