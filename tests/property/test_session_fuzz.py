"""Bounded fuzz of ``Session.receive_data`` on an Established session.

Random bytes, random bodies behind a valid header, and mutated valid UPDATEs
(flipped bytes, cut or stretched length fields, truncation, junk appended).
Whatever arrives, ``receive_data`` returns events and never raises; a session
that leaves Established has sent a NOTIFICATION, reported SessionDown and asked
for the connection to be closed; what it sends parses as BGP messages; and the
codec never fails in an unclassified way (``internal_errors`` stays 0).
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v4via6.bgp import events as ev
from v4via6.bgp.fsm import State
from v4via6.bgp.session import Session, SessionConfig
from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Withdrawal,
    encode_updates,
    encode_withdrawals,
    end_of_rib,
    key_of,
    make_attributes,
    split_messages,
)
from v4via6.bgp.wire.framing import header

#: CI runs a few hundred examples per test; set V4VIA6_FUZZ_EXAMPLES for a longer run.
FUZZ = settings(max_examples=int(os.environ.get("V4VIA6_FUZZ_EXAMPLES", "250")), deadline=2000,
                suppress_health_check=[HealthCheck.too_slow])

CFG_A = SessionConfig(65001, IPv4Address("192.0.2.1"), 65002,
                      families=((1, 1), (2, 1)))
CFG_B = SessionConfig(65002, IPv4Address("192.0.2.2"), 65001, passive=True,
                      families=((1, 1), (2, 1)))


def established() -> tuple[Session, Session]:
    a, b = Session(CFG_A), Session(CFG_B)
    a.start(0)
    b.start(0)
    a.connection_made(0)
    b.connection_made(0)
    for _ in range(4):
        b.receive_data(a.data_to_send(), 0)
        a.receive_data(b.data_to_send(), 0)
    assert a.established and b.established
    return a, b


def _seeds() -> list[bytes]:
    a, _ = established()
    ctx = a.context
    ll = BgpNextHop(None, IPv6Address("fe80::1"))
    both = BgpNextHop(IPv6Address("2001:db8::1"), IPv6Address("fe80::2"))
    v4 = BgpNextHop(IPv4Address("192.0.2.1"))
    rich = make_attributes(origin=2, as_path=((2, (65001, 65010)), (1, (64512, 64513))),
                           med=10, local_pref=100, communities=(0xFDE90001,),
                           large_communities=((65001, 1, 2),), atomic_aggregate=True,
                           aggregator=(65001, IPv4Address("192.0.2.1")),
                           unknown=((0xC0, 99, b"\x01\x02\x03"),))
    plain = make_attributes(origin=0, as_path=((2, (65001,)),))
    k4 = [key_of("198.51.100.0/24"), key_of("203.0.113.128/25"), key_of("192.0.2.1/32"),
          key_of("0.0.0.0/0")]
    k6 = [key_of("2001:db8::/32"), key_of("2001:db8:1::/48")]
    seeds: list[bytes] = []
    seeds += encode_updates([Announcement(1, 1, ll, rich, tuple(k4))], ctx)
    seeds += encode_updates([Announcement(1, 1, both, plain, tuple(k4[:2]))], ctx)
    seeds += encode_updates([Announcement(1, 1, v4, rich, tuple(k4))], ctx)
    seeds += encode_updates([Announcement(2, 1, both, plain, tuple(k6))], ctx)
    seeds += encode_withdrawals(Withdrawal(1, 1, tuple(k4)), ctx)
    seeds += encode_withdrawals(Withdrawal(2, 1, tuple(k6)), ctx)
    seeds += [end_of_rib(1, 1), end_of_rib(2, 1)]
    return seeds


SEEDS = _seeds()


@st.composite
def mutated_update(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "grow", "len16", "len8"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[pos:]
        elif kind == "grow":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "len16" and pos + 1 < len(data):
            data[pos : pos + 2] = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big")
        else:
            data[pos] = draw(st.sampled_from([0, 1, 2, 3, 4, 16, 32, 255]))
    if draw(st.booleans()) and len(data) >= 19:
        body = bytes(data[19:])
        data = bytearray(header(data[18], len(body)) + body)  # keep framing consistent
    return bytes(data)


@st.composite
def framed_junk(draw: st.DrawFn) -> bytes:
    mtype = draw(st.integers(1, 5) | st.integers(0, 255))
    body = draw(st.binary(max_size=300))
    return header(mtype, len(body)) + body


def check(b: Session, data_parts: list[bytes]) -> None:
    events: list[ev.Event] = []
    for part in data_parts:
        events += b.receive_data(part, 1.0)  # must not raise
    assert all(isinstance(e, ev.Event) for e in events)
    out = b.data_to_send()
    messages, used = split_messages(out, 65535)
    assert used == len(out)
    assert b.counters.internal_errors == 0, [e for e in events if isinstance(e, ev.SessionDown)]
    if b.state is not State.ESTABLISHED:
        downs = [e for e in events if isinstance(e, ev.SessionDown)]
        assert len(downs) == 1 and downs[0].was_established
        down = downs[0]
        assert down.notification_sent is not None or down.notification_received is not None
        if down.notification_sent is not None:
            assert messages and messages[-1][0] == 3  # a NOTIFICATION went out last
        assert any(isinstance(e, ev.DisconnectRequested) for e in events)
    for e in ev.expand_runs(events):
        if isinstance(e, ev.RoutesReceived | ev.RoutesWithdrawn):
            assert (e.afi, e.safi) in {(1, 1), (2, 1)}
            assert all(isinstance(k, int) and k >= 0 for k in e.keys)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    _, b = established()
    check(b, [data])


@FUZZ
@given(st.lists(framed_junk(), min_size=1, max_size=4))
def test_random_bodies_behind_valid_headers(parts: list[bytes]) -> None:
    _, b = established()
    check(b, [b"".join(parts)])


@FUZZ
@given(st.lists(mutated_update(), min_size=1, max_size=5), st.integers(1, 64))
def test_mutated_updates(parts: list[bytes], chunk: int) -> None:
    _, b = established()
    stream = b"".join(parts)
    check(b, [stream[i : i + chunk] for i in range(0, len(stream), chunk)])


def test_seeds_are_accepted_unmutated() -> None:
    _, b = established()
    events = b.receive_data(b"".join(SEEDS), 1.0)
    assert b.established
    assert not [e for e in events if isinstance(e, ev.UpdateProblem)]
    assert len([e for e in events if isinstance(e, ev.EndOfRib)]) == 2
