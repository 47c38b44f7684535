"""TCP transport over loopback ([::1]): accept, exchange, refuse, retry, output cap, send-hold timer.

No root needed: everything runs on the loopback interface of the test process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from v4via6.transport.backoff import Backoff
from v4via6.transport.collision import Direction
from v4via6.transport.endpoints import AddressError, Endpoint, endpoint_from_sockaddr, parse_peer_address
from v4via6.transport.tcp import (
    ConnectError,
    Connection,
    Connector,
    Listener,
    OutputLimitExceeded,
    PeerTarget,
    SendHoldTimerExpired,
    TransportError,
    TransportLimits,
    connect_with_retry,
    default_send_hold_time,
    open_connection,
)

#: how often the poll loops below look again
POLL_INTERVAL = 0.01
#: the slow reader's pace: it reads a little this often (the behaviour under test)
READ_EVERY = 0.1


class Recorder:
    """Trivial StreamHandler: records everything, optionally echoes."""

    def __init__(self, echo: bool = False) -> None:
        self.echo = echo
        self.conn: Connection | None = None
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connected(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.echo and self.conn is not None:
            self.conn.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


def run(coro: Callable[[], Coroutine[Any, Any, None]], timeout: float = 20.0) -> None:
    async def main() -> None:
        async with asyncio.timeout(timeout):
            await coro()

    asyncio.run(main())


async def until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


def free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return int(s.getsockname()[1])


async def started_listener(
    accept: Callable[[Connection], Any], port: int = 0, limits: TransportLimits | None = None
) -> Listener:
    lst = Listener(accept, host="::1", port=port, limits=limits)
    await lst.start()
    return lst


def test_listener_and_connector_exchange_bytes() -> None:
    async def body() -> None:
        servers: list[Recorder] = []

        def accept(conn: Connection) -> Recorder:
            servers.append(Recorder(echo=True))
            return servers[-1]

        lst = await started_listener(accept)
        client = Recorder()
        conn = await open_connection(PeerTarget("::1", port=lst.port), client)
        assert conn.direction is Direction.OUTGOING
        assert conn.peer == Endpoint("::1", lst.port)
        conn.write(b"hello bgp")
        await until(lambda: bytes(client.data) == b"hello bgp", what="echo")
        server_conn = servers[0].conn
        assert server_conn is not None and server_conn.direction is Direction.INCOMING
        assert server_conn.peer.port == conn.local.port
        assert server_conn.bytes_received == 9 and conn.bytes_written == 9
        conn.close()
        assert await client.lost is None  # clean close
        assert await servers[0].lost is None
        await lst.close()

    run(body)


def test_accept_callback_can_refuse() -> None:
    async def body() -> None:
        seen: list[Endpoint] = []

        def refuse(conn: Connection) -> None:
            seen.append(conn.peer)
            return None

        lst = await started_listener(refuse)
        client = Recorder()
        await open_connection(PeerTarget("::1", port=lst.port), client)
        exc = await client.lost
        assert seen and seen[0].address == "::1"
        assert exc is None or isinstance(exc, ConnectionError)
        await lst.close()

    run(body)


def test_handler_exception_drops_only_that_connection() -> None:
    class Broken(Recorder):
        def data_received(self, data: bytes) -> None:
            raise RuntimeError("session bug")

    async def body() -> None:
        broken: list[Broken] = []

        def accept(conn: Connection) -> Broken:
            broken.append(Broken())
            return broken[-1]

        lst = await started_listener(accept)
        client = Recorder()
        conn = await open_connection(PeerTarget("::1", port=lst.port), client)
        conn.write(b"x")
        exc = await broken[0].lost
        assert isinstance(exc, TransportError) and "session bug" in str(exc)
        await client.lost
        # The listener still accepts new connections.
        again = Recorder()
        await open_connection(PeerTarget("::1", port=lst.port), again)
        await until(lambda: len(broken) == 2, what="second accept")
        await lst.close()

    run(body)


def test_connect_refused_is_a_one_line_error() -> None:
    async def body() -> None:
        with pytest.raises(ConnectError, match=r"cannot connect to \[::1\]:\d+: Connection refused"):
            await open_connection(PeerTarget("::1", port=free_port()), Recorder())

    run(body)


def test_retry_with_backoff_until_listener_appears() -> None:
    async def body() -> None:
        port = free_port()
        factory_calls = 0

        def factory() -> Recorder:
            nonlocal factory_calls
            factory_calls += 1
            return Recorder()

        backoff = Backoff(initial=0.05, maximum=0.2, jitter=0.1)
        task = asyncio.create_task(connect_with_retry(PeerTarget("::1", port=port), factory, backoff=backoff))
        await until(lambda: factory_calls >= 3, what="three failed attempts")
        assert not task.done()
        lst = await started_listener(lambda c: Recorder(), port=port)
        conn = await task
        assert conn.peer.port == port
        assert factory_calls >= 3
        assert backoff.attempts == 0  # reset after success
        conn.close()
        await lst.close()

    run(body)


def test_retry_gives_up_after_max_attempts_and_is_cancellable() -> None:
    async def body() -> None:
        target = PeerTarget("::1", port=free_port())
        fast = Backoff(initial=0.01, maximum=0.02)
        with pytest.raises(ConnectError):
            await connect_with_retry(target, Recorder, backoff=fast, max_attempts=2)
        task = asyncio.create_task(connect_with_retry(target, Recorder, backoff=Backoff(initial=5.0, maximum=5.0)))
        done, _ = await asyncio.wait({task}, timeout=0.05)
        assert not done, "with nothing listening it keeps retrying"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(body)


def test_connector_reconnects_after_loss_and_stops() -> None:
    async def body() -> None:
        servers: list[Recorder] = []

        def accept(conn: Connection) -> Recorder:
            servers.append(Recorder())
            return servers[-1]

        lst = await started_listener(accept)
        connected: list[Connection] = []
        connector = Connector(
            PeerTarget("::1", port=lst.port),
            Recorder,
            on_connected=connected.append,
            backoff=Backoff(initial=0.05, maximum=0.1),
        )
        connector.start()
        await until(lambda: len(servers) == 1 and servers[0].conn is not None, what="first connection")
        assert servers[0].conn is not None
        servers[0].conn.abort()
        await until(lambda: len(connected) == 2, what="reconnect")
        await connector.stop(close=True)
        assert not connector.running
        await until(lambda: servers[1].lost.done(), what="connection closed by stop")
        await lst.close()

    run(body)


async def stuck_peer(port: int) -> socket.socket:
    """A client that connects and never reads, with a tiny receive buffer."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await asyncio.get_running_loop().sock_connect(s, ("::1", port))
    return s


def small_sndbuf_accept(servers: list[Recorder]) -> Callable[[Connection], Recorder]:
    def accept(conn: Connection) -> Recorder:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        servers.append(Recorder())
        return servers[-1]

    return accept


def test_output_cap_pauses_then_drops_a_peer_that_does_not_read() -> None:
    async def body() -> None:
        limits = TransportLimits(max_buffer=256 * 1024, high_water=64 * 1024, low_water=16 * 1024)
        servers: list[Recorder] = []
        lst = await started_listener(small_sndbuf_accept(servers), limits=limits)
        peer = await stuck_peer(lst.port)
        try:
            await until(lambda: bool(servers) and servers[0].conn is not None, what="accept")
            conn = servers[0].conn
            assert conn is not None
            chunk = b"\xff" * 16384
            paused_seen = False
            for _ in range(200):
                if conn.is_closing:
                    break
                conn.write(chunk)
                paused_seen = paused_seen or conn.writing_paused
                assert conn.buffered_bytes <= limits.max_buffer
                await asyncio.sleep(0)
            assert paused_seen
            exc = await servers[0].lost
            assert isinstance(exc, OutputLimitExceeded)
            assert "output buffer cap 262144 bytes" in str(exc)
            with pytest.raises(OutputLimitExceeded):
                await conn.drain()
        finally:
            peer.close()
            await lst.close()

    run(body)


def test_drain_blocks_while_paused_and_send_hold_timer_drops_stuck_peer() -> None:
    async def body() -> None:
        limits = TransportLimits(high_water=32 * 1024, low_water=8 * 1024, send_hold_time=0.5, check_interval=0.05)
        servers: list[Recorder] = []
        lst = await started_listener(small_sndbuf_accept(servers), limits=limits)
        peer = await stuck_peer(lst.port)
        try:
            await until(lambda: bool(servers) and servers[0].conn is not None, what="accept")
            conn = servers[0].conn
            assert conn is not None
            loop = asyncio.get_running_loop()
            started = loop.time()
            conn.write(b"\x00" * (256 * 1024))  # more than both kernel buffers hold
            assert conn.writing_paused
            with pytest.raises(SendHoldTimerExpired, match="send hold timer expired"):
                await conn.drain()  # blocks until the timer fires, then raises the reason
            elapsed = loop.time() - started
            assert 0.45 <= elapsed < 3.0
            exc = await servers[0].lost
            assert isinstance(exc, SendHoldTimerExpired)
            assert "acknowledged nothing" in str(exc) and "bytes pending" in str(exc)
        finally:
            peer.close()
            await lst.close()

    run(body)


def test_send_hold_timer_does_not_fire_while_peer_reads_slowly() -> None:
    async def body() -> None:
        limits = TransportLimits(send_hold_time=0.4, check_interval=0.05)
        servers: list[Recorder] = []
        lst = await started_listener(small_sndbuf_accept(servers), limits=limits)
        peer = await stuck_peer(lst.port)
        try:
            await until(lambda: bool(servers) and servers[0].conn is not None, what="accept")
            conn = servers[0].conn
            assert conn is not None
            total = 128 * 1024
            conn.write(b"\x01" * total)
            got = 0
            for _ in range(12):  # 1.2 s = 3x the send hold time; read 2 KiB every READ_EVERY s
                await asyncio.sleep(READ_EVERY)
                with contextlib.suppress(BlockingIOError):
                    got += len(peer.recv(2048))
                assert not servers[0].lost.done(), "dropped a peer that was reading"
            assert 0 < got < total
            assert not conn.is_closing
        finally:
            peer.close()
            await lst.close()

    run(body)


def test_default_send_hold_time_rfc9687() -> None:
    assert default_send_hold_time(90) == 480.0
    assert default_send_hold_time(300) == 600.0


def test_limits_validation() -> None:
    with pytest.raises(ValueError, match="low_water"):
        TransportLimits(max_buffer=10, high_water=20)
    with pytest.raises(ValueError, match="send_hold_time"):
        TransportLimits(send_hold_time=0)


def test_peer_address_parsing() -> None:
    assert parse_peer_address("fe80::2%eth0") == ("fe80::2", "eth0")
    assert parse_peer_address("FE80::2", "eth1") == ("fe80::2", "eth1")
    assert parse_peer_address("2001:db8::1") == ("2001:db8::1", None)
    with pytest.raises(AddressError, match="needs an interface"):
        parse_peer_address("fe80::2")
    with pytest.raises(AddressError, match="does not match"):
        parse_peer_address("fe80::2%eth0", "eth1")
    with pytest.raises(AddressError, match="not an IPv6 address"):
        parse_peer_address("192.0.2.1")
    with pytest.raises(AddressError, match="not a unicast"):
        parse_peer_address("ff02::1%eth0")
    with pytest.raises(AddressError, match="needs an interface"):
        PeerTarget("fe80::1")


def test_endpoint_from_sockaddr_and_text() -> None:
    ep = endpoint_from_sockaddr(("fe80::2%lo", 179, 0, 1))
    assert ep == Endpoint("fe80::2", 179, 1, "lo") and ep.is_link_local
    assert str(ep) == "[fe80::2%lo]:179"
    assert endpoint_from_sockaddr(("::ffff:192.0.2.1", 179, 0, 0)) == Endpoint("192.0.2.1", 179)
    assert str(Endpoint("192.0.2.1", 179)) == "192.0.2.1:179"
    assert str(PeerTarget("fe80::1%lo", port=1790)) == "[fe80::1%lo]:1790"


def test_listen_error_is_one_line() -> None:
    async def body() -> None:
        first = await started_listener(lambda c: None)
        # Same port without SO_REUSEPORT while listening -> address in use.
        with pytest.raises(TransportError, match=r"cannot listen on \[::1\]:\d+: Address already in use"):
            await started_listener(lambda c: None, port=first.port)
        await first.close()

    run(body)


class ChunkRecorder(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def data_received(self, data: bytes) -> None:
        self.sizes.append(len(data))
        super().data_received(data)


def test_reads_are_at_most_read_size_bytes() -> None:
    """One read's UPDATEs are handled in one go: the read size bounds that work."""

    async def body() -> None:
        servers: list[ChunkRecorder] = []

        def accept(conn: Connection) -> ChunkRecorder:
            servers.append(ChunkRecorder())
            return servers[-1]

        lst = await started_listener(accept, limits=TransportLimits(read_size=4096))
        client = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        client.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(client, ("::1", lst.port))
            await until(lambda: bool(servers), what="accept")
            payload = bytes(range(256)) * 256  # 64 KiB
            await asyncio.get_running_loop().sock_sendall(client, payload)
            await until(lambda: len(servers[0].data) == len(payload), what="all bytes")
            assert bytes(servers[0].data) == payload
            assert max(servers[0].sizes) <= 4096 and len(servers[0].sizes) >= 16
        finally:
            client.close()
            await lst.close()

    run(body)
    with pytest.raises(ValueError, match="read_size"):
        TransportLimits(read_size=100)
