"""Two PeerRunners connecting to each other at once: one session survives the race.

The runners speak through fake connections on a simulated clock. A seeded
scheduler delivers bytes, connection attempts, closes and timer firings in a
random order (each connection keeps its own byte order), which covers the
interleavings of RFC 4271 §6.8 collision handling that a real network produces
only now and then: both sides opening at once, one side already Established
while the other still resolves the collision, both connections closed by the
two sides. Whatever the order, both routers must end up Established on the same
connection within a bounded time, and a session lost later must come back.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

import pytest

from v4via6.config.model import BgpPeer
from v4via6.daemon import peer as peer_mod
from v4via6.daemon.peer import PeerRunner
from v4via6.transport.tcp import PeerTarget


@dataclass
class _Addr:
    address: str
    port: int


@dataclass(order=True)
class _Timer:
    when_: float
    seq: int
    fn: Callable[..., None] = field(compare=False)
    args: tuple[Any, ...] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True

    def when(self) -> float:
        return self.when_


class _Task:
    def __init__(self, coro: Coroutine[Any, Any, None]) -> None:
        self.coro = coro
        self._done = False
        self.callbacks: list[Callable[[Any], None]] = []

    def done(self) -> bool:
        return self._done

    def cancel(self) -> None:
        if not self._done:
            self.coro.close()
            self.finish()

    def add_done_callback(self, cb: Callable[[Any], None]) -> None:
        self.callbacks.append(cb)

    def run(self) -> None:
        if self._done:
            return
        try:
            self.coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - the fake connect never suspends
            raise AssertionError("fake connect suspended")
        self.finish()

    def finish(self) -> None:
        self._done = True
        for cb in self.callbacks:
            cb(self)


class _Conn:
    """One end of a fake TCP connection."""

    def __init__(self, net: _Net, local: str, remote: str) -> None:
        self.net = net
        self.local = _Addr(local, 179)
        self.peer = _Addr(remote, 179)
        self.ifname: str | None = None
        self.other: _Conn | None = None
        self.handler: Any = None
        self.closed = False
        self.inbox: deque[bytes | None] = deque()  # None: the peer closed

    @property
    def is_closing(self) -> bool:
        return self.closed

    def write(self, data: bytes) -> None:
        if not self.closed and self.other is not None and not self.other.closed:
            self.other.inbox.append(bytes(data))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.inbox.clear()
        self.net.pending_lost.append(self)  # our own connection_lost, soon
        if self.other is not None and not self.other.closed:
            self.other.inbox.append(None)

    async def drain(self) -> None:
        return None


class _Net:
    """The simulated world: a clock, timers, tasks and fake connections."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = 100.0
        self.seq = 0
        self.timers: list[_Timer] = []
        self.tasks: list[_Task] = []
        self.conns: list[_Conn] = []
        self.pending_lost: list[_Conn] = []
        self.runners: dict[str, PeerRunner] = {}  # address -> runner listening there

    # the loop interface PeerRunner uses
    def time(self) -> float:
        return self.now

    def call_later(self, delay: float, fn: Callable[..., None], *args: Any) -> _Timer:
        self.seq += 1
        timer = _Timer(self.now + delay, self.seq, fn, args)
        heapq.heappush(self.timers, timer)
        return timer

    def create_task(self, coro: Coroutine[Any, Any, None]) -> _Task:
        task = _Task(coro)
        self.tasks.append(task)
        return task

    async def open_connection(self, target: PeerTarget, handler: Any, *, limits: Any = None) -> _Conn:
        opener = next(addr for addr, r in self.runners.items() if str(r.address) == target.host)
        mine = _Conn(self, opener, target.host)
        theirs = _Conn(self, target.host, opener)
        mine.other, theirs.other = theirs, mine
        mine.handler = handler
        self.conns += [mine, theirs]
        theirs.handler = self.runners[target.host].accept(theirs)
        if theirs.handler is None:
            theirs.close()
        handler.connected(mine)
        return mine

    def step(self) -> bool:
        """Run one random ready thing; with nothing ready, move the clock. False: nothing at all."""
        ready: list[Callable[[], None]] = [task.run for task in self.tasks if not task.done()]
        for conn in self.pending_lost:
            ready.append(lambda c=conn: self._lost(c))
        for conn in self.conns:
            if conn.inbox and not conn.closed:
                ready.append(lambda c=conn: self._deliver(c))
        while self.timers and self.timers[0].cancelled:
            heapq.heappop(self.timers)
        if self.timers and self.timers[0].when_ <= self.now:
            ready.append(self._fire)
        if ready:
            self.rng.choice(ready)()
            self.tasks = [t for t in self.tasks if not t.done()]
            return True
        if not self.timers:
            return False
        self.now = max(self.now, self.timers[0].when_)
        return True

    def _fire(self) -> None:
        timer = heapq.heappop(self.timers)
        if not timer.cancelled:
            timer.fn(*timer.args)

    def _lost(self, conn: _Conn) -> None:
        self.pending_lost.remove(conn)
        if conn.handler is not None:
            conn.handler.connection_lost(None)

    def _deliver(self, conn: _Conn) -> None:
        item = conn.inbox.popleft()
        if item is None:  # the peer closed: our transport closes too
            conn.close()
            return
        if conn.handler is not None:
            # a reading side gets whatever the network coalesced, in order
            while conn.inbox and conn.inbox[0] is not None and self.rng.random() < 0.5:
                item += conn.inbox.popleft()  # type: ignore[operator]
            conn.handler.data_received(item)


def _runner(net: _Net, local: str, remote: str, asn: int, remote_as: int, rid: str) -> PeerRunner:
    cfg = BgpPeer(name=f"to-{remote_as}", address=remote, remote_as=remote_as, connect_retry=1.0, hold_time=9)

    def sink(_runner: PeerRunner, _events: list[Any]) -> None:
        return None

    runner = PeerRunner(cfg.name or "", cfg, asn, IPv4Address(rid), sink, rng=random.Random(net.rng.random()))
    runner._now = net.time  # type: ignore[method-assign]
    net.runners[local] = runner
    return runner


def _start(net: _Net, runner: PeerRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asyncio, "get_running_loop", lambda: net)
    runner.start()


def _joined(a: PeerRunner, b: PeerRunner) -> bool:
    """Both Established, over the two ends of one connection."""
    if not (a.established and b.established):
        return False
    ca, cb = a.local_endpoint, b.local_endpoint
    return ca is not None and getattr(ca, "other", None) is cb


def _run_until(net: _Net, cond: Callable[[], bool], seconds: float, steps: int = 20000) -> float | None:
    start = net.now
    for _ in range(steps):
        if cond():
            return net.now - start
        if net.now - start > seconds or not net.step():
            break
    return net.now - start if cond() else None


def _pair(seed: int, monkeypatch: pytest.MonkeyPatch) -> tuple[_Net, PeerRunner, PeerRunner]:
    net = _Net(seed)
    _NETS.append(net)
    monkeypatch.setattr(peer_mod, "open_connection", net.open_connection)
    a = _runner(net, "2001:db8::1", "2001:db8::2", 65001, 65002, "203.0.113.1")
    b = _runner(net, "2001:db8::2", "2001:db8::1", 65002, 65001, "203.0.113.2")
    _start(net, a, monkeypatch)
    _start(net, b, monkeypatch)
    return net, a, b


_NETS: list[_Net] = []


@pytest.fixture(autouse=True)
def _close_tasks() -> Iterator[None]:
    """Connection attempts still pending when a test ends are dropped, not left unawaited."""
    yield
    while _NETS:
        for task in _NETS.pop().tasks:
            task.cancel()


@pytest.mark.parametrize("seed", range(300))
def test_simultaneous_open_ends_with_one_session(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    net, a, b = _pair(seed, monkeypatch)
    took = _run_until(net, lambda: _joined(a, b), seconds=20)
    assert took is not None, (
        f"seed {seed}: not joined after 20 s: a={a.session.state.value} "
        f"({a.status.last_down_reason}), b={b.session.state.value} ({b.status.last_down_reason})"
    )
    # and it stays that way: the other connection is gone, nothing flaps
    for _ in range(200):
        if not net.step():
            break
    assert _joined(a, b)
    assert sum(1 for c in net.conns if not c.closed) == 2


@pytest.mark.parametrize("seed", range(60))
def test_session_lost_after_collision_comes_back(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whichever side's connection survived (ours or the peer's), losing it later reconnects."""
    net, a, b = _pair(seed, monkeypatch)
    assert _run_until(net, lambda: _joined(a, b), seconds=20) is not None
    victim = a if seed % 2 else b
    conn = victim.local_endpoint
    assert conn is not None
    conn.close()  # the TCP connection breaks without a NOTIFICATION
    assert _run_until(net, lambda: not a.established or not b.established, seconds=5) is not None
    took = _run_until(net, lambda: _joined(a, b), seconds=30)
    assert took is not None, (
        f"seed {seed}: no session after the loss: a={a.session.state.value}, b={b.session.state.value}"
    )
