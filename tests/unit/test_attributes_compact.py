"""The compact PathAttributes: the AS path as canonical bytes, extras in one shared tuple.

Equal attribute sets built in every way compare and hash equal and hold the same
canonical AS path bytes; ``as_path`` round-trips; ``contains_asn`` matches exactly
``any(asn in seg for _, seg in as_path)``; the fast path's AS_PATH check takes the
same decisions as the general decoder; and one unique plain set stays small.
"""

from __future__ import annotations

import copy
import pickle
import struct
import tracemalloc
from dataclasses import FrozenInstanceError
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v4via6.bgp.wire import Context, make_attributes
from v4via6.bgp.wire import attributes as A
from v4via6.bgp.wire.attributes import (
    AS_SEQUENCE,
    AS_SET,
    AsPath,
    AttrError,
    PathAttributes,
    decode_as_path,
    decode_attributes,
    encode_attributes,
)
from v4via6.bgp.wire.fastupdate import decode_ipv4_via_ipv6
from v4via6.daemon.export import prepend

FOUR = Context(four_octet_as=True)
TWO = Context(four_octet_as=False)
FAST = Context(four_octet_as=True, extended_nexthop=frozenset({(1, 1, 2)}))
u32 = st.integers(0, 2**32 - 1)


def block(as_path_value: bytes, origin: int = 0, med: int | None = None) -> bytes:
    # AS_PATH first: the fast decoder leaves a trailing empty attribute to the general one
    out = bytes((0x40, 2, len(as_path_value))) + as_path_value + bytes((0x40, 1, 1, origin))
    if med is not None:
        out += b"\x80\x04\x04" + med.to_bytes(4, "big")
    return out


def seg4(stype: int, *asns: int) -> bytes:
    return bytes((stype, len(asns))) + b"".join(a.to_bytes(4, "big") for a in asns)


def same(*sets: PathAttributes) -> None:
    first = sets[0]
    for other in sets[1:]:
        assert other == first and hash(other) == hash(first)
        assert other.as_path_bytes == first.as_path_bytes
        assert other.as_path == first.as_path
        assert (other.as_path_len, other.neighbor_as) == (first.as_path_len, first.neighbor_as)


def test_equal_paths_built_every_way_are_equal() -> None:
    path: AsPath = ((AS_SEQUENCE, (65010, 4200000001, 65003)), (AS_SET, (64512, 64513)))
    value = seg4(2, 65010, 4200000001, 65003) + seg4(1, 64512, 64513)
    ctor = PathAttributes(origin=0, as_path=path)
    made = make_attributes(origin=0, as_path=path)
    plain = PathAttributes.plain(0, path, None, None, b"", True)
    fast = A._decode_plain(block(value), True)
    general, verdicts = A._decode_block(block(value), FOUR)
    assert fast is not None and not verdicts
    # a two-octet session: 4200000001 travels as AS_TRANS plus AS4_PATH
    two = make_attributes(origin=0, as_path=path, four_octet_as=False)
    two_wire = encode_attributes(made, TWO)
    assert A.AS4_PATH in [code for _f, code, _s, _e in A.iter_attributes(two_wire)]
    from_two, verdicts2 = decode_attributes(two_wire, TWO)
    assert not verdicts2
    # prepend and replace
    shorter = make_attributes(origin=0, as_path=((AS_SEQUENCE, (4200000001, 65003)), path[1]))
    prepended = shorter.replace(as_path=prepend(shorter.as_path, 65010))
    same(ctor, made, plain, fast, general, two, from_two, prepended)
    assert fast.as_path_bytes == value
    assert fast.as_path == path and fast.as_path_len == 4 and fast.neighbor_as == 65010


def test_two_octet_fast_path_matches() -> None:
    value = bytes((2, 2)) + struct.pack("!HH", 65001, 65002)
    fast = A._decode_plain(block(value, med=7), False)
    assert fast is not None
    same(fast, A._decode_block(block(value, med=7), TWO)[0],
         PathAttributes(origin=0, as_path=((2, (65001, 65002)),), med=7))
    assert fast.as_path_bytes == seg4(2, 65001, 65002)


def test_fields_differing_outside_the_path_are_unequal() -> None:
    base = make_attributes(origin=0, as_path=((2, (65001,)),))
    for change in ({"med": 1}, {"local_pref": 100}, {"origin": 2}, {"communities": (1,)},
                   {"atomic_aggregate": True}, {"originator_id": IPv4Address("192.0.2.1")}):
        other = base.replace(**change)
        assert other != base and other.as_path_bytes == base.as_path_bytes
    assert base != make_attributes(origin=0, as_path=((1, (65001,)),))
    assert base != make_attributes(origin=0, as_path=((2, (65001,)), (2, (65002,))))
    assert base.__eq__(object()) is NotImplemented


def test_extras_read_as_before_and_plain_sets_share_one_tuple() -> None:
    rich = make_attributes(origin=1, as_path=((2, (65001,)),), communities=(5,),
                           large_communities=((1, 2, 3),), ext_communities=(9,),
                           originator_id=IPv4Address("192.0.2.7"),
                           cluster_list=(IPv4Address("192.0.2.8"),), atomic_aggregate=True,
                           aggregator=(65001, IPv4Address("192.0.2.9")),
                           unknown=((0xC0, 99, b"\x01"),))
    assert rich.communities == (5,) and rich.large_communities == ((1, 2, 3),)
    assert rich.ext_communities == (9,) and rich.originator_id == IPv4Address("192.0.2.7")
    assert rich.cluster_list == (IPv4Address("192.0.2.8"),) and rich.atomic_aggregate is True
    assert rich.aggregator == (65001, IPv4Address("192.0.2.9"))
    assert rich.unknown == ((0xC0, 99, b"\x01"),)
    assert rich.replace(communities=()).communities == ()
    a = PathAttributes(origin=0, as_path=((2, (1,)),))
    b = A._decode_plain(block(seg4(2, 2)), True)
    assert b is not None and a._extra is b._extra is A._NO_EXTRA
    assert (a.communities, a.unknown, a.originator_id, a.atomic_aggregate) == ((), (), None, False)


def test_frozen_repr_pickle_copy() -> None:
    attrs = make_attributes(origin=0, as_path=((2, (65001, 65002)),), med=5)
    with pytest.raises(FrozenInstanceError):
        attrs.med = 6  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del attrs.origin
    with pytest.raises(AttributeError):
        attrs.communities = (1,)  # type: ignore[misc]
    assert repr(attrs) == (
        "PathAttributes(origin=0, as_path=((2, (65001, 65002)),), med=5, local_pref=None, "
        "communities=(), large_communities=(), ext_communities=(), originator_id=None, "
        "cluster_list=(), atomic_aggregate=False, aggregator=None, unknown=(), as_path_len=2, "
        "neighbor_as=65001)")
    for clone in (pickle.loads(pickle.dumps(attrs)), copy.copy(attrs), copy.deepcopy(attrs)):
        assert clone == attrs and hash(clone) == hash(attrs) and clone.wire == attrs.wire


def test_hand_built_paths_outside_the_wire_form() -> None:
    long_seq = tuple(range(1, 301))
    for path in (((2, ()),), ((2, long_seq),), ((3, (1,)), (2, ()), (2, (5, 6))), ((7, (1,)),)):
        attrs = PathAttributes(as_path=path)
        assert attrs.as_path == path
        assert attrs.as_path_len == A.path_length(path)
    # the wire splits a long segment: a different (unequal) path, as before
    assert PathAttributes(as_path=((2, long_seq),)) != make_attributes(as_path=((2, long_seq),))
    assert make_attributes(as_path=((2, long_seq),)).as_path == ((2, long_seq[:255]),
                                                                  (2, long_seq[255:]))
    assert PathAttributes(as_path=((2, ()), (2, (5,)))).neighbor_as == 5
    for bad in (((2, (2**32,)),), ((2, (-1,)),), ((256, (1,)),)):
        with pytest.raises(ValueError):
            PathAttributes(as_path=bad)


# Segments as on the wire, and (rarely) empty or longer than 255 ASNs (hand-built only).
long_run = st.builds(lambda start, n: tuple(range(start, start + n)),
                     st.integers(0, 2**32 - 301), st.integers(250, 300))
segments = st.lists(st.tuples(st.integers(0, 255),
                              st.one_of(st.lists(u32, max_size=6).map(tuple), long_run)),
                    max_size=4).map(tuple)


@settings(max_examples=300, deadline=None)
@given(segments, segments)
def test_as_path_round_trips_and_the_bytes_are_canonical(p: AsPath, q: AsPath) -> None:
    a, b = PathAttributes(as_path=p), PathAttributes(as_path=q)
    assert a.as_path == p and b.as_path == q
    assert (a.as_path_bytes == b.as_path_bytes) == (p == q) == (a == b)
    if p == q:
        assert hash(a) == hash(b)
    neighbor = next((asns[0] for t, asns in p if t == AS_SEQUENCE and asns), None)
    assert (a.as_path_len, a.neighbor_as) == (A.path_length(p), neighbor)


@settings(max_examples=300, deadline=None)
@given(segments, u32)
def test_contains_asn_is_exactly_membership(path: AsPath, other: int) -> None:
    attrs = PathAttributes(as_path=path)
    raw = attrs.as_path_bytes
    # every 4-byte window: ASNs, and values made of a header plus ASN bytes, or of two ASNs' halves
    windows = {int.from_bytes(raw[i : i + 4], "big") for i in range(max(0, len(raw) - 3))}
    members = {a for _t, seg in attrs.as_path for a in seg}  # any(asn in seg for _, seg in as_path)
    for asn in windows | {other, -1, 2**32}:
        assert attrs.contains_asn(asn) == (asn in members), asn


def test_contains_asn_never_matches_across_a_header_or_boundary() -> None:
    attrs = PathAttributes(as_path=((2, (1,)), (2, (5,))))  # 02 01 00000001 02 01 00000005
    assert attrs.contains_asn(1) and attrs.contains_asn(5)
    for straddling in (0x00010201, 0x01020100, 0x02010000, 0x00000102, 0x0201):
        assert not attrs.contains_asn(straddling)
    one = PathAttributes(as_path=((2, (0x0000FDE8, 0x00010000)),))
    assert not one.contains_asn(0xFDE80001) and not one.contains_asn(0xE8000100)
    assert one.contains_asn(0x10000) and one.contains_asn(0xFDE8)
    assert not PathAttributes(as_path=((2, ()), (2, (7,)))).contains_asn(0)  # escaped header
    assert not PathAttributes().contains_asn(0)


# Received AS_PATH values: well-formed segments, then possibly mutated or cut.
wire_values = st.builds(
    lambda segs, cut, flips: _mutate(b"".join(bytes((t, len(s))) + b"".join(
        a.to_bytes(4, "big") for a in s) for t, s in segs), cut, flips),
    st.lists(st.tuples(st.integers(0, 5), st.lists(u32, max_size=5)), max_size=3),
    st.integers(0, 3),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 255)), max_size=2),
)


def _mutate(value: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(value[: len(value) - cut] if cut else value)  # cut short: an overrun
    for pos, byte in flips:
        if pos < len(out):
            out[pos] = byte
    return bytes(out)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(wire_values, st.binary(max_size=30)))
def test_fast_as_path_check_decides_as_the_general_decoder(value: bytes) -> None:
    scanned = A._scan_as_path4(value)
    try:
        path = decode_as_path(value, 4)
    except AttrError:
        assert scanned is None
        assert A._decode_plain(block(value), True) is None
        return
    assert scanned is not None
    neighbor = next((asns[0] for t, asns in path if t == AS_SEQUENCE), None)
    assert scanned == (A.path_length(path), neighbor)
    fast = A._decode_plain(block(value), True)
    assert fast is not None and fast.as_path_bytes == value
    same(fast, PathAttributes(origin=0, as_path=path), A._decode_block(block(value), FOUR)[0])


def _update(i: int) -> bytes:
    path = struct.pack("!BBII", 2, 2, 65010, 4200000000 + i)
    nh = bytes(16) + IPv6Address("fe80::1").packed
    mp = struct.pack("!HBB", 1, 1, 32) + nh + b"\x00" + bytes((24,)) + (0x0A000000 + (i << 8)).to_bytes(4, "big")[:3]
    attrs = block(path) + b"\x80\x0e" + bytes((len(mp),)) + mp
    body = b"\x00\x00" + struct.pack("!H", len(attrs)) + attrs
    return b"\xff" * 16 + struct.pack("!HB", 19 + len(body), 2) + body


def test_a_unique_plain_set_from_the_fast_path_is_small() -> None:
    n = 20_000  # large enough that freed tuples parked on the tuple free list (<= 2000) do not count
    raws = [_update(i) for i in range(n + 1)]
    first = decode_ipv4_via_ipv6(raws[n], FAST)  # warm the shared next hop and neighbour AS
    assert first is not None
    kept: list[PathAttributes | None] = [None] * n
    A._INTERN.clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            got = decode_ipv4_via_ipv6(raws[i], FAST)
            assert got is not None
            kept[i] = got[0]
        del got
        A._INTERN.clear()  # the intern table is bounded and not part of one set
        per_set = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert len({id(k) for k in kept}) == n
    assert per_set < 250, per_set  # object + canonical AS path + wire bytes (was about 470)
