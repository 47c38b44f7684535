"""Transport and unnumbered discovery against the real kernel, in two namespaces joined by a veth.

The link carries only link-local IPv6 (fe80::a on tp-a in namespace A,
fe80::b on tp-b in namespace B). Code under test runs in a forked child that
has entered the namespace with setns(2); children report back through a queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import multiprocessing.queues
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from v4via6.lab import netns
from v4via6.transport.backoff import Backoff
from v4via6.transport.discovery import DiscoveredPeer, PeerDiscovery, RaSender, link_local_neighbours, watch_interface
from v4via6.transport.ndsock import open_nd_socket, recv_nd
from v4via6.transport.ra import ICMPV6_ROUTER_ADVERT, decode_router_advert, icmpv6_checksum
from v4via6.transport.tcp import (
    Connection,
    Listener,
    OutputLimitExceeded,
    PeerTarget,
    SendHoldTimerExpired,
    TransportLimits,
    connect_with_retry,
    open_connection,
)

#: how often the poll loops below look again
POLL_INTERVAL = 0.01

pytestmark = pytest.mark.lab

PORT = 1790
MAC_A = "00:00:5e:00:53:0a"  # RFC 7042 documentation MACs
MAC_B = "00:00:5e:00:53:0b"
CLONE_NEWNET = 0x40000000

Report = Callable[[str, Any], None]


@dataclass
class Pair:
    """Two namespaces joined by tp-a (fe80::a, in a) <-> tp-b (fe80::b, in b)."""

    a: str
    b: str


@pytest.fixture
def pair() -> Iterator[Pair]:
    tag = secrets.token_hex(3)
    p = Pair(f"v4v6-tp-{tag}-a", f"v4v6-tp-{tag}-b")
    created: list[str] = []
    try:
        for ns in (p.a, p.b):
            netns.create_namespace(ns)
            created.append(ns)
        netns.create_veth(p.a, "tp-a", p.b, "tp-b")
        for ns, ifname, mac, addr in ((p.a, "tp-a", MAC_A, "fe80::a"), (p.b, "tp-b", MAC_B, "fe80::b")):
            # No automatic link-local: only the address we set, without DAD delay.
            netns.set_sysctls(ns, {f"net.ipv6.conf.{ifname}.addr_gen_mode": 1})
            netns.ip_batch(
                ns,
                [
                    f"link set {ifname} address {mac}",
                    f"addr add {addr}/64 dev {ifname} nodad",
                    f"link set {ifname} up",
                ],
            )
        for ns, ifname in ((p.a, "tp-a"), (p.b, "tp-b")):
            netns.wait_until(partial(netns.link_is_up, ns, ifname), 5, what=f"{ifname} up")
        yield p
    finally:
        for ns in created:
            netns.delete_namespace(ns)


# --- running code inside a namespace -------------------------------------------------


def _enter_netns(ns: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
    finally:
        os.close(fd)


def _child(ns: str, fn: Callable[[Report], Any], q: multiprocessing.queues.Queue[tuple[str, Any]]) -> None:
    try:
        _enter_netns(ns)
        result = fn(lambda kind, value: q.put((kind, value)))
        q.put(("result", result))
    except BaseException as exc:
        q.put(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


class NsProcess:
    """A forked child running ``fn(report)`` inside namespace ``ns``."""

    def __init__(self, ns: str, fn: Callable[[Report], Any]) -> None:
        ctx = multiprocessing.get_context("fork")
        self.q: multiprocessing.queues.Queue[tuple[str, Any]] = ctx.Queue()
        self.proc = ctx.Process(target=_child, args=(ns, fn, self.q), daemon=True)
        self.proc.start()
        self.seen: list[tuple[str, Any]] = []

    def wait_for(self, kind: str, timeout: float = 10.0) -> Any:
        """Next message of ``kind`` (other kinds are kept in ``seen``); raises on child error."""
        for k, v in self.seen:
            if k == kind:
                self.seen.remove((k, v))
                return v
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out after {timeout}s waiting for {kind!r} from child; seen {self.seen}")
            try:
                k, v = self.q.get(timeout=remaining)
            except queue.Empty:
                continue
            if k == "error":
                raise AssertionError(f"child failed: {v}")
            if k == kind:
                return v
            self.seen.append((k, v))

    def stop(self) -> None:
        if self.proc.is_alive() and self.proc.pid is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join(5)


@contextlib.contextmanager
def in_ns(ns: str, fn: Callable[[Report], Any]) -> Iterator[NsProcess]:
    p = NsProcess(ns, fn)
    try:
        yield p
    finally:
        p.stop()


def run_async(coro_fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    async def main() -> Any:
        async with asyncio.timeout(timeout):
            return await coro_fn()

    return asyncio.run(main())


class Echo:
    """Handler that echoes and reports what it sees."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.conn: Connection | None = None

    def connected(self, conn: Connection) -> None:
        self.conn = conn
        self.report("accepted", {"peer": conn.peer.address, "ifname": conn.ifname, "scope": conn.peer.scope_id})

    def data_received(self, data: bytes) -> None:
        assert self.conn is not None
        self.conn.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.report("lost", None if exc is None else str(exc))


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connected(self, conn: Connection) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


def echo_server(
    md5_peer: str | None = None, md5_key: bytes = b"", gtsm_hops: int | None = None
) -> Callable[[Report], Any]:
    def main(report: Report) -> None:
        async def serve() -> None:
            lst = Listener(lambda conn: Echo(report), port=PORT, gtsm_hops=gtsm_hops)
            await lst.start()
            if md5_peer:
                lst.set_md5_key(md5_peer, md5_key)
            report("listening", lst.port)
            await asyncio.Event().wait()  # runs until the parent kills it

        run_async(serve, timeout=40)

    return main


async def _until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(POLL_INTERVAL)


def exchange_client(target: PeerTarget) -> Callable[[Report], Any]:
    def main(report: Report) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            handler = Collect()
            conn = await open_connection(target, handler)
            conn.write(b"OPEN-via-link-local")
            await _until(lambda: bytes(handler.data) == b"OPEN-via-link-local", 5, "echo")
            info = {"local": conn.local.address, "ifname": conn.ifname, "peer": conn.peer.address}
            conn.close()
            await handler.lost
            return info

        result: dict[str, Any] = run_async(go)
        return result

    return main


# --- tests -----------------------------------------------------------------------------


def test_link_local_session_exchanges_bytes(pair: Pair) -> None:
    with in_ns(pair.a, echo_server()) as server:
        server.wait_for("listening")
        with in_ns(pair.b, exchange_client(PeerTarget("fe80::a%tp-b", port=PORT))) as client:
            info = client.wait_for("result")
        accepted = server.wait_for("accepted")
    assert info == {"local": "fe80::b", "ifname": "tp-b", "peer": "fe80::a"}
    assert accepted["peer"] == "fe80::b" and accepted["ifname"] == "tp-a" and accepted["scope"] > 0


def test_md5_and_gtsm_session_over_link_local(pair: Pair) -> None:
    server_fn = echo_server(md5_peer="fe80::b%tp-a", md5_key=b"s3cret", gtsm_hops=1)
    with in_ns(pair.a, server_fn) as server:
        server.wait_for("listening")
        good = PeerTarget("fe80::a%tp-b", port=PORT, md5_key=b"s3cret", gtsm_hops=1)
        with in_ns(pair.b, exchange_client(good)) as client:
            assert client.wait_for("result")["peer"] == "fe80::a"
        # Without the key, or without GTSM (hop limit 64 < 255), the listener's kernel
        # drops the SYN: the attempt times out.
        no_key = PeerTarget("fe80::a%tp-b", port=PORT, gtsm_hops=1, connect_timeout=1.0)
        no_gtsm = PeerTarget("fe80::a%tp-b", port=PORT, md5_key=b"s3cret", connect_timeout=1.0)
        for bad in (no_key, no_gtsm):
            with in_ns(pair.b, exchange_client(bad)) as client, pytest.raises(AssertionError, match=TIMED_OUT):
                client.wait_for("result")


TIMED_OUT = r"ConnectError: cannot connect to \[fe80::a%tp-b\]:1790: timed out after 1s"


def test_backoff_retries_until_listener_appears(pair: Pair) -> None:
    def connector(report: Report) -> dict[str, Any]:
        attempts = 0

        def factory() -> Collect:
            nonlocal attempts
            attempts += 1
            report("attempt", attempts)
            return Collect()

        async def go() -> dict[str, Any]:
            target = PeerTarget("fe80::a%tp-b", port=PORT, connect_timeout=1.0)
            conn = await connect_with_retry(target, factory, backoff=Backoff(initial=0.1, maximum=0.4))
            conn.close()
            return {"attempts": attempts, "peer": conn.peer.address}

        result: dict[str, Any] = run_async(go)
        return result

    with in_ns(pair.b, connector) as client:
        client.wait_for("attempt")
        client.wait_for("attempt")
        client.wait_for("attempt")  # three attempts refused: nobody listens yet
        with in_ns(pair.a, echo_server()) as server:
            server.wait_for("listening")
            result = client.wait_for("result", timeout=10)
    assert result["peer"] == "fe80::a"
    assert result["attempts"] >= 4


def stuck_reader(report: Report) -> None:
    """Connect from B and never read (small receive buffer)."""
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"tp-b\0")
    s.settimeout(5)
    s.connect(("fe80::a", PORT, 0, socket.if_nametoindex("tp-b")))
    report("connected", None)
    # Hold the connection without reading; the parent kills this child when done.
    signal.sigtimedwait([signal.SIGUSR1], 30)


def flooding_server(mode: str) -> Callable[[Report], Any]:
    """Accept one connection and write into it until the transport drops it."""

    def main(report: Report) -> None:
        async def serve() -> None:
            limits = TransportLimits(
                max_buffer=512 * 1024,
                high_water=128 * 1024,
                low_water=32 * 1024,
                send_hold_time=1.0,
                check_interval=0.1,
            )
            done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

            class Flood:
                def connected(self, conn: Connection) -> None:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
                    asyncio.get_running_loop().create_task(self.flood(conn))

                async def flood(self, conn: Connection) -> None:
                    loop = asyncio.get_running_loop()
                    start = loop.time()
                    max_buffered = 0
                    try:
                        while not conn.is_closing:
                            conn.write(b"\x55" * 65536)
                            max_buffered = max(max_buffered, conn.buffered_bytes)
                            if mode == "drain":
                                await conn.drain()
                            else:
                                await asyncio.sleep(0)
                    except Exception as exc:
                        res: dict[str, Any] = {"error": type(exc).__name__, "text": str(exc)}
                    else:
                        res = {"error": "closed", "text": ""}
                    res["elapsed"] = loop.time() - start
                    res["max_buffered"] = max_buffered
                    if not done.done():
                        done.set_result(res)

                def data_received(self, data: bytes) -> None:
                    pass

                def connection_lost(self, exc: Exception | None) -> None:
                    report("lost", type(exc).__name__ if exc else None)

            lst = Listener(lambda conn: Flood(), port=PORT, limits=limits)
            await lst.start()
            report("listening", lst.port)
            report("outcome", await done)
            await lst.close()

        run_async(serve, timeout=25)

    return main


def test_send_hold_timer_drops_peer_that_stops_reading(pair: Pair) -> None:
    with in_ns(pair.a, flooding_server("drain")) as server:
        server.wait_for("listening")
        with in_ns(pair.b, stuck_reader) as peer:
            peer.wait_for("connected")
            outcome = server.wait_for("outcome", timeout=15)
    assert outcome["error"] == "SendHoldTimerExpired", outcome
    assert "acknowledged nothing" in outcome["text"]
    assert 1.0 <= outcome["elapsed"] < 8.0
    assert outcome["max_buffered"] <= 512 * 1024
    assert SendHoldTimerExpired.__name__ == outcome["error"]


def test_output_cap_drops_peer_instead_of_growing_memory(pair: Pair) -> None:
    with in_ns(pair.a, flooding_server("nodrain")) as server:
        server.wait_for("listening")
        with in_ns(pair.b, stuck_reader) as peer:
            peer.wait_for("connected")
            outcome = server.wait_for("outcome", timeout=15)
    assert outcome["error"] == "closed", outcome
    assert server.wait_for("lost") == OutputLimitExceeded.__name__
    assert outcome["max_buffered"] <= 512 * 1024


def ra_sender(interval: float) -> Callable[[Report], Any]:
    def main(report: Report) -> None:
        async def go() -> None:
            sender = RaSender("tp-a", interval=interval)
            sender.start()
            report("started", None)
            await _until(lambda: sender.solicitations > 0, 20, "a router solicitation")
            report("solicited", sender.solicitations)
            await _until(lambda: sender.sent >= 2, 10, "the answer RA")
            report("sent", sender.sent)
            await asyncio.Event().wait()  # keeps answering until the parent kills it
            await sender.stop()

        run_async(go, timeout=40)

    return main


def test_ra_answer_to_solicitation_reveals_sender_link_local(pair: Pair) -> None:
    def watcher(report: Report) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            raw = open_nd_socket("tp-b", {ICMPV6_ROUTER_ADVERT})  # to look at the bytes on the wire
            try:
                async for peer in watch_interface("tp-b", use_neighbour_table=False):
                    pkt = await _next_packet(raw)
                    adv = decode_router_advert(pkt.data)
                    return {
                        "address": peer.address,
                        "source": peer.source,
                        "lladdr": peer.lladdr,
                        "wire_source": pkt.source,
                        "wire_dest": pkt.destination,
                        "hop_limit": pkt.hop_limit,
                        "lifetime": adv.router_lifetime,
                        "checksum_field": int.from_bytes(pkt.data[2:4], "big"),
                        "checksum_ok": icmpv6_checksum(pkt.source, pkt.destination or "", pkt.data) == 0,
                    }
            finally:
                raw.close()
            raise AssertionError("watch_interface ended")

        result: dict[str, Any] = run_async(go)
        return result

    # A long interval: after its first RA, A only speaks again because B solicits.
    with in_ns(pair.a, ra_sender(interval=60.0)) as sender:
        sender.wait_for("started")
        with in_ns(pair.b, watcher) as watch:
            got = watch.wait_for("result", timeout=10)
        assert sender.wait_for("solicited") >= 1
    assert got["address"] == "fe80::a" and got["source"] == "ra" and got["lladdr"] == MAC_A
    assert got["wire_source"] == "fe80::a" and got["wire_dest"] == "ff02::1" and got["hop_limit"] == 255
    assert got["lifetime"] == 0
    # We sent checksum 0; the kernel filled in a correct one.
    assert got["checksum_field"] != 0 and got["checksum_ok"]


async def _next_packet(sock: socket.socket) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while loop.time() < deadline:
        pkt = recv_nd(sock)
        if pkt is not None:
            return pkt
        await asyncio.sleep(POLL_INTERVAL)
    raise AssertionError("no RA on the raw socket")


def test_neighbour_table_discovery(pair: Pair) -> None:
    # Traffic to fe80::a puts it in B's neighbour table; no RAs are sent here.
    netns.ns_exec(pair.b, "ping", "-6", "-c", "1", "-W", "2", "fe80::a%tp-b")

    def watcher(report: Report) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            table = [e.address for e in await link_local_neighbours("tp-b")]
            found: asyncio.Future[DiscoveredPeer] = asyncio.get_running_loop().create_future()

            def on_peer(peer: DiscoveredPeer) -> None:
                if not found.done():
                    found.set_result(peer)

            d = PeerDiscovery("tp-b", on_peer, solicit=False)
            d.start()
            try:
                peer = await found
            finally:
                await d.stop()
            return {"table": table, "address": peer.address, "source": peer.source, "lladdr": peer.lladdr}

        result: dict[str, Any] = run_async(go)
        return result

    with in_ns(pair.b, watcher) as watch:
        got = watch.wait_for("result", timeout=10)
    assert got["table"] == ["fe80::a"]
    assert got == {"table": ["fe80::a"], "address": "fe80::a", "source": "neighbour", "lladdr": MAC_A}


# --- interop: FRR's unnumbered peer finds us through our RAs ------------------------------

FRR_DIR = "/usr/lib/frr"
FRR_ZEBRA = """hostname tp-frr
log stdout informational
interface tp-b
 ipv6 nd ra-interval 1
 no ipv6 nd suppress-ra
exit
"""
FRR_BGPD = """hostname tp-frr
log stdout informational
router bgp 65002
 bgp router-id 203.0.113.2
 no bgp ebgp-requires-policy
 neighbor tp-b interface remote-as external
 neighbor tp-b timers connect 1
exit
"""


@contextlib.contextmanager
def frr_running(ns: str) -> Iterator[str]:
    """zebra + bgpd in ``ns`` with FRR_ZEBRA / FRR_BGPD; stopped by PID and cleaned up after."""
    rundir = tempfile.mkdtemp(prefix="v4v6-tp-frr-")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, text in (("zebra.conf", FRR_ZEBRA), ("bgpd.conf", FRR_BGPD)):
            with open(os.path.join(rundir, name), "w") as f:
                f.write(text)
        shutil.chown(rundir, "frr", "frr")
        for name in os.listdir(rundir):
            shutil.chown(os.path.join(rundir, name), "frr", "frr")
        common = ["-z", f"{rundir}/zserv.api", "--vty_socket", rundir, "-u", "frr", "-g", "frr", "-P", "0"]
        with open(os.path.join(rundir, "frr.log"), "wb") as logf:
            for daemon in ("zebra", "bgpd"):
                cmd = ["ip", "netns", "exec", ns, f"{FRR_DIR}/{daemon}", "-f", f"{rundir}/{daemon}.conf"]
                cmd += ["-i", f"{rundir}/{daemon}.pid", *common]
                procs.append(subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT))
                if daemon == "zebra":
                    netns.wait_until(lambda: os.path.exists(f"{rundir}/zserv.api"), 10, what="zebra socket")
        yield rundir
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        shutil.rmtree(rundir, ignore_errors=True)


@pytest.mark.interop
@pytest.mark.skipif(not os.path.exists(f"{FRR_DIR}/bgpd"), reason="needs FRR (Debian package frr)")
def test_frr_interface_peer_learns_us_from_our_ras_and_connects(pair: Pair) -> None:
    """FRR `neighbor IFACE interface` learns our link-local only from RAs: ours must do."""
    for ns in (pair.a, pair.b):
        netns.set_sysctls(ns, {"net.ipv6.conf.all.forwarding": 1})

    def us(report: Report) -> None:
        async def go() -> None:
            lst = Listener(lambda conn: FirstBytes(report), port=179)
            await lst.start()
            sender = RaSender("tp-a", interval=1.0)
            sender.start()
            disc = PeerDiscovery("tp-a", lambda p: report("discovered", [p.address, p.source]))
            disc.start()
            await asyncio.Event().wait()  # runs until the parent kills it

        run_async(go, timeout=40)

    with frr_running(pair.b), in_ns(pair.a, us) as child:
        discovered = child.wait_for("discovered", timeout=15)
        first = child.wait_for("first_bytes", timeout=15)
    assert discovered[0] == "fe80::b"
    assert first["peer"] == "fe80::b" and first["ifname"] == "tp-a"
    assert first["data"][:16] == b"\xff" * 16 and first["data"][18] == 1  # BGP OPEN


class FirstBytes:
    """Handler reporting the first bytes a peer sends (FRR's OPEN)."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.conn: Connection | None = None

    def connected(self, conn: Connection) -> None:
        self.conn = conn

    def data_received(self, data: bytes) -> None:
        if self.conn is not None and len(data) >= 19:
            self.report("first_bytes", {"peer": self.conn.peer.address, "ifname": self.conn.ifname, "data": data})
            self.conn.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pass
