"""Hypothesis: every message type round-trips (object -> bytes -> object -> same bytes),
packing loses no prefix, and random or mutated bytes only ever raise WireError."""

from __future__ import annotations

import contextlib
from ipaddress import IPv4Address, IPv6Address

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v4via6.bgp.explain import explain
from v4via6.bgp.wire import (
    Announcement,
    BgpNextHop,
    Capability,
    Context,
    Keepalive,
    Notification,
    Open,
    PathAttributes,
    RouteRefresh,
    Update,
    WireError,
    decode_message,
    encode,
    encode_updates,
    make_attributes,
)
from v4via6.bgp.wire.framing import header
from v4via6.bgp.wire.mp import MpReach, MpUnreach

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
CTX = Context(extended_nexthop=frozenset({(1, 1, 2)}))
u32 = st.integers(0, 2**32 - 1)


def prefix_keys(bits: int) -> st.SearchStrategy[int]:
    def make(plen: int, addr: int) -> int:
        mask = ((1 << bits) - 1) ^ ((1 << (bits - plen)) - 1)
        return ((addr & mask) << 8) | plen

    return st.builds(make, st.integers(0, bits), st.integers(0, 2**bits - 1))


keys4 = st.lists(prefix_keys(32), max_size=40).map(tuple)
keys6 = st.lists(prefix_keys(128), max_size=20).map(tuple)
segments = st.lists(st.tuples(st.integers(1, 4), st.lists(u32, min_size=1, max_size=8)
                              .map(tuple)), max_size=4).map(tuple)
v4addr = st.builds(IPv4Address, u32)
unicast6 = st.builds(lambda x: IPv6Address((0x2001_0DB8 << 96) | x), st.integers(1, 2**96 - 1))
linklocal = st.builds(lambda x: IPv6Address((0xFE80 << 112) | x), st.integers(1, 2**64 - 1))


@st.composite
def path_attributes(draw: st.DrawFn) -> PathAttributes:
    opt = st.none
    return make_attributes(
        origin=draw(st.integers(0, 2)),
        as_path=draw(segments),
        med=draw(opt() | u32),
        local_pref=draw(opt() | u32),
        communities=tuple(draw(st.lists(u32, max_size=5))),
        large_communities=tuple(draw(st.lists(st.tuples(u32, u32, u32), max_size=3))),
        ext_communities=tuple(draw(st.lists(st.integers(0, 2**64 - 1), max_size=3))),
        originator_id=draw(opt() | v4addr),
        cluster_list=tuple(draw(st.lists(v4addr, max_size=3))),
        atomic_aggregate=draw(st.booleans()),
        aggregator=draw(opt() | st.tuples(u32, v4addr)),
        unknown=tuple(draw(st.lists(st.tuples(st.sampled_from([0x80, 0xC0, 0xE0]),
                                              st.integers(100, 120), st.binary(max_size=8)),
                                    max_size=2, unique_by=lambda t: t[1]))),
    )


nexthops6 = st.one_of(
    st.builds(BgpNextHop, unicast6),
    st.builds(BgpNextHop, unicast6, linklocal),
    st.builds(lambda ll: BgpNextHop(None, ll), linklocal),
)


@st.composite
def updates(draw: st.DrawFn) -> Update:
    attrs = draw(path_attributes())
    kind = draw(st.sampled_from(["classic", "mp4", "mp6", "withdraw"]))
    withdrawn = draw(keys4)
    unreach = draw(st.none() | st.builds(MpUnreach, st.sampled_from([1, 2]), st.just(1)))
    if kind == "classic":
        return Update(withdrawn, attrs, draw(keys4.filter(bool)), draw(v4addr),
                      mp_unreach=unreach)
    if kind == "withdraw":
        return Update(withdrawn, None, mp_unreach=unreach)
    afi = 1 if kind == "mp4" else 2
    nh = draw(nexthops6 | st.builds(BgpNextHop, v4addr)) if afi == 1 else draw(nexthops6)
    keys = draw(keys4 if afi == 1 else keys6)
    return Update(withdrawn, attrs, mp_reach=MpReach(afi, 1, nh, keys), mp_unreach=unreach)


capabilities = st.lists(st.builds(Capability, st.integers(0, 255), st.binary(max_size=12)),
                        max_size=12).map(tuple)
opens = st.builds(Open, st.integers(0, 65535), st.integers(0, 65535), v4addr, capabilities)
notifications = st.builds(Notification, st.integers(0, 255), st.integers(0, 255),
                          st.binary(max_size=64))
refreshes = st.builds(RouteRefresh, st.integers(0, 65535), st.integers(0, 255),
                      st.integers(0, 255))
messages = st.one_of(opens, notifications, refreshes, st.just(Keepalive()), updates())


@SETTINGS
@given(messages)
def test_every_message_type_roundtrips(msg: Open | Update | Notification | RouteRefresh
                                       | Keepalive) -> None:
    data = encode(msg, CTX)
    back = decode_message(data, CTX)
    assert type(back) is type(msg)
    assert encode(back, CTX) == data
    if isinstance(msg, Update):
        assert isinstance(back, Update)
        assert not back.verdicts
        assert back.withdrawn == msg.withdrawn and back.nlri == msg.nlri
        assert back.attrs == msg.attrs
        assert back.next_hop == msg.next_hop
        if msg.mp_reach is not None:
            assert back.mp_reach is not None
            assert back.mp_reach.keys == msg.mp_reach.keys
            assert back.mp_reach.next_hop == msg.mp_reach.next_hop
        assert back.mp_unreach == msg.mp_unreach
    elif isinstance(msg, Open):
        assert isinstance(back, Open)
        assert back.capabilities == msg.capabilities
        assert (back.my_as, back.hold_time, back.bgp_id) == (msg.my_as, msg.hold_time,
                                                            msg.bgp_id)
    else:
        assert back == msg


@SETTINGS
@given(path_attributes(), st.sets(prefix_keys(32), max_size=3000), nexthops6,
       st.sampled_from([4096, 65535]))
def test_packing_loses_nothing(attrs: PathAttributes, keys: set[int], nh: BgpNextHop,
                               max_len: int) -> None:
    ctx = Context(extended_nexthop=frozenset({(1, 1, 2)}), extended_message=max_len > 4096)
    ordered = tuple(sorted(keys))
    msgs = encode_updates([Announcement(1, 1, nh, attrs, ordered)], ctx)
    got: list[int] = []
    for m in msgs:
        assert len(m) <= max_len
        u = decode_message(m, ctx)
        assert isinstance(u, Update) and not u.verdicts
        for a in u.announcements():
            assert a.attrs == attrs and a.next_hop == nh
            got.extend(a.keys)
    assert tuple(got) == ordered


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200))
def test_random_update_bodies_only_raise_wire_error(body: bytes) -> None:
    data = header(2, len(body)) + body
    with contextlib.suppress(WireError):
        decode_message(data, CTX)
    assert explain(data, CTX)["type"] == "UPDATE"  # the decoder CLI never fails either


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.lists(st.tuples(st.integers(19, 10_000), st.integers(0, 255)),
                          min_size=1, max_size=4))
def test_mutated_messages_only_raise_wire_error(msg: Open | Update | Notification
                                                | RouteRefresh | Keepalive,
                                                flips: list[tuple[int, int]]) -> None:
    data = bytearray(encode(msg, CTX))
    for pos, value in flips:
        if pos < len(data):
            data[pos] = value
    with contextlib.suppress(WireError):
        decode_message(bytes(data), CTX)
    explain(bytes(data), CTX)
