"""Hypothesis: the UPDATE fast path (``decode_ipv4_via_ipv6``) never disagrees with the
general decoder. Whenever it answers, the general path yields exactly one IPv4
announcement with the same (interned) attributes, next hop and keys, and nothing
else (no withdrawal, no RFC 7606 finding); on anything else it declines (None)
and never raises. ``decode_ipv4_via_ipv6`` is the run decoder (``decode_run``, a
read's UPDATEs in one loop) on one message; over several messages the run decoder
answers for each as it does alone, with one attribute object per block, and stops
at the first one that declines."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_wire_roundtrip import CTX, messages, nexthops6, path_attributes, prefix_keys

from v4via6.bgp.wire import (
    BgpNextHop,
    PathAttributes,
    Update,
    WireError,
    attributes,
    decode_message,
    encode,
    fastupdate,
)
from v4via6.bgp.wire.attributes import _decode_block, _decode_plain
from v4via6.bgp.wire.context import Context
from v4via6.bgp.wire.fastupdate import decode_ipv4_via_ipv6, decode_run, fast_path_usable
from v4via6.bgp.wire.mp import MpReach
from v4via6.bgp.wire.prefixes import encode_prefixes

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TWO_OCTET = Context(four_octet_as=False, extended_nexthop=frozenset({(1, 1, 2)}))


def general(raw: bytes, ctx: Context) -> tuple[PathAttributes, BgpNextHop, tuple[int, ...]] | None:
    """What the general decoder makes of ``raw``, in the fast path's terms (None if it differs)."""
    try:
        msg = decode_message(raw, ctx)
    except WireError:
        return None
    assert isinstance(msg, Update)
    if msg.verdicts or msg.withdrawals():
        return None
    anns = msg.announcements()
    if len(anns) != 1 or anns[0].afi != 1 or anns[0].safi != 1 or anns[0].path_ids is not None:
        return None
    a = anns[0]
    return a.attrs, a.next_hop, a.keys


def check(raw: bytes, ctx: Context = CTX) -> None:
    assert fast_path_usable(ctx)
    fast = decode_ipv4_via_ipv6(raw, ctx)
    if fast is None:
        return
    slow = general(raw, ctx)
    assert slow is not None, "the fast path accepted what the general path rejects or reports"
    assert fast[0] == slow[0] and fast[0] is slow[0]  # same interned object
    assert fast[0].wire == slow[0].wire and fast[0].as_path_len == slow[0].as_path_len
    assert fast[1] == slow[1]
    assert fast[2] == slow[2]


def check_run(raw: bytes, ctx: Context = CTX) -> None:
    """``decode_run`` over two copies of a whole UPDATE and a cut-off third agrees with
    ``decode_ipv4_via_ipv6``, both when the attribute set is new and when it is known."""
    if raw[:16] != b"\xff" * 16 or raw[18] != 2 or int.from_bytes(raw[16:18], "big") != len(raw):
        return  # not one whole UPDATE: the caller checks headers before either decoder
    if len(raw) > ctx.max_len:
        return
    expected = decode_ipv4_via_ipv6(raw, ctx)
    for known in (False, True, True):  # the second pass finds the next hop cached as well
        if not known:
            attributes._INTERN.clear()
        out: list[tuple[tuple[int, ...], PathAttributes, BgpNextHop]] = []
        stop, count = decode_run(raw + raw + raw[:23], 0, ctx, ctx.max_len, out)
        if expected is None:
            assert (stop, count, out) == (0, 0, [])
            continue
        assert stop == 2 * len(raw) and len(out) == 2 and count == 2 * len(expected[2])
        assert out[0][1] is out[1][1]  # one object per attribute block
        for keys, attrs, nh in out:
            assert keys == expected[2] and nh == expected[1]
            assert attrs == expected[0] and hash(attrs) == hash(expected[0])
            assert attrs.wire == expected[0].wire and attrs.wire_as4 == expected[0].wire_as4
            assert (attrs.as_path_len, attrs.neighbor_as) == (expected[0].as_path_len, expected[0].neighbor_as)
            assert attrs.as_path == expected[0].as_path


@SETTINGS
@given(path_attributes(), st.lists(prefix_keys(32), min_size=1, max_size=40, unique=True), nexthops6)
def test_valid_ipv4_via_ipv6_updates_take_the_fast_path(attrs: PathAttributes, keys: list[int],
                                                        nh: BgpNextHop) -> None:
    raw = encode(Update(attrs=attrs, mp_reach=MpReach(1, 1, nh, tuple(keys))), CTX)
    check(raw)
    check_run(raw)
    simple = not (attrs.communities or attrs.large_communities or attrs.ext_communities
                  or attrs.originator_id or attrs.cluster_list or attrs.atomic_aggregate
                  or attrs.aggregator or attrs.unknown)
    if simple and attrs.as_path and all(len(asns) <= 255 for _t, asns in attrs.as_path):
        assert decode_ipv4_via_ipv6(raw, CTX) is not None  # the common shape really is fast


@SETTINGS
@given(messages)
def test_any_message_fast_path_agrees(msg: object) -> None:
    raw = encode(msg, CTX)  # type: ignore[arg-type]
    if raw[18] == 2:
        check(raw)
        check(raw, TWO_OCTET)
        check_run(raw)
        check_run(raw, TWO_OCTET)


@SETTINGS
@given(path_attributes(), st.lists(prefix_keys(32), min_size=1, max_size=4, unique=True), nexthops6,
       st.lists(st.tuples(st.integers(19, 400), st.integers(0, 255)), min_size=1, max_size=4))
def test_mutated_updates_fast_path_agrees(attrs: PathAttributes, keys: list[int], nh: BgpNextHop,
                                          flips: list[tuple[int, int]]) -> None:
    raw = bytearray(encode(Update(attrs=attrs, mp_reach=MpReach(1, 1, nh, tuple(keys))), CTX))
    for pos, value in flips:
        if pos < len(raw):
            raw[pos] = value
    check(bytes(raw))
    check(bytes(raw), TWO_OCTET)
    check_run(bytes(raw))
    check_run(bytes(raw), TWO_OCTET)


@SETTINGS
@given(st.binary(max_size=60))
def test_plain_block_decoder_matches_the_general_one(block: bytes) -> None:
    for four in (True, False):
        plain = _decode_plain(block, four)
        if plain is None:
            continue
        general_attrs, verdicts = _decode_block(block, Context(four_octet_as=four))
        assert not verdicts
        assert plain == general_attrs and hash(plain) == hash(general_attrs)
        assert plain.wire == general_attrs.wire and plain.neighbor_as == general_attrs.neighbor_as


def test_fast_path_declines_what_it_does_not_cover() -> None:
    attrs = b"\x40\x01\x01\x00" + b"\x40\x02\x06\x02\x01" + struct.pack("!I", 65010)
    mp = struct.pack("!HBB", 1, 1, 16) + bytes.fromhex("fe800000000000000000000000000001") + b"\x00"
    nlri = encode_prefixes([(0xC6336400 << 8) | 24], 1)

    def update(body_attrs: bytes, withdrawn: bytes = b"", tail: bytes = b"") -> bytes:
        body = (struct.pack("!H", len(withdrawn)) + withdrawn + struct.pack("!H", len(body_attrs))
                + body_attrs + tail)
        return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body

    def mp_attr(value: bytes) -> bytes:
        return b"\x80\x0e" + bytes((len(value),)) + value

    ok = update(attrs + mp_attr(mp + nlri))
    assert decode_ipv4_via_ipv6(ok, CTX) is not None
    check(ok)
    declined = {
        "withdrawn routes": update(attrs + mp_attr(mp + nlri), withdrawn=nlri),
        "classic NLRI": update(attrs + mp_attr(mp + nlri), tail=nlri),
        "no prefixes (End-of-RIB-like)": update(attrs + mp_attr(mp)),
        "no ORIGIN": update(attrs[4:] + mp_attr(mp + nlri)),
        "ORIGIN twice": update(attrs[:4] + attrs + mp_attr(mp + nlri)),
        "unknown attribute": update(attrs + b"\xc0\x63\x01\x00" + mp_attr(mp + nlri)),
        "IPv6 NLRI": update(attrs + mp_attr(struct.pack("!HBB", 2, 1, 16) + mp[4:] + nlri)),
        "4-byte next hop": update(attrs + mp_attr(struct.pack("!HBB", 1, 1, 4) + bytes(4) + b"\x00" + nlri)),
        "bad ORIGIN value": update(b"\x40\x01\x01\x07" + attrs[4:] + mp_attr(mp + nlri)),
        "MP flags": update(attrs + b"\x40\x0e" + bytes((len(mp + nlri),)) + mp + nlri),
    }
    check_run(ok)
    for what, raw in declined.items():
        assert decode_ipv4_via_ipv6(raw, CTX) is None, what
        check(raw)
        check_run(raw)
    assert not fast_path_usable(Context())  # no extended next hop negotiated
    assert not fast_path_usable(Context(extended_nexthop=frozenset({(1, 1, 2)}),
                                        add_path_rx=frozenset({(1, 1)})))


def _one_prefix_update(attrs: bytes, nh: bytes, key: int, mp_first: bool) -> bytes:
    mp = struct.pack("!HBB", 1, 1, len(nh)) + nh + b"\x00" + encode_prefixes([key], 1)
    mp_attr = (b"\x90\x0e" + struct.pack("!H", len(mp)) if mp_first else b"\x80\x0e" + bytes((len(mp),))) + mp
    body_attrs = mp_attr + attrs if mp_first else attrs + mp_attr
    body = struct.pack("!H", 0) + struct.pack("!H", len(body_attrs)) + body_attrs
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


def _simple_attrs(origin: int, asns: list[int], med: int | None, local_pref: int | None) -> bytes:
    out = b"\x40\x01\x01" + bytes((origin,))
    out += b"\x40\x02" + bytes((2 + 4 * len(asns), 2, len(asns))) + b"".join(struct.pack("!I", a) for a in asns)
    if med is not None:
        out += b"\x80\x04\x04" + struct.pack("!I", med)
    if local_pref is not None:
        out += b"\x40\x05\x04" + struct.pack("!I", local_pref)
    return out


@SETTINGS
@given(st.integers(0, 2), st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4),
       st.none() | st.integers(0, 2**32 - 1), st.none() | st.integers(0, 2**32 - 1), st.booleans(),
       st.lists(prefix_keys(32), min_size=2, max_size=6, unique=True), nexthops6,
       st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=3))
def test_known_layout_agrees_with_the_general_decoder(origin: int, asns: list[int], med: int | None,
                                                       local_pref: int | None, mp_first: bool, keys: list[int],
                                                       nh: BgpNextHop, flips: list[tuple[int, int]]) -> None:
    """Once a one-prefix UPDATE's layout is known, messages of the same length are checked
    against it instead of walked: other prefixes, AS numbers, MED/LOCAL_PREF values and
    ORIGIN values (also invalid ones), and any byte changed anywhere, decode exactly as
    the general decoder says (or decline), and the next hop is the known one."""
    raw_nh = encode(Update(attrs=PathAttributes(), mp_reach=MpReach(1, 1, nh, (keys[0],))), CTX)
    first = _one_prefix_update(_simple_attrs(origin, asns, med, local_pref), _mp_nexthop(raw_nh), keys[0], mp_first)
    assert decode_ipv4_via_ipv6(first, CTX) is not None
    fastupdate._LAYOUTS.clear()
    assert decode_run(first + first, 0, CTX, CTX.max_len, []) == (2 * len(first), 2)
    assert len(first) in fastupdate._LAYOUTS  # made by the walk (a prefix followed by 4 bytes)
    for n, key in enumerate(keys[1:]):
        other = _one_prefix_update(_simple_attrs((origin + n) % 4, [a ^ (n + 1) for a in asns],
                                                 None if med is None else med ^ n,
                                                 None if local_pref is None else local_pref ^ (n + 1)),
                                   _mp_nexthop(raw_nh), key, mp_first)
        variants = [other]
        for pos, value in flips:
            if pos < len(other):
                variants.append(other[:pos] + bytes((value,)) + other[pos + 1:])
        for raw in variants:
            check(raw)
            check_run(raw)
            decode_run(first + first, 0, CTX, CTX.max_len, [])  # the layout again, for the next variant


def _mp_nexthop(raw_update: bytes) -> bytes:
    """The next-hop bytes of an encoded UPDATE's MP_REACH_NLRI."""
    msg = decode_message(raw_update, CTX)
    assert isinstance(msg, Update) and msg.mp_reach is not None
    at = raw_update.index(b"\x00\x01\x01", 23)  # AFI 1, SAFI 1
    return raw_update[at + 4 : at + 4 + raw_update[at + 3]]


def test_a_known_layout_skips_the_walk(monkeypatch: Any) -> None:
    """A stream of one-prefix UPDATEs with one layout is walked once per message length."""
    made: list[int] = []
    real = fastupdate._layout

    def counting(data: bytes, i: int, end: int, nh: BgpNextHop, runs: tuple[int, int, int, int]) -> Any:
        made.append(end - i)
        return real(data, i, end, nh, runs)

    monkeypatch.setattr(fastupdate, "_layout", counting)
    fastupdate._LAYOUTS.clear()
    nh = bytes.fromhex("fe800000000000000000000000000001")
    msgs = [_one_prefix_update(_simple_attrs(i % 3, [65001, 4200000000 + i], None, None), nh,
                               ((0xC6336400 + (i << 8)) << 8) | 24, True) for i in range(50)]
    out: list[tuple[tuple[int, ...], PathAttributes, BgpNextHop]] = []
    stop, count = decode_run(b"".join(msgs), 0, CTX, CTX.max_len, out)
    assert (stop, count) == (sum(map(len, msgs)), 50)
    assert made == [len(msgs[0])]
    for raw, (keys, attrs, hop) in zip(msgs, out, strict=True):
        assert general(raw, CTX) == (attrs, hop, keys)
