"""Sans-IO session: two Sessions wired back-to-back in memory with a fake clock."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address, IPv6Address

import pytest

from v4via6.bgp import events as ev
from v4via6.bgp.fsm import State
from v4via6.bgp.session import Session, SessionConfig, SessionError
from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Context,
    Keepalive,
    Notification,
    Open,
    cap_four_octet_as,
    cap_multiprotocol,
    encode,
    encode_updates,
    key_of,
    make_attributes,
)
from v4via6.bgp.wire.framing import header

RID_A = IPv4Address("192.0.2.1")
RID_B = IPv4Address("192.0.2.2")
LL = BgpNextHop(None, IPv6Address("fe80::1"))
ATTRS = make_attributes(origin=0, as_path=((2, (65001,)),))


def cfg_a(**kw: object) -> SessionConfig:
    base = SessionConfig(65001, RID_A, 65002, hold_time=90)
    return replace(base, **kw)  # type: ignore[arg-type]


def cfg_b(**kw: object) -> SessionConfig:
    base = SessionConfig(65002, RID_B, 65001, hold_time=30, passive=True)
    return replace(base, **kw)  # type: ignore[arg-type]


class Pair:
    """Two sessions, one in-memory connection, one fake clock."""

    def __init__(self, a: SessionConfig | None = None, b: SessionConfig | None = None) -> None:
        self.now = 0.0
        self.a = Session(a or cfg_a())
        self.b = Session(b or cfg_b())
        self.events: dict[Session, list[ev.Event]] = {self.a: [], self.b: []}
        self.closing: set[Session] = set()

    def other(self, s: Session) -> Session:
        return self.b if s is self.a else self.a

    def record(self, s: Session, events: list[ev.Event]) -> list[ev.Event]:
        self.events[s].extend(events)
        for e in events:
            if isinstance(e, ev.DisconnectRequested):
                self.closing.add(s)
        return events

    def connect(self) -> None:
        self.record(self.a, self.a.start(self.now))
        self.record(self.b, self.b.start(self.now))
        self.record(self.a, self.a.connection_made(self.now))
        self.record(self.b, self.b.connection_made(self.now))
        self.pump()

    def pump(self, chunk: int = 65536, rounds: int = 100) -> None:
        """Move bytes both ways until nothing moves; a closing side's peer sees EOF."""
        for _ in range(rounds):
            moved = False
            for src in (self.a, self.b):
                data = src.data_to_send()
                dst = self.other(src)
                for i in range(0, len(data), chunk):
                    self.record(dst, dst.receive_data(data[i : i + chunk], self.now))
                moved = moved or bool(data)
            for s in list(self.closing):
                self.closing.discard(s)
                self.record(self.other(s), self.other(s).connection_lost(self.now))
            if not moved:
                return
        raise AssertionError("pump did not settle")

    def advance(self, to: float, *, deliver: bool = True) -> None:
        self.now = to
        for s in (self.a, self.b):
            deadline = s.next_deadline()
            if deadline is not None and deadline <= to:
                self.record(s, s.handle_timer(to))
        if deliver:
            self.pump()

    def of(self, s: Session, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in ev.expand_runs(self.events[s]) if isinstance(e, kind)]

    def downs(self, s: Session) -> list[ev.SessionDown]:
        return [e for e in self.events[s] if isinstance(e, ev.SessionDown)]


def routes(events: list[ev.Event]) -> list[ev.RoutesReceived]:
    """The announcements among ``events`` (a fast-path run counts as its UPDATEs)."""
    return [e for e in ev.expand_runs(events) if isinstance(e, ev.RoutesReceived)]


def established_pair(a: SessionConfig | None = None, b: SessionConfig | None = None) -> Pair:
    p = Pair(a, b)
    p.connect()
    assert p.a.state is State.ESTABLISHED, p.events[p.a]
    assert p.b.state is State.ESTABLISHED, p.events[p.b]
    return p


def raw_open(my_as: int = 65001, hold: int = 90, bgp_id: str = "192.0.2.1",
             version: int = 4, asn4: int | None = 65001,
             other: tuple[tuple[int, bytes], ...] = ()) -> bytes:
    caps = [cap_multiprotocol(1, 1)]
    if asn4 is not None:
        caps.append(cap_four_octet_as(asn4))
    data = encode(Open(my_as, hold, IPv4Address(bgp_id), tuple(caps), 4, None, False, other))
    if version != 4:
        data = data[:19] + bytes((version,)) + data[20:]
    return data


def opensent_b(**kw: object) -> tuple[Session, list[ev.Event]]:
    """Session B (passive) with a connection, waiting in OpenSent for the peer's OPEN."""
    b = Session(cfg_b(**kw))
    events = b.start(0.0) + b.connection_made(0.0)
    assert b.state is State.OPEN_SENT
    b.data_to_send()
    return b, events


def notification_sent(events: list[ev.Event]) -> Notification | None:
    for e in events:
        if isinstance(e, ev.SessionDown):
            return e.notification_sent
    return None


# --------------------------------------------------------------------------- establishment


def test_establish_and_negotiate() -> None:
    p = established_pair()
    (up_a,) = p.of(p.a, ev.SessionUp)
    (up_b,) = p.of(p.b, ev.SessionUp)
    assert isinstance(up_a, ev.SessionUp) and isinstance(up_b, ev.SessionUp)
    for up, peer_as, peer_id in ((up_a, 65002, RID_B), (up_b, 65001, RID_A)):
        n = up.negotiated
        assert n.peer_as == peer_as and n.peer_router_id == peer_id
        assert n.hold_time == 30 and n.keepalive_time == 10
        assert n.four_octet_as and n.extended_message and n.route_refresh
        assert n.extended_nexthop == {(1, 1, 2)}
        assert n.families == {(1, 1)}
        assert n.context.max_len == 65535
    states = [(e.old, e.new) for e in p.of(p.a, ev.StateChanged)
              if isinstance(e, ev.StateChanged)]
    assert states == [(State.IDLE, State.CONNECT), (State.CONNECT, State.OPEN_SENT),
                      (State.OPEN_SENT, State.OPEN_CONFIRM),
                      (State.OPEN_CONFIRM, State.ESTABLISHED)]
    assert p.a.counters.established == 1


def test_byte_at_a_time_delivery_establishes() -> None:
    p = Pair()
    p.record(p.a, p.a.start(0))
    p.record(p.b, p.b.start(0))
    p.record(p.a, p.a.connection_made(0))
    p.record(p.b, p.b.connection_made(0))
    p.pump(chunk=1)
    assert p.a.established and p.b.established


def test_extended_nexthop_offered_by_one_side_only_is_not_enabled() -> None:
    p = established_pair(b=cfg_b(extended_nexthop=()))
    for s in (p.a, p.b):
        assert s.negotiated is not None
        assert s.negotiated.extended_nexthop == frozenset()
    with pytest.raises(SessionError, match="extended next hop"):
        p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    # A peer that sends it anyway: not installed, reported, session stays up.
    ctx = Context(extended_nexthop=frozenset({(1, 1, 2)}))
    keys = (key_of("198.51.100.0/24"), key_of("203.0.113.0/24"))
    wire = b"".join(encode_updates([Announcement(1, 1, LL, ATTRS, keys)], ctx))
    events = p.b.receive_data(wire, 1.0)
    assert not routes(events)
    (problem,) = [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert problem.kind is ev.ProblemKind.NEXTHOP_NOT_NEGOTIATED
    assert set(problem.keys) == {key_of("198.51.100.0/24"), key_of("203.0.113.0/24")}
    withdrawn = [e for e in events if isinstance(e, ev.RoutesWithdrawn)]
    assert withdrawn and set(withdrawn[0].keys) == set(problem.keys)
    assert p.b.established
    assert p.b.counters.problems == {"ipv6-nexthop-for-ipv4-not-negotiated": 1}


def test_two_octet_only_peer_and_as_trans() -> None:
    big = 4_200_000_001
    p = established_pair(
        a=cfg_a(local_as=big, remote_as=65002),
        b=cfg_b(four_octet_as=False, remote_as=23456),
    )
    assert p.b.peer_open is not None and p.b.peer_open.my_as == 23456
    na, nb = p.a.negotiated, p.b.negotiated
    assert na is not None and nb is not None
    assert not na.four_octet_as and not nb.four_octet_as
    assert na.peer_as == 65002 and nb.peer_as == 23456
    attrs = make_attributes(origin=0, as_path=((2, (big, 64999)),))
    p.a.announce(1, 1, attrs, LL, [key_of("198.51.100.0/24")])
    wire = p.a.data_to_send()
    assert (23456).to_bytes(2, "big") in wire and big.to_bytes(4, "big") in wire  # AS4_PATH
    events = p.b.receive_data(wire, 1.0)
    (got,) = routes(events)
    assert got.attrs.as_path == ((2, (big, 64999)),)


def test_peer_as_expectations() -> None:
    # external: any AS but ours; internal: ours.
    p = established_pair(b=cfg_b(remote_as="external"))
    assert p.b.negotiated is not None and p.b.negotiated.peer_as == 65001
    b, _ = opensent_b(remote_as="internal")
    events = b.receive_data(raw_open(), 0)
    n = notification_sent(events)
    assert n is not None and (n.code, n.subcode) == (2, 2)


@pytest.mark.parametrize(
    ("data", "expected", "config"),
    [
        (raw_open(my_as=65009, asn4=65009), (2, 2), {}),  # not the configured remote AS
        (raw_open(my_as=0, asn4=None), (2, 2), {"remote_as": None}),  # AS 0 (RFC 7607)
        (raw_open(my_as=65001, asn4=65005), (2, 2), {"remote_as": None}),  # fields disagree
        (raw_open(bgp_id="0.0.0.0"), (2, 3), {}),  # BGP identifier 0
        (raw_open(my_as=65002, asn4=65002, bgp_id="192.0.2.2"), (2, 3),
         {"remote_as": "internal"}),  # iBGP peer with our router id
        (raw_open(hold=1), (2, 6), {}),
        (raw_open(hold=2), (2, 6), {}),
        (raw_open(version=3), (2, 1), {}),
        (raw_open(other=((1, b"\x01\x02"),)), (2, 4), {}),  # unsupported optional parameter
    ],
)
def test_open_errors(data: bytes, expected: tuple[int, int], config: dict[str, object]) -> None:
    b, _ = opensent_b(**config)
    events = b.receive_data(data, 0)
    assert b.state is State.IDLE
    n = notification_sent(events)
    assert n is not None and (n.code, n.subcode) == expected
    if expected == (2, 1):
        assert n.data == b"\x00\x04"  # largest version we support
    wire = b.data_to_send()
    assert wire[18] == 3 and wire[19:21] == bytes(expected)
    assert any(isinstance(e, ev.DisconnectRequested) for e in events)
    (down,) = [e for e in events if isinstance(e, ev.SessionDown)]
    assert not down.was_established
    assert b.next_deadline() is not None  # automatic restart scheduled


def test_hold_time_zero_means_no_keepalives() -> None:
    p = established_pair(b=cfg_b(hold_time=0))
    assert p.a.negotiated is not None and p.a.negotiated.hold_time == 0
    assert p.a.next_deadline() is None and p.b.next_deadline() is None
    p.advance(10_000)
    assert p.a.established and p.b.established
    assert p.a.counters.messages_sent.get("KEEPALIVE") == 1  # only the OpenSent one


# --------------------------------------------------------------------------- timers


def test_keepalives_hold_the_session_up() -> None:
    p = established_pair()
    t = 0.0
    while t < 600:
        t += 5
        p.advance(t)
    assert p.a.established and p.b.established
    assert p.a.counters.messages_sent["KEEPALIVE"] >= 600 // 10
    assert not p.downs(p.a) and not p.downs(p.b)


def test_hold_timer_expiry_tears_down_both_sides() -> None:
    p = established_pair()
    deadline = p.a.next_deadline()
    assert deadline is not None
    # A hears nothing for a whole hold time (B's keepalives are never delivered).
    t = 0.0
    while p.a.established:
        t += 1
        p.now = t
        p.record(p.a, p.a.handle_timer(t))
        p.b.data_to_send()
        assert t < 1000
    assert t == pytest.approx(30, abs=1.01)
    (down_a,) = p.downs(p.a)
    assert down_a.was_established
    assert down_a.notification_sent == Notification(4, 0)
    p.pump()
    (down_b,) = p.downs(p.b)
    assert down_b.notification_received == Notification(4, 0)
    assert p.b.state is State.IDLE


def test_connect_retry_and_restart_backoff() -> None:
    s = Session(cfg_a(connect_retry_time=30, idle_hold_time=5, timer_jitter=0.0))
    events = s.start(0)
    assert any(isinstance(e, ev.ConnectRequested) for e in events)
    assert s.state is State.CONNECT and s.next_deadline() == 30
    events = s.handle_timer(30)
    kinds = [type(e) for e in events]
    assert kinds.index(ev.DisconnectRequested) < kinds.index(ev.ConnectRequested)
    assert s.state is State.CONNECT
    # The attempt fails: Idle, automatic restart after 5 s, then 10 s, then 20 s.
    delays: list[float] = []
    t = 30.0
    for _ in range(3):
        s.connection_lost(t)
        state: State = s.state
        assert state is State.IDLE
        deadline = s.next_deadline()
        assert deadline is not None
        delays.append(deadline - t)
        t = deadline
        events = s.handle_timer(t)
        assert any(isinstance(e, ev.ConnectRequested) for e in events)
    assert delays == [5, 10, 20]


def test_retry_timers_are_jittered_between_three_quarters_and_full() -> None:
    """RFC 4271 §10: two speakers failing together do not retry in lockstep."""
    starts: set[float] = set()
    restarts: set[float] = set()
    for seed in range(50):
        s = Session(cfg_a(connect_retry_time=8, idle_hold_time=4), rng=random.Random(seed))
        s.start(0)
        deadline = s.next_deadline()
        assert deadline is not None and 6 <= deadline <= 8
        starts.add(deadline)
        s.connection_lost(1)
        deadline = s.next_deadline()
        assert deadline is not None and 1 + 3 <= deadline <= 1 + 4
        restarts.add(deadline)
    assert len(starts) == len(restarts) == 50


def test_bad_timer_jitter_is_refused() -> None:
    with pytest.raises(SessionError, match="timer_jitter"):
        cfg_a(timer_jitter=1.0)


def test_passive_session_never_connects() -> None:
    s = Session(cfg_b())
    events = s.start(0)
    assert s.state is State.ACTIVE
    assert not any(isinstance(e, ev.ConnectRequested) for e in events)
    assert s.next_deadline() is None


def test_connection_offered_while_idle_is_refused() -> None:
    s = Session(cfg_b())
    events = s.connection_made(0)
    assert [type(e) for e in events] == [ev.DisconnectRequested]
    assert s.state is State.IDLE


# --------------------------------------------------------------------------- teardown


def test_stop_sends_cease_and_peer_restarts() -> None:
    p = established_pair()
    p.record(p.a, p.a.stop(now=1))
    p.pump()
    (down_a,) = p.downs(p.a)
    (down_b,) = p.downs(p.b)
    assert down_a.notification_sent == Notification(6, 2)
    assert down_b.notification_received == Notification(6, 2)
    assert down_a.was_established and down_b.was_established
    assert p.a.next_deadline() is None  # manual stop: no automatic restart
    deadline = p.b.next_deadline()
    assert deadline is not None
    p.advance(deadline)
    assert p.b.state is State.ACTIVE  # passive side listens again


def test_stop_with_shutdown_communication() -> None:
    p = established_pair()
    msg = b"\x0bmaintenance"
    p.a.stop(Notification(6, 2, msg), now=1)
    p.pump()
    (down_b,) = p.downs(p.b)
    assert down_b.notification_received == Notification(6, 2, msg)
    with pytest.raises(SessionError):
        Session(cfg_a()).stop(Notification(3, 1))


def test_connection_lost_in_established() -> None:
    p = established_pair()
    events = p.a.connection_lost(5)
    (down,) = [e for e in events if isinstance(e, ev.SessionDown)]
    assert down.was_established and down.notification_sent is None
    assert p.a.state is State.IDLE
    assert p.a.data_to_send() == b""


# --------------------------------------------------------------------------- bad input


def test_header_errors() -> None:
    for data, expected in [
        (b"\x00" * 16 + b"\x00\x13\x04", (1, 1)),
        (b"\xff" * 16 + b"\x00\x12\x04", (1, 2)),
        (b"\xff" * 16 + b"\x00\x13\x09", (1, 3)),
        (b"\xff" * 16 + b"\x00\x14\x04\x00", (1, 2)),  # KEEPALIVE of 20 bytes
    ]:
        p = established_pair()
        events = p.b.receive_data(data, 1)
        n = notification_sent(events)
        assert n is not None and (n.code, n.subcode) == expected
        if expected == (1, 2):
            assert n.data == data[16:18]
        assert p.b.state is State.IDLE


def test_messages_before_a_bad_header_are_processed() -> None:
    p = established_pair()
    p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    events = p.b.receive_data(p.a.data_to_send() + b"\x00" * 19, 1)
    assert routes(events)
    assert notification_sent(events) == Notification(1, 1)


def test_unexpected_update_in_openconfirm_is_fsm_error() -> None:
    b, _ = opensent_b()
    b.receive_data(raw_open(), 0)
    assert b.state is State.OPEN_CONFIRM
    events = b.receive_data(header(2, 4) + b"\x00\x00\x00\x00", 0)
    assert notification_sent(events) == Notification(5, 2)


def test_keepalive_before_open_is_fsm_error() -> None:
    b, _ = opensent_b()
    events = b.receive_data(encode(Keepalive()), 0)
    assert notification_sent(events) == Notification(5, 1)


def test_open_in_established_is_fsm_error() -> None:
    p = established_pair()
    events = p.b.receive_data(raw_open(), 1)
    assert notification_sent(events) == Notification(5, 3)


def test_input_flood_is_refused() -> None:
    p = established_pair(b=cfg_b(max_input_buffer=200_000))
    events = p.b.receive_data(b"\xff" * 200_001, 1)
    assert notification_sent(events) == Notification(6, 8)
    assert p.b.counters.input_overflows == 1
    assert p.b.state is State.IDLE


def test_partial_message_stays_buffered() -> None:
    p = established_pair()
    p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    wire = p.a.data_to_send()
    assert p.b.receive_data(wire[:30], 1) == []
    events = p.b.receive_data(wire[30:], 1)
    assert routes(events)


def _update(attrs: bytes, nlri: bytes = b"\x18\xc6\x33\x64") -> bytes:
    body = b"\x00\x00" + len(attrs).to_bytes(2, "big") + attrs + nlri
    return header(2, len(body)) + body


ORIGIN_IGP = b"\x40\x01\x01\x00"
AS_PATH_1 = b"\x40\x02\x06\x02\x01\x00\x00\xfd\xe9"
NEXT_HOP_V4 = b"\x40\x03\x04\xc0\x00\x02\x01"


def test_rfc7606_treat_as_withdraw_keeps_session() -> None:
    p = established_pair()
    bad_origin = b"\x40\x01\x01\x07"
    events = p.b.receive_data(_update(bad_origin + AS_PATH_1 + NEXT_HOP_V4), 1)
    assert p.b.established
    assert not routes(events)
    (w,) = [e for e in events if isinstance(e, ev.RoutesWithdrawn)]
    assert w.keys == (key_of("198.51.100.0/24"),)
    (problem,) = [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert problem.kind is ev.ProblemKind.TREAT_AS_WITHDRAW
    assert problem.keys == w.keys
    assert "ORIGIN" in problem.reason


def test_rfc7606_attribute_discard_keeps_routes() -> None:
    p = established_pair()
    bad_aggregator = b"\xc0\x07\x03\x00\x00\x01"
    events = p.b.receive_data(_update(ORIGIN_IGP + AS_PATH_1 + NEXT_HOP_V4 + bad_aggregator), 1)
    assert p.b.established
    (got,) = routes(events)
    assert got.attrs.aggregator is None
    assert got.nexthop == BgpNextHop(IPv4Address("192.0.2.1"))
    (problem,) = [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert problem.kind is ev.ProblemKind.ATTRIBUTE_DISCARD


def test_rfc7606_session_reset_sends_notification() -> None:
    p = established_pair()
    mp = b"\x90\x0e\x00\x15\x00\x01\x01\x10" + bytes(IPv6Address("fe80::1").packed) + b"\x00"
    events = p.b.receive_data(_update(ORIGIN_IGP + AS_PATH_1 + mp + mp, b""), 1)
    n = notification_sent(events)
    assert n is not None and (n.code, n.subcode) == (3, 1)
    (down,) = [e for e in events if isinstance(e, ev.SessionDown)]
    assert down.was_established and "UPDATE error" in down.reason
    p.pump()
    (down_a,) = p.downs(p.a)
    assert down_a.notification_received is not None
    assert down_a.notification_received.code == 3


# --------------------------------------------------------------------------- sending


def test_announce_withdraw_end_of_rib_refresh() -> None:
    p = established_pair()
    keys = [key_of(f"198.51.{i}.0/24") for i in range(10)]
    assert p.a.announce(1, 1, ATTRS, LL, keys) == 1
    p.a.withdraw(1, 1, keys[:3])
    p.a.send_end_of_rib(1, 1)
    p.a.send_route_refresh(1, 1)
    p.pump()
    got = p.of(p.b, ev.RoutesReceived)
    assert len(got) == 1 and isinstance(got[0], ev.RoutesReceived)
    assert got[0].keys == tuple(keys) and got[0].nexthop == LL and got[0].attrs == ATTRS
    (w,) = p.of(p.b, ev.RoutesWithdrawn)
    assert isinstance(w, ev.RoutesWithdrawn) and w.keys == tuple(keys[:3])
    assert p.of(p.b, ev.EndOfRib) == [ev.EndOfRib(1, 1)]
    assert p.of(p.b, ev.RouteRefreshRequested) == [ev.RouteRefreshRequested(1, 1, 0)]
    assert p.a.counters.prefixes_sent == 10 and p.b.counters.prefixes_received == 10
    assert p.b.counters.prefixes_withdrawn_received == 3


def test_send_routes_groups_by_attribute_set() -> None:
    p = established_pair()
    other = make_attributes(origin=0, as_path=((2, (65001, 65010)),), med=5)
    anns = []
    for i in range(200):
        attrs = ATTRS if i % 2 else other
        anns.append(Announcement(1, 1, LL, attrs, (key_of(f"198.51.{i}.0/24"),)))
    assert p.a.send_routes(anns) == 2
    p.pump()
    got = p.of(p.b, ev.RoutesReceived)
    assert sorted(len(e.keys) for e in got if isinstance(e, ev.RoutesReceived)) == [100, 100]


def test_sending_requires_established_and_negotiated_family() -> None:
    s = Session(cfg_a())
    with pytest.raises(SessionError, match="not Established"):
        s.announce(1, 1, ATTRS, LL, [1])
    p = established_pair()
    with pytest.raises(SessionError, match="not negotiated"):
        p.a.announce(2, 1, ATTRS, LL, [key_of("2001:db8::/32")])
    with pytest.raises(SessionError, match="not negotiated"):
        p.a.send_end_of_rib(2, 1)


def test_extended_message_needs_both_sides() -> None:
    p = established_pair(b=cfg_b(extended_message=False))
    assert p.a.context.max_len == 4096 and p.b.context.max_len == 4096
    keys = [key_of(f"10.{i >> 8}.{i & 255}.0/24") for i in range(5000)]
    n = p.a.announce(1, 1, ATTRS, LL, keys)
    assert n >= 5000 * 4 // 4096
    wire = p.a.data_to_send()
    assert max(int.from_bytes(wire[i + 16 : i + 18], "big") for i in _offsets(wire)) <= 4096
    events = p.b.receive_data(wire, 1)
    assert sum(len(e.keys) for e in routes(events)) == 5000


def _offsets(wire: bytes) -> list[int]:
    out, i = [], 0
    while i < len(wire):
        out.append(i)
        i += int.from_bytes(wire[i + 16 : i + 18], "big")
    return out


def test_extended_update_in_same_chunk_as_open() -> None:
    """The size limit changes after the OPEN; a big UPDATE right behind it is fine."""
    p = Pair()
    p.record(p.a, p.a.start(0))
    p.record(p.b, p.b.start(0))
    p.record(p.a, p.a.connection_made(0))
    p.record(p.b, p.b.connection_made(0))
    # B gets A's OPEN; A gets B's OPEN + KEEPALIVE and is established first.
    p.record(p.b, p.b.receive_data(p.a.data_to_send(), 0))
    p.record(p.a, p.a.receive_data(p.b.data_to_send(), 0))
    assert p.a.established and p.b.state is State.OPEN_CONFIRM
    keys = [key_of(f"10.{i >> 8}.{i & 255}.0/24") for i in range(3000)]
    assert p.a.announce(1, 1, ATTRS, LL, keys) == 1  # one 12 KB UPDATE
    events = p.b.receive_data(p.a.data_to_send(), 0)
    assert p.b.established
    assert sum(len(e.keys) for e in routes(events)) == 3000


def test_config_errors_are_one_line() -> None:
    with pytest.raises(SessionError, match="hold_time 2") as info:
        SessionConfig(65001, RID_A, hold_time=2)
    assert "\n" not in str(info.value)
    with pytest.raises(SessionError, match="needs four_octet_as"):
        SessionConfig(4_200_000_000, RID_A, four_octet_as=False)
    with pytest.raises(SessionError, match="router_id"):
        SessionConfig(65001, IPv4Address("0.0.0.0"))
    with pytest.raises(SessionError, match="remote_as"):
        SessionConfig(65001, RID_A, remote_as="somewhere")  # type: ignore[arg-type]


def test_events_describe_as_one_line() -> None:
    p = established_pair()
    p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    p.a.stop(now=1)
    p.pump()
    for s in (p.a, p.b):
        for e in p.events[s]:
            line = e.describe()
            assert line.startswith("event=") and "\n" not in line


def test_counters_have_stable_keys() -> None:
    p = established_pair()
    keys = set(p.a.counters.as_dict())
    assert {"bytes_received", "messages_sent", "problems", "prefixes_received",
            "notifications_sent", "established", "down", "input_overflows"} <= keys


# --------------------------------------------------------------------------- families, GR, codec failures


def _mp_reach_ll(nlri: bytes) -> bytes:
    value = b"\x00\x01\x01\x10" + IPv6Address("fe80::1").packed + b"\x00" + nlri
    return b"\x90\x0e" + len(value).to_bytes(2, "big") + value


def test_rfc7606_afi_safi_disable_ignores_the_family_afterwards() -> None:
    p = established_pair()
    bad_nlri = b"\x21\xc6\x33\x64\x01\x00"  # a /33 in IPv4 NLRI
    events = p.b.receive_data(_update(ORIGIN_IGP + AS_PATH_1 + _mp_reach_ll(bad_nlri), b""), 1)
    assert p.b.established
    (problem,) = [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert problem.kind is ev.ProblemKind.AFI_SAFI_DISABLE
    assert (problem.afi, problem.safi) == (1, 1)
    p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    events = p.b.receive_data(p.a.data_to_send(), 2)
    assert not routes(events)


def test_routes_of_a_family_not_negotiated_are_ignored_and_reported() -> None:
    p = established_pair(a=cfg_a(families=((1, 1), (2, 1))))
    assert p.a.negotiated is not None and p.a.negotiated.families == {(1, 1)}
    ctx = Context(extended_nexthop=frozenset({(1, 1, 2)}))
    v6 = BgpNextHop(IPv6Address("2001:db8::1"))
    wire = b"".join(encode_updates([Announcement(2, 1, v6, ATTRS, (key_of("2001:db8::/32"),))],
                                   ctx))
    events = p.b.receive_data(wire, 1)
    assert p.b.established
    assert not routes(events)
    (problem,) = [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert problem.kind is ev.ProblemKind.UNSUPPORTED_FAMILY


def test_ipv6_family_and_graceful_restart_negotiated() -> None:
    fams = ((1, 1), (2, 1))
    p = established_pair(a=cfg_a(families=fams, graceful_restart_time=120),
                         b=cfg_b(families=fams))
    nb = p.b.negotiated
    assert nb is not None and nb.families == set(fams)
    assert nb.graceful_restart is not None and nb.graceful_restart.restart_time == 120
    assert p.a.negotiated is not None and p.a.negotiated.graceful_restart is None
    v6 = BgpNextHop(IPv6Address("2001:db8::1"), IPv6Address("fe80::1"))
    p.a.announce(2, 1, ATTRS, v6, [key_of("2001:db8:1::/48")])
    p.a.send_end_of_rib(2, 1)
    p.pump()
    (got,) = p.of(p.b, ev.RoutesReceived)
    assert isinstance(got, ev.RoutesReceived) and (got.afi, got.safi) == (2, 1)
    assert got.nexthop == v6
    assert p.of(p.b, ev.EndOfRib) == [ev.EndOfRib(2, 1)]


def test_route_refresh_for_unknown_family_is_ignored() -> None:
    p = established_pair()
    rr = header(5, 4) + b"\x00\x02\x00\x01"
    events = p.b.receive_data(rr, 1)
    assert p.b.established
    assert not [e for e in events if isinstance(e, ev.RouteRefreshRequested)]


def test_codec_failure_becomes_a_notification(monkeypatch: pytest.MonkeyPatch) -> None:
    import v4via6.bgp.session as session_mod

    def broken(*_args: object) -> None:
        raise IndexError("index out of range")

    p = established_pair()
    p.a.announce(1, 1, ATTRS, LL, [key_of("198.51.100.0/24")])
    monkeypatch.setattr(session_mod, "decode_message", broken)
    monkeypatch.setattr(session_mod, "decode_run", broken)  # a fast-path bug too
    events = p.b.receive_data(p.a.data_to_send(), 1)
    assert notification_sent(events) == Notification(3, 0)
    assert p.b.counters.internal_errors == 1
    (down,) = [e for e in events if isinstance(e, ev.SessionDown)]
    assert "IndexError" in down.reason


def test_enhanced_route_refresh_markers() -> None:
    p = established_pair(a=cfg_a(enhanced_route_refresh=True),
                         b=cfg_b(enhanced_route_refresh=True))
    p.a.send_route_refresh(1, 1)
    p.a.send_route_refresh(1, 1, subtype=1)
    p.a.send_route_refresh(1, 1, subtype=2)
    p.pump()
    assert p.of(p.b, ev.RouteRefreshRequested) == [ev.RouteRefreshRequested(1, 1)]
    assert p.of(p.b, ev.RefreshBoundary) == [ev.RefreshBoundary(1, 1, True),
                                             ev.RefreshBoundary(1, 1, False)]
    q = established_pair()
    with pytest.raises(SessionError, match="enhanced route refresh"):
        q.a.send_route_refresh(1, 1, subtype=1)


def test_send_routes_groups_equal_attribute_objects_from_a_generator() -> None:
    from v4via6.bgp.wire import PathAttributes

    p = established_pair()

    def fresh() -> Iterator[Announcement]:
        for i in range(300):
            attrs = PathAttributes(origin=0, as_path=((2, (65001,)),))  # equal, not interned
            nh = BgpNextHop(None, IPv6Address("fe80::1"))
            yield Announcement(1, 1, nh, attrs, (key_of(f"198.51.{i % 256}.{i // 256}/32"),))

    assert p.a.send_routes(fresh()) == 1
    p.pump()
    (got,) = p.of(p.b, ev.RoutesReceived)
    assert isinstance(got, ev.RoutesReceived) and len(got.keys) == 300
    assert got.attrs == ATTRS
