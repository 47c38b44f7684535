"""Two sessions back-to-back in memory: 100,000 routes, End-of-RIB, clean teardown.

No sockets, no sleeps: bytes of one session are fed to the other, time is a
number the test advances. Prefix keys here only live in memory.
"""

from __future__ import annotations

import itertools
import math
import time
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v4via6.bgp import events as ev
from v4via6.bgp.fsm import State
from v4via6.bgp.session import Session, SessionConfig
from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Notification,
    PathAttributes,
    make_attributes,
)

ROUTES = 100_000
NEXTHOPS = (
    BgpNextHop(None, IPv6Address("fe80::1")),
    BgpNextHop(IPv6Address("2001:db8::1"), IPv6Address("fe80::1")),
)
ATTR_SETS = tuple(
    make_attributes(origin=i % 3, as_path=((2, (65001, 64512 + i)),), med=i,
                    communities=((65001 << 16) | i,))
    for i in range(20)
)


class Link:
    """Two sessions and the bytes between them, with a fake clock."""

    def __init__(self, a: SessionConfig, b: SessionConfig) -> None:
        self.now = 0.0
        self.a, self.b = Session(a), Session(b)
        self.events: dict[Session, list[ev.Event]] = {self.a: [], self.b: []}
        self.updates: dict[Session, int] = {self.a: 0, self.b: 0}

    def peer(self, s: Session) -> Session:
        return self.b if s is self.a else self.a

    def up(self) -> None:
        for s in (self.a, self.b):
            self.events[s] += s.start(self.now)
        for s in (self.a, self.b):
            self.events[s] += s.connection_made(self.now)
        self.pump()
        assert self.a.state is State.ESTABLISHED and self.b.state is State.ESTABLISHED

    def pump(self, chunk: int = 65536) -> None:
        for _ in range(1000):
            moved = False
            for src in (self.a, self.b):
                data = src.data_to_send()
                dst = self.peer(src)
                self.updates[src] += _count_updates(data)
                for i in range(0, len(data), chunk):
                    self.events[dst] += dst.receive_data(data[i : i + chunk], self.now)
                moved = moved or bool(data)
                if any(isinstance(e, ev.DisconnectRequested) for e in self.events[src]):
                    self.events[dst] += dst.connection_lost(self.now)
            if not moved:
                return
        raise AssertionError("pump did not settle")

    def of(self, s: Session, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events[s] if isinstance(e, kind)]


def _count_updates(data: bytes) -> int:
    n, i = 0, 0
    while i + 19 <= len(data):
        n += data[i + 18] == 2
        i += int.from_bytes(data[i + 16 : i + 18], "big")
    return n


def configs(extended_message: bool = True) -> tuple[SessionConfig, SessionConfig]:
    a = SessionConfig(65001, IPv4Address("192.0.2.1"), "external", hold_time=90,
                      extended_message=extended_message)
    b = SessionConfig(65002, IPv4Address("192.0.2.2"), 65001, hold_time=90, passive=True)
    return a, b


def table() -> dict[int, tuple[PathAttributes, BgpNextHop]]:
    """100,000 distinct /24 and /32 keys over 20 attribute sets and 2 next hops."""
    out: dict[int, tuple[PathAttributes, BgpNextHop]] = {}
    for i in range(ROUTES):
        # three /24s of every four under 10/8, the rest /32s under 100.64/10
        key = ((((10 << 24) | (i << 8)) << 8) | 24 if i % 4
               else (((100 << 24) | (64 << 16) | i) << 8) | 32)
        out[key] = (ATTR_SETS[i % len(ATTR_SETS)], NEXTHOPS[(i // 7) % 2])
    assert len(out) == ROUTES
    return out


@pytest.mark.parametrize("extended_message", [True, False])
def test_100k_routes_and_end_of_rib(extended_message: bool) -> None:
    link = Link(*configs(extended_message))
    link.up()
    routes = table()
    anns = [Announcement(1, 1, nh, attrs, (key,)) for key, (attrs, nh) in routes.items()]
    start = time.perf_counter()
    messages = link.a.send_routes(anns)
    link.a.send_end_of_rib(1, 1)
    link.pump()
    elapsed = time.perf_counter() - start

    got: dict[int, tuple[PathAttributes, BgpNextHop]] = {}
    order: list[ev.Event] = []
    for e in ev.expand_runs(link.events[link.b]):
        if isinstance(e, ev.RoutesReceived):
            assert (e.afi, e.safi) == (1, 1)
            for key in e.keys:
                assert key not in got
                got[key] = (e.attrs, e.nexthop)
            order.append(e)
        elif isinstance(e, ev.EndOfRib | ev.UpdateProblem | ev.SessionDown):
            order.append(e)
    assert got == routes
    assert isinstance(order[-1], ev.EndOfRib) and order[-1] == ev.EndOfRib(1, 1)
    assert not link.of(link.b, ev.UpdateProblem) and not link.of(link.b, ev.SessionDown)

    # Packing: at most one partly-filled message per (attrs, next hop) group.
    groups = len(ATTR_SETS) * len(NEXTHOPS)
    nlri_bytes = sum(1 + (((k & 0xFF) + 7) >> 3) for k in routes)
    room = (65535 if extended_message else 4096) - 200
    assert messages <= math.ceil(nlri_bytes / room) + groups
    assert link.updates[link.a] == messages + 1  # + End-of-RIB
    assert link.b.counters.prefixes_received == ROUTES
    print(f"\n{ROUTES} routes in {messages} UPDATEs (extended_message={extended_message}) "
          f"encode+decode {elapsed:.2f} s = {ROUTES / elapsed:,.0f} prefixes/s")

    # Clean teardown on NOTIFICATION.
    link.events[link.a] += link.a.stop(Notification(6, 2), now=1)
    link.pump()
    (down_b,) = link.of(link.b, ev.SessionDown)
    assert isinstance(down_b, ev.SessionDown)
    assert down_b.was_established and down_b.notification_received == Notification(6, 2)
    assert link.a.state is State.IDLE and link.b.state is State.IDLE


def test_hold_timer_expiry_with_fake_clock_after_exchange() -> None:
    link = Link(*configs())
    link.up()
    link.a.announce(1, 1, ATTR_SETS[0], NEXTHOPS[0], list(table())[:1000])
    link.pump()
    assert link.b.counters.prefixes_received == 1000
    # Keepalives flow for ten minutes of fake time: still up.
    while link.now < 600:
        link.now += 7
        for s in (link.a, link.b):
            deadline = s.next_deadline()
            if deadline is not None and deadline <= link.now:
                link.events[s] += s.handle_timer(link.now)
        link.pump()
    assert link.a.established and link.b.established
    # B's bytes stop reaching A (A's still reach B): A's hold timer fires 90 s later.
    silent_from = link.now
    while link.a.established:
        link.now += 1
        link.events[link.a] += link.a.handle_timer(link.now)
        link.events[link.b] += link.b.handle_timer(link.now)
        link.events[link.b] += link.b.receive_data(link.a.data_to_send(), link.now)
        link.b.data_to_send()  # lost on the way to A
        assert link.now < silent_from + 200
    assert 60 <= link.now - silent_from <= 91
    (down_a,) = link.of(link.a, ev.SessionDown)
    assert isinstance(down_a, ev.SessionDown)
    assert down_a.notification_sent == Notification(4, 0) and down_a.was_established
    link.pump()
    (down_b,) = link.of(link.b, ev.SessionDown)
    assert isinstance(down_b, ev.SessionDown)
    assert down_b.notification_received == Notification(4, 0)


def _stream() -> tuple[SessionConfig, bytes]:
    """A's whole side of a session (OPEN .. End-of-RIB) as one byte string, and B's config."""
    link = Link(*configs())
    link.events[link.a] += link.a.start(0) + link.a.connection_made(0)
    link.events[link.b] += link.b.start(0) + link.b.connection_made(0)
    stream = bytearray(link.a.data_to_send())
    link.a.receive_data(link.b.data_to_send(), 0)
    link.b.receive_data(bytes(stream), 0)
    link.a.receive_data(link.b.data_to_send(), 0)
    assert link.a.established
    keys = list(table())[:3000]
    for i, attrs in enumerate(ATTR_SETS[:5]):
        link.a.announce(1, 1, attrs, NEXTHOPS[i % 2], keys[i * 600 : (i + 1) * 600])
    link.a.withdraw(1, 1, keys[:100])
    link.a.send_end_of_rib(1, 1)
    stream += link.a.data_to_send()
    return link.b.config, bytes(stream)


B_CONFIG, STREAM = _stream()


def _feed(cuts: list[int]) -> list[ev.Event]:
    b = Session(B_CONFIG)
    out = b.start(0) + b.connection_made(0)
    b.data_to_send()
    bounds = sorted({c % len(STREAM) for c in cuts} | {0, len(STREAM)})
    for lo, hi in itertools.pairwise(bounds):
        out += b.receive_data(STREAM[lo:hi], 0)
    return ev.expand_runs(out)  # a read's run of UPDATEs depends on where reads end


WHOLE = _feed([])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10**6), max_size=40))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    assert _feed(cuts) == WHOLE
